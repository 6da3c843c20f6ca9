"""The provider interface every adapter implements, and the normalized values it returns.

The runner only speaks this: create a payment, refund it, subscribe, cancel, retrieve an
object for the API cross-check, advance the clock where the provider can, and turn a
signed webhook into a NormalizedEvent. Adding a provider adds a module; it edits no other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, runtime_checkable

from rehearsal.errors import ProviderError

Environment = Literal["test", "live"]
ObjectKind = Literal["payment", "refund", "subscription"]
KeyedKind = Literal["payment", "refund", "subscription"]  # made by a call with a key


@dataclass(frozen=True)
class ApiCall:
    """One HTTP exchange with the provider, as the reports show it (never a header value)."""

    method: str
    path: str
    status: int | None
    request_id: str | None
    duration_ms: float
    idempotent_replay: bool = False


@dataclass(frozen=True)
class ProviderObject:
    kind: ObjectKind
    id: str
    status: str
    amount: int
    currency: str
    environment: str
    amount_refunded: int = 0
    # The part of amount_refunded still on its way (a refund `pending` at the provider):
    # accepted and not cancellable, but not yet back on the card, and it may still fail.
    amount_refund_pending: int = 0
    payment_id: str | None = None  # a refund's payment; a subscription's latest payment
    refund_ids: tuple[str, ...] = ()
    # (refund id, status) of each refund, where the payment lists its refunds' statuses
    # (PayMongo: pending, processing, succeeded, failed); empty where it lists ids only.
    refund_statuses: tuple[tuple[str, str], ...] = ()
    renewals: int = 0
    failure_code: str | None = None
    card_brand: str | None = None  # brand and last four digits: all a report shows of a card
    card_last4: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class NormalizedEvent:
    event_id: str
    type: str  # the rehearsal's name for the transition, e.g. payment.succeeded
    provider_type: str  # the provider's own name for it
    environment: str
    object: ProviderObject | None  # None for event types the rehearsal does not use
    created_at: float
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False)


class MalformedEvent(ValueError):
    """A correctly signed body that is not the event shape the contract promises."""


class KeyLookupUnsupported(Exception):
    """The provider cannot say what a call with a given idempotency key created."""


class FeatureUnavailable(ProviderError):
    """The provider refuses this in this mode or on this account, as it documents (PayMongo:
    refunds of test-mode payments; subscriptions before PayMongo enables them). A plan may
    expect it; otherwise it is a provider error like any other."""


# How a page a cardholder must open (3-D Secure) is shown: (url, what waits for it).
Authorize = Callable[[str, str], None]


class ProviderObserver(Protocol):
    """Told by an adapter, from the moment it is built, of what it does on a run's behalf:
    `sending` before each attempt goes out (method and route: it bounds when a lost call can
    land), `called` for every exchange (method, route, status, request id, time), `made`
    when a flow makes an object before it finishes (PayMongo's subscription awaiting its
    first invoice's authentication), and `returned` for each object an answer hands back
    (what a matrix's router claims for the run). Given to `providers.make`, never assigned."""

    def sending(self, method: str, route: str) -> None: ...

    def called(self, call: ApiCall) -> None: ...

    def made(self, obj: ProviderObject) -> None: ...

    def returned(self, obj: ProviderObject) -> None: ...


@dataclass(frozen=True)
class Callbacks:
    """A ProviderObserver from plain functions, each optional (a test, a one-off call)."""

    on_send: Callable[[str, str], None] | None = None
    on_call: Callable[[ApiCall], None] | None = None
    on_made: Callable[[ProviderObject], None] | None = None
    on_returned: Callable[[ProviderObject], None] | None = None

    def sending(self, method: str, route: str) -> None:
        if self.on_send is not None:
            self.on_send(method, route)

    def called(self, call: ApiCall) -> None:
        if self.on_call is not None:
            self.on_call(call)

    def made(self, obj: ProviderObject) -> None:
        if self.on_made is not None:
            self.on_made(obj)

    def returned(self, obj: ProviderObject) -> None:
        if self.on_returned is not None:
            self.on_returned(obj)


class Observed(Protocol):
    observer: ProviderObserver | None


_Adapter = TypeVar("_Adapter", bound=Observed)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def reports_objects(
    method: Callable[Concatenate[_Adapter, _P], _R],
) -> Callable[Concatenate[_Adapter, _P], _R]:
    """An adapter call whose answer names objects (one, or a list): each ProviderObject in
    it is reported to the adapter's observer (`returned`) before the caller sees it. On
    create_payment, subscribe, refund, retrieve, subscription_payments and
    find_by_idempotency_key (how settling finds a call whose answer was lost: its object is
    the run's too)."""

    @functools.wraps(method)
    def call(self: _Adapter, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        result = method(self, *args, **kwargs)
        observer = self.observer
        if observer is not None:
            for obj in result if isinstance(result, list | tuple) else [result]:
                if isinstance(obj, ProviderObject):
                    observer.returned(obj)
        return result

    return call


class ObjectGone(ProviderError):
    """The provider no longer has an object the ledger knows it made: deleted with what held
    it (Stripe deletes a test clock's customers and their subscriptions with the clock).
    Nothing more can be charged through it; what it charged before is as the ledger last
    observed it, since the provider can no longer list it."""


class Provider(Protocol):
    name: str
    environment: Environment
    can_advance_clock: bool
    # Seconds an idempotency key keeps replaying the original answer (None: as long as the
    # provider keeps the object). Past it, re-sending a key whose answer was lost could
    # charge twice, so the runner refuses to.
    idempotency_window: float | None
    # True where a payment needs an operator at a browser (PayMongo live: 3-D Secure on
    # every card payment); such a run is refused without a terminal, before any call.
    needs_operator: bool

    def resolve_card(self, card: str) -> str:
        """A plan's card (a test-card name, or a token already resolved from env) to send."""
        ...

    def create_payment(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        description: str | None = None,
    ) -> ProviderObject: ...

    def refund(
        self,
        *,
        idempotency_key: str,
        payment_id: str,
        amount: int | None,
        reason: str | None = None,
    ) -> ProviderObject: ...

    def subscribe(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        interval: str,
    ) -> ProviderObject: ...

    def cancel(self, *, subscription_id: str, reason: str | None = None) -> ProviderObject: ...

    def retrieve(self, kind: ObjectKind, object_id: str) -> ProviderObject: ...

    def subscription_payments(self, subscription_id: str) -> list[ProviderObject]:
        """The payments a subscription made (first period, renewals), for cleanup."""
        ...

    def find_by_idempotency_key(self, kind: KeyedKind, key: str) -> ProviderObject | None:
        """What a creating call sent with `key` made, or None if no such call landed.
        Raises KeyLookupUnsupported where the provider offers no such lookup."""
        ...

    def advance_clock(self, subscription_id: str, *, idempotency_key: str) -> bool:
        """Move the provider's test clock to the subscription's next renewal; False if it can't.
        The advance charges a renewal, so it carries an idempotency key like every call that
        moves money: the same key renews once however often the call is retried."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> NormalizedEvent:
        """Verify the raw body's signature first, then parse; raises SignatureError."""
        ...

    def parse_event(self, body: bytes) -> NormalizedEvent:
        """An event body verified earlier (and stored) back into a NormalizedEvent."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WebhookState:
    """A webhook as the provider keeps it: what a run that adopts it must give back."""

    endpoint_id: str
    status: str  # "enabled" | "disabled"
    events: tuple[str, ...]  # the provider's own event names


@runtime_checkable
class WebhookRegistrar(Protocol):
    """A provider whose API registers webhook endpoints (PayMongo). One webhook per URL:
    an existing one is adopted (enabled, its events set) and given back as it was, a new
    one is created once and disabled at the end. Its close() restores what it changed;
    the secret each registration returns stays in memory."""

    def existing_webhook(self, url: str) -> WebhookState | None:
        """The webhook already registered for `url`, whatever its status."""
        ...

    def register_webhook(
        self, url: str, events: list[str], existing: WebhookState | None = None
    ) -> str:
        """Register `url` for the rehearsal's `events` (adopting `existing`); its id."""
        ...

    def restore_webhook(self, endpoint_id: str, prior: WebhookState | None) -> None:
        """Give a webhook back as it was before the run (None: the run created it, so it
        is disabled); by id, from the ledger after a crash."""
        ...

    def remove_webhook(self, endpoint_id: str) -> None:
        """Undo a registration the run created, by its id."""
        ...


@runtime_checkable
class EventFeed(Protocol):
    """A provider whose API lists its events (Stripe's GET /v1/events): with no public path
    to a receiver, the run reads its events there instead (rehearsal/receiver/feed.py). They
    come over the provider's authenticated TLS connection, so no signature is checked; the
    report says so."""

    def events(self, since: float, run_id: str) -> list[NormalizedEvent]:
        """Events created at or after `since` (unix seconds), oldest first, about this run's
        objects where the provider lets the adapter tell (others may be included)."""
        ...
