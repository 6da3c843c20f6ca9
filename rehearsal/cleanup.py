"""Settling a run's money from its ledger: refund what it charged, cancel what it subscribed.

Driven by the state database, not by memory, so it works in the process that failed, after
a crash, or days later (`rehearsal cleanup RUN`). Each refund or cancel is written as an
intent before the call, with a deterministic idempotency key (a repeated cleanup re-sends
the same key), and confirmed afterwards through the provider's API.
"""

from __future__ import annotations

import time
from typing import Any

from rehearsal.errors import ProviderError
from rehearsal.providers.base import (
    FeatureUnavailable,
    KeyedKind,
    KeyLookupUnsupported,
    Provider,
)
from rehearsal.run_events import Compensated, Listener
from rehearsal.state import StateDB

REASON = "rehearsal cleanup"
LOOKUP_POLL = 0.25  # seconds between lookups of a call that may still be in flight
UNRESOLVED = (
    "unresolved: the call's answer was lost and the provider cannot look it up by its key; "
    "resume the run to replay it with the same key, then clean up"
)


LOOKUP_KIND: dict[str, KeyedKind] = {
    "charge": "payment",
    "refund": "refund",
    "subscribe": "subscription",
}


def compensate(
    run_id: str,
    provider: Provider,
    store: StateDB,
    emit: Listener,
    in_flight_window: float = 0.0,
) -> bool:
    """Refund and cancel what `run_id` left open. True when nothing is left outstanding.

    First, each call that got no answer (a crash, a timeout) is looked up by its
    idempotency key: `in_flight_window` is how long after it was sent it could still land
    at the provider, and a lookup that finds nothing waits that long before concluding.
    Then what the run charged is refunded and what it subscribed is cancelled.
    """
    settled = True
    for step in store.steps(run_id):
        if _answer_lost(step):
            settled = _look_up(run_id, step, provider, store, emit, in_flight_window) and settled
    for step in store.steps(run_id):
        if not step["object_id"]:
            continue  # never made, or still unknown (reported above)
        if step["action"] == "charge":
            settled = (
                _refund(run_id, step["step_id"], step["object_id"], "refund", provider, store, emit)
                and settled
            )
        elif step["action"] == "subscribe":
            # Cancel first, so no renewal charges after the refunds.
            settled = _cancel(run_id, step, provider, store, emit) and settled
            settled = _subscription_payments(run_id, step, provider, store, emit) and settled
    return settled


def _answer_lost(step: dict[str, Any]) -> bool:
    return step["action"] in LOOKUP_KIND and step["state"] == "calling" and not step["object_id"]


def _look_up(
    run_id: str,
    step: dict[str, Any],
    provider: Provider,
    store: StateDB,
    emit: Listener,
    window: float,
) -> bool:
    """Settle what a call with no recorded answer did, by asking what its key made.

    Found: the object is adopted into the ledger. Not found once the call can no longer
    land: recorded as never made. False when the outcome stays unknown.
    """
    kind, key, step_id = LOOKUP_KIND[step["action"]], step["idempotency_key"], step["step_id"]
    label = f"({step_id}: {key})"
    deadline = (step["called_at"] or time.time()) + window
    try:
        while True:
            found = provider.find_by_idempotency_key(kind, key)
            if found is not None or time.time() >= deadline:
                break
            time.sleep(min(LOOKUP_POLL, max(0.0, deadline - time.time())))
    except KeyLookupUnsupported:
        emit(Compensated("look_up", label, step["amount"], UNRESOLVED))
        return False
    except ProviderError as exc:
        emit(Compensated("look_up", label, step["amount"], f"failed: {exc.message}"))
        return False
    if found is None:
        seq = store.compensation_intent(run_id, step_id, "look_up", key, step["amount"], key)
        message = f"no {kind} was made with key {key}: the call never reached {provider.name}"
        store.compensation_result(seq, "done", None, message)
        emit(Compensated("look_up", label, step["amount"], f"done: {message}"))
        return True
    store.update_step(
        run_id,
        step_id,
        object_kind=found.kind,
        object_id=found.id,
        status=found.status,
        request_id=found.request_id,
        message=f"its answer was lost; found by its key {key}",
    )
    emit(Compensated("look_up", found.id, step["amount"], f"found by its key {key}"))
    return True


def _refund(
    run_id: str,
    step_id: str,
    payment_id: str,
    action: str,
    provider: Provider,
    store: StateDB,
    emit: Listener,
) -> bool:
    """Refund what is left of one payment; `action` says whose payment it is in the ledger."""
    try:
        current = provider.retrieve("payment", payment_id)
    except ProviderError as exc:
        emit(Compensated(action, payment_id, None, f"failed: {exc.message}"))
        return False
    left = current.amount - current.amount_refunded
    if current.status == "failed" or left <= 0:
        return True
    key = f"rh-{run_id}-{step_id}-cleanup-{payment_id}-{left}"
    seq = store.compensation_intent(run_id, step_id, action, payment_id, left, key)
    try:
        refund = provider.refund(
            idempotency_key=key, payment_id=payment_id, amount=left, reason=REASON
        )
        after = provider.retrieve("payment", payment_id)
    except FeatureUnavailable as exc:
        if provider.environment != "test":
            store.compensation_result(seq, "failed", exc.request_id, exc.message)
            emit(Compensated(action, payment_id, left, f"failed: {exc.message}"))
            return False
        # PayMongo refunds live payments only: a test payment stays charged, in test money.
        store.compensation_result(seq, "unavailable", exc.request_id, exc.message)
        emit(Compensated(action, payment_id, left, f"not possible in test mode: {exc.message}"))
        return True
    except ProviderError as exc:
        store.compensation_result(seq, "failed", exc.request_id, exc.message)
        emit(Compensated(action, payment_id, left, f"failed: {exc.message}"))
        return False
    if after.amount_refunded < after.amount:
        message = f"the API shows {after.amount_refunded} of {after.amount} refunded"
        store.compensation_result(seq, "failed", refund.request_id, message)
        emit(Compensated(action, payment_id, left, f"failed: {message}"))
        return False
    store.compensation_result(seq, "done", refund.request_id)
    emit(Compensated(action, payment_id, left, "done, confirmed through the API"))
    return True


def _subscription_payments(
    run_id: str, step: dict[str, Any], provider: Provider, store: StateDB, emit: Listener
) -> bool:
    """The subscription's own charges (first period, renewals) are this run's money too."""
    try:
        payments = provider.subscription_payments(step["object_id"])
    except ProviderError as exc:
        emit(
            Compensated(
                "refund_subscription_payment",
                step["object_id"],
                None,
                f"failed to list its payments: {exc.message}",
            )
        )
        return False
    settled = True
    for payment in payments:
        settled = (
            _refund(
                run_id,
                step["step_id"],
                payment.id,
                "refund_subscription_payment",
                provider,
                store,
                emit,
            )
            and settled
        )
    return settled


def _cancel(
    run_id: str, step: dict[str, Any], provider: Provider, store: StateDB, emit: Listener
) -> bool:
    sub_id = step["object_id"]
    try:
        if provider.retrieve("subscription", sub_id).status == "cancelled":
            return True
        seq = store.compensation_intent(run_id, step["step_id"], "cancel", sub_id, None, None)
        cancelled = provider.cancel(subscription_id=sub_id, reason=REASON)
    except ProviderError as exc:
        emit(Compensated("cancel", sub_id, None, f"failed: {exc.message}"))
        return False
    ok = cancelled.status == "cancelled"
    store.compensation_result(
        seq,
        "done" if ok else "failed",
        cancelled.request_id,
        None if ok else f"status {cancelled.status!r}",
    )
    emit(
        Compensated(
            "cancel",
            sub_id,
            None,
            "done, confirmed through the API" if ok else f"failed: status {cancelled.status!r}",
        )
    )
    return ok


def money(store: StateDB, run_id: str) -> dict[str, Any]:
    """Where a run's money stands, from the ledger alone (no API call)."""
    steps = store.steps(run_id)
    every = store.compensations(run_id)
    comps = [c for c in every if c["state"] == "done"]
    # Refunds the provider refuses in test mode (PayMongo's): test money, not outstanding.
    # A repeated cleanup asks again, so count each payment once.
    refused = {
        c["object_id"]: c["amount"] or 0
        for c in every
        if c["state"] == "unavailable" and c["action"] == "refund"
    }
    charged = sum(
        s["amount"] or 0
        for s in steps
        if s["action"] == "charge" and s["object_id"] and s["status"] != "failed"
    )
    refunded = sum(s["amount"] or 0 for s in steps if s["action"] == "refund" and s["object_id"])
    refunded += sum(c["amount"] or 0 for c in comps if c["action"] == "refund")
    subscription_refunds = sum(
        c["amount"] or 0 for c in comps if c["action"] == "refund_subscription_payment"
    )
    cancelled = {s["object_id"] for s in steps if s["action"] == "cancel" and s["object_id"]}
    cancelled |= {c["object_id"] for c in comps if c["action"] == "cancel"}
    active = [
        s["object_id"]
        for s in steps
        if s["action"] == "subscribe" and s["object_id"] and s["object_id"] not in cancelled
    ]
    never_landed = {c["step_id"] for c in comps if c["action"] == "look_up"}
    unknown = [
        {"step": s["step_id"], "idempotency_key": s["idempotency_key"], "amount": s["amount"]}
        for s in steps
        if s["action"] in LOOKUP_KIND
        and s["state"] == "calling"
        and not s["object_id"]
        and s["step_id"] not in never_landed
    ]
    return {
        "charged": charged,
        "refunded": refunded,
        "outstanding": charged - refunded - sum(refused.values()),
        "not_refundable_in_test": sum(refused.values()),
        "active_subscriptions": active,
        "subscription_payments_refunded": subscription_refunds,
        "unknown_outcomes": unknown,
    }
