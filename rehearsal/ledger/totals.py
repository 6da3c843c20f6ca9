"""Where a run's money stands, from the ledger alone (no API call): what it charged and
refunded, what is outstanding or pending, its subscriptions still active and the calls
whose outcome is unknown. `status`, `runs`, the reports and a run's own end read it here.

The figures are the settle engine's last reading of the provider's books (`observations`),
plus the answers the run recorded and not read back yet. It never moves money and never
calls the provider: a later settle or `status` reads the books again.
"""

from __future__ import annotations

import json
from typing import NamedTuple, TypedDict

from rehearsal.ledger.db import StateDB
from rehearsal.ledger.states import KEYED_ACTIONS, CallOutcome, CompensationState

# A payment in one of these states took no money (or none yet that can be refunded).
NOT_CHARGED = {"failed", "awaiting_next_action", "requires_action", "cancelled", "canceled"}


class UnknownOutcome(TypedDict):
    step: str
    action: str
    idempotency_key: str | None
    amount: int | None
    called_at: float | None


class MoneyTotals(TypedDict):
    """A run's money, in integers of the currency's minor units (USD cents, PHP centavos)."""

    currency: str | None
    charged: int
    refunded: int
    outstanding: int
    not_refundable_in_test: int
    # Of `refunded`, what the provider still shows pending: not back on the card yet,
    # and it may still fail (a later `status` reads it again).
    refunds_pending: int
    active_subscriptions: list[str]
    subscription_payments: int
    subscription_payments_refunded: int
    unknown_outcomes: list[UnknownOutcome]


class _Payment(NamedTuple):
    status: str
    amount: int
    amount_refunded: int
    refund_unavailable: int
    refund_pending: int
    step_id: str | None


def run_totals(store: StateDB, run_id: str) -> MoneyTotals:
    """Where a run's money stands: the last reconciliation with the provider's API, the
    answers the run recorded, and what is still unknown. No API call."""
    steps = store.steps(run_id)
    seen = {(o["kind"], o["object_id"]): o for o in store.observations(run_id)}
    payments = {
        oid: _Payment(
            o["status"],
            o["amount"],
            o["amount_refunded"],
            o["refund_unavailable"],
            o["refund_pending"] or 0,
            o["step_id"],
        )
        for (kind, oid), o in seen.items()
        if kind == "payment"
    }
    for s in steps:  # answered, not yet read back: as the answer showed it
        if s["action"] == "charge" and s["object_id"] and s["object_id"] not in payments:
            payments[s["object_id"]] = _Payment(
                s["status"] or "succeeded", s["amount"] or 0, 0, 0, 0, s["step_id"]
            )
    charged = refunded = unavailable = subscription_charged = pending = 0
    subscribe_steps = {s["step_id"] for s in steps if s["action"] == "subscribe"}
    for p in payments.values():
        if p.status in NOT_CHARGED:
            continue
        charged += p.amount
        refunded += p.amount_refunded
        pending += p.refund_pending
        if p.step_id in subscribe_steps:
            subscription_charged += p.amount
        if p.refund_unavailable:
            unavailable += p.amount - p.amount_refunded
    subs = {oid: o["status"] for (kind, oid), o in seen.items() if kind == "subscription"}
    cancelled_by_step = {
        s["object_id"] for s in steps if s["action"] == "cancel" and s["object_id"]
    }
    for s in steps:
        if s["action"] == "subscribe" and s["object_id"] and s["object_id"] not in subs:
            subs[s["object_id"]] = (
                "cancelled" if s["object_id"] in cancelled_by_step else s["status"] or "active"
            )
    unknown: list[UnknownOutcome] = [
        {
            "step": s["step_id"],
            "action": s["action"],
            "idempotency_key": s["idempotency_key"],
            "amount": s["amount"],
            "called_at": s["called_at"],
        }
        for s in steps
        if s["action"] in KEYED_ACTIONS and store.call_outcome(s) == CallOutcome.INTENT
    ]
    comps = store.compensations(run_id)
    currencies = sorted({o["currency"].upper() for o in seen.values() if o["currency"]})
    return {
        "currency": currencies[0] if len(currencies) == 1 else _plan_currency(store, run_id),
        "charged": charged,
        "refunded": refunded,
        "outstanding": charged - refunded - unavailable,
        "not_refundable_in_test": unavailable,
        "refunds_pending": pending,
        "active_subscriptions": sorted(k for k, v in subs.items() if v != "cancelled"),
        "subscription_payments": subscription_charged,
        "subscription_payments_refunded": sum(
            c["amount"] or 0
            for c in comps
            if c["action"] == "refund_subscription_payment" and c["state"] == CompensationState.DONE
        ),
        "unknown_outcomes": unknown,
    }


def _plan_currency(store: StateDB, run_id: str) -> str | None:
    run = store.run(run_id)
    if run is None or not run["plan_json"]:
        return None
    currency = json.loads(run["plan_json"]).get("currency")
    return str(currency).upper() if currency else None


def left_open(m: MoneyTotals) -> bool:
    """True when a run's totals show anything left: money, a subscription, an unknown."""
    return bool(m["outstanding"] or m["active_subscriptions"] or m["unknown_outcomes"])
