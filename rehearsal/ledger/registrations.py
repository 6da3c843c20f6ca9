"""Webhook registrations a run made through a provider's API, undone: the last part of
settling a run (and all of it for a run that left no money).

A webhook the run created is removed (disabled); one it adopted is given back as it was.
A registration whose answer was lost is found by its URL where the provider lists webhooks.
It touches only the webhooks the ledger names, never another.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from rehearsal.errors import ProviderError
from rehearsal.events import Compensated, Listener
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.states import RegistrationState
from rehearsal.providers.base import Provider, WebhookState


def remove_registrations(
    run_id: str, provider: Provider, store: StateDB, emit: Listener
) -> list[str]:
    """Undo the webhook registrations `run_id` made through the provider's API: a webhook
    it created is removed (disabled), one it adopted is given back as it was (its events,
    and disabled again if it was). Returns those left, or whose registration is lost."""
    remove: Callable[[str], None] | None = getattr(provider, "remove_webhook", None)
    restore: Callable[[str, WebhookState | None], None] | None = getattr(
        provider, "restore_webhook", None
    )
    find: Callable[[str], str | None] | None = getattr(provider, "find_webhook", None)
    left: list[str] = []
    for r in store.registrations(run_id):
        if r["state"] == RegistrationState.REMOVED:
            continue
        if r["state"] == RegistrationState.LOOKING:  # killed while listing: nothing was changed
            store.registration_state(r["seq"], RegistrationState.REMOVED)
            continue
        endpoint_id = r["endpoint_id"]
        if not endpoint_id and find is not None:
            try:  # its answer was lost: the provider lists webhooks by URL
                endpoint_id = find(r["url"])
            except ProviderError:
                left.append(r["url"])
                continue
            if endpoint_id is None:  # not there: the registration never landed
                store.registration_state(r["seq"], RegistrationState.REMOVED)
                continue
            store.registration_state(r["seq"], RegistrationState.REGISTERED, endpoint_id)
        if not endpoint_id or (remove is None and restore is None):
            left.append(r["url"])
            emit(
                Compensated(
                    "remove_webhook",
                    r["url"],
                    None,
                    "unknown: its registration's answer was lost; check the provider's "
                    "webhooks for this URL",
                )
            )
            continue
        prior = _prior(endpoint_id, r["prior_status"], r["prior_events"])
        try:
            if restore is not None:
                restore(endpoint_id, prior)
            elif remove is not None:
                remove(endpoint_id)
        except ProviderError as exc:
            left.append(endpoint_id)
            emit(Compensated("remove_webhook", endpoint_id, None, f"failed: {exc.message}"))
            continue
        store.registration_state(r["seq"], RegistrationState.REMOVED)
        done = "done" if prior is None else f"done: given back {prior.status}, its events as before"
        emit(Compensated("remove_webhook", endpoint_id, None, done))
    return left


def _prior(endpoint_id: str, status: str | None, events: str | None) -> WebhookState | None:
    """An adopted webhook's state before the run, from the ledger (None: the run made it)."""
    if status is None:
        return None
    return WebhookState(endpoint_id, status, tuple(json.loads(events or "[]")))
