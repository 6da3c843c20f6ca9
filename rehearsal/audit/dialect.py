"""How the audit speaks as one provider: its events, its signature scheme, its answer
time limit, and its go-live checklist. One module per provider (`dialects/<name>.py`, with
a `DIALECT`), found by name as the simulator finds its dialects: adding a provider edits
no other's. The signing reuses the adapters' own code (the audit plays the provider, as the
adapters verify as the merchant); nothing here imports the simulator.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Protocol

from rehearsal.audit.checklist import Item
from rehearsal.errors import UsageError

Payload = dict[str, Any]


class AuditDialect(Protocol):
    provider: str
    limit: float  # seconds the provider waits for an answer, from its seed
    limit_item: str  # the checklist item that states it
    known_type: str  # an event type the provider sends, in its own name
    unknown_type: str  # a type no handler knows
    items: tuple[Item, ...]
    probe_items: dict[str, str]  # probe id -> the checklist item it checks

    def event(self, event_type: str, event_id: str, environment: str, at: int) -> Payload:
        """A probe event as the provider would send it (no money behind it)."""
        ...

    def tamper(self, payload: Payload) -> Payload:
        """The same event with its amount changed: what an attacker would send."""
        ...

    def body(self, payload: Payload) -> bytes:
        """The bytes the provider sends."""
        ...

    def sign(self, secret: str, body: bytes, environment: str, at: int) -> dict[str, str]:
        """The headers the provider sends with `body` for an endpoint of that mode."""
        ...

    def sign_other_slot(
        self, secret: str, body: bytes, environment: str, at: int
    ) -> dict[str, str] | None:
        """A genuine signature put in the other mode's slot, where the scheme has one."""
        ...


# A name to the module that declares the audit as that provider, imported when used.
DIALECTS = {
    "mintcash": "rehearsal.audit.dialects.mintcash",
    "paymongo": "rehearsal.audit.dialects.paymongo",
}


def dialect_of(provider: str) -> AuditDialect:
    from rehearsal import providers

    providers.require(provider)
    if provider not in DIALECTS:
        raise UsageError(
            f"the audit does not speak {provider}'s webhooks yet",
            hint="rehearsal/audit/dialects/<provider>.py declares a provider's probes",
        )
    dialect: AuditDialect = import_module(DIALECTS[provider]).DIALECT
    return dialect


def item(dialect: AuditDialect, item_id: str) -> Item:
    return next(i for i in dialect.items if i.id == item_id)
