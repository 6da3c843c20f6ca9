"""The receiver's webhook registration with the provider, written to the ledger as it is
made and undone at the end: registered through the API (PayMongo, Stripe) or the
simulator's control routes, or shown to the operator to register by hand (MintCash), then
proven by the signed probe before any money moves. It never moves money."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rehearsal.ledger.db import StateDB
    from rehearsal.ledger.rows import RunRow
    from rehearsal.session.target import Target
    from rehearsal.tunnels.public_path import TunnelSession


def register(target: Target, store: StateDB, run_id: str, url: str, events: list[str]) -> bool:
    """Register the receiver's URL; one made through the provider's API is written to the
    ledger first (intent, then its id), so a killed run's registration is undone later."""
    from rehearsal import providers
    from rehearsal.ledger.states import RegistrationState

    provider = providers.webhook_registrar(target.provider)
    if target.control is not None or provider is None:
        return target.register_webhook(url, events)
    # PayMongo keeps one webhook per URL: a stable URL's webhook is adopted, its prior state
    # written down before anything changes, and given back as it was at the end.
    seq = store.registration_intent(run_id, url, RegistrationState.LOOKING)
    existing = provider.existing_webhook(url)
    if existing is None:
        store.registration_state(seq, RegistrationState.INTENT)
    else:
        store.registration_prior(seq, existing.endpoint_id, existing.status, list(existing.events))
    endpoint_id = provider.register_webhook(url, events, existing)
    store.registration_state(seq, RegistrationState.REGISTERED, endpoint_id)
    return True


def unregister(target: Target, store: StateDB, run_id: str) -> None:
    """Undo this process's API registrations, recording each in the ledger."""
    from rehearsal.ledger.registrations import remove_registrations

    with contextlib.suppress(Exception):  # cleanup retries what is left; close() tries too
        remove_registrations(run_id, target.provider, store, lambda event: None)


def open_and_prove(
    session: TunnelSession, run: RunRow, run_id: str, target: Target, store: StateDB
) -> None:
    """Opened, registered with the provider, proven by the signed probe before any money
    moves (TunnelError, exit 3, if it is broken)."""
    from rehearsal.errors import UsageError
    from rehearsal.tunnels.public_path import unstable_for_hand_registration

    session.open()
    store.set_webhook_endpoint(run_id, target.webhook_endpoint)
    if not session.registered:  # by hand (MintCash's account manager): the probe checks
        fixes = unstable_for_hand_registration(session.spec)
        if fixes:
            raise UsageError(
                f"{run['provider']}'s webhook URL is registered by hand, so it must be the "
                "same every run; this one is new, and every webhook would be lost",
                hint="; ".join(fixes),
            )
        shown = session.url_to_register
        print(f"register this webhook URL with {run['provider']}: {shown}", file=sys.stderr)
    session.prove()  # before any money moves: TunnelError (exit 3) if the path is broken
