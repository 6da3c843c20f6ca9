"""How the Stripe dialect bills a subscription: one Invoice per period, charged through a
PaymentIntent on the subscription's default PaymentMethod.

As https://docs.stripe.com/subscriptions/invoices describes the lifecycle: the first invoice
(`subscription_create`) is finalized and charged at once; a renewal invoice
(`subscription_cycle`) is created as a `draft` when the period ends and finalized and
charged about an hour later (https://docs.stripe.com/billing/subscriptions/webhooks), so a
test clock advanced only just past the period end shows the draft, not the payment. A
paid invoice keeps the subscription `active`; a failed one leaves the invoice `open` and
the subscription `past_due` (a first invoice: `incomplete`). Stripe's automatic retries
(Smart Retries) are not simulated.
"""

from __future__ import annotations

import sqlite3

from rehearsal.simulator.books import Row, add_interval
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.stripe.charging import charge_intent, new_intent
from rehearsal.simulator.stripe.store import Store, stripe_id

FINALIZE_AFTER = 3600  # seconds of the clock between a renewal's invoice.created and payment


def period_end(start: int, recurring: Row) -> int:
    end = float(start)
    for _ in range(int(recurring["interval_count"])):
        end = add_interval(end, recurring["interval"])
    return int(end)


def new_invoice(
    store: Store,
    db: sqlite3.Connection,
    env: str,
    sub: Row,
    reason: str,
    start: int,
    end: int,
    at: int,
) -> Row:
    """A draft invoice for the period [start, end), created at clock time `at`."""
    inv_id = stripe_id("in")
    lines = [_line(env, sub, item, inv_id, start, end) for item in sub["items"]["data"]]
    total = sum(line["amount"] for line in lines)
    count = len(store.objects(env, "invoice", customer=sub["customer"]))
    inv: Row = {
        "id": inv_id,
        "object": "invoice",
        "amount_due": total,
        "amount_paid": 0,
        "amount_remaining": total,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": at,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        "livemode": env == "live",
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]},
        },
        "period_end": start,  # the lines carry the billed period
        "period_start": start,
        "status": "draft",
        "status_transitions": dict.fromkeys(
            ("finalized_at", "marked_uncollectible_at", "paid_at", "voided_at")
        ),
        "subtotal": total,
        "test_clock": sub["test_clock"],
        "total": total,
        "_number": count + 1,
        "_finalizes_at": at + FINALIZE_AFTER,
        "_payments": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoice_payments?invoice={inv_id}",
        },
    }
    store.put(db, env, inv)
    store.emit(db, env, "invoice.created", inv)
    return inv


def finalize_and_pay(
    store: Store,
    db: sqlite3.Connection,
    env: str,
    inv: Row,
    sub: Row,
    *,
    off_session: bool,
    faults: Faults,
    key: str | None = None,
    base: str = "",
) -> None:
    """Finalize `inv`, charge it, and move `inv` and `sub` (both updated in place)."""
    at = store.clock_time(env, sub["test_clock"])
    inv.update(status="open", number=f"SIM-{inv['_number']:04d}")
    inv["status_transitions"]["finalized_at"] = at
    store.put(db, env, inv)
    store.emit(db, env, "invoice.finalized", inv)
    pi = _charge(store, db, env, inv, sub, at, off_session, faults, key, base)
    paid = pi["status"] == "succeeded"
    inv["_payments"]["data"] = [_invoice_payment(env, inv, pi, at, paid)]
    inv.update(
        attempted=pi["status"] != "requires_action",
        attempt_count=1 if pi["status"] != "requires_action" else 0,
    )
    previous = {"status": sub["status"]}
    if paid:
        inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0)
        inv["status_transitions"]["paid_at"] = at
        sub["status"] = "active"
        if inv["billing_reason"] == "subscription_cycle":
            sub["_renewals"] = sub.get("_renewals", 0) + 1
    elif inv["billing_reason"] == "subscription_create":
        sub["status"] = "incomplete"
    else:
        sub["status"] = "past_due"
    store.put(db, env, inv)
    store.put(db, env, sub)
    if paid:
        store.emit(db, env, "invoice.paid", inv)
        store.emit(db, env, "invoice.payment_succeeded", inv)
    elif pi["status"] == "requires_action":
        store.emit(db, env, "invoice.payment_action_required", inv)
    else:
        store.emit(db, env, "invoice.payment_failed", inv)
    if inv["billing_reason"] == "subscription_cycle" and previous["status"] != sub["status"]:
        store.emit(db, env, "customer.subscription.updated", sub, previous)


def _charge(
    store: Store,
    db: sqlite3.Connection,
    env: str,
    inv: Row,
    sub: Row,
    at: int,
    off_session: bool,
    faults: Faults,
    key: str | None,
    base: str,
) -> Row:
    """The invoice's PaymentIntent on the subscription's default PaymentMethod, charged; a
    renewal may be declined by the fault switch `fail-renewal`."""
    pi = new_intent({}, env, inv["amount_due"], inv["currency"], sub["customer"], at)
    pi["description"] = (
        "Subscription creation"
        if inv["billing_reason"] == "subscription_create"
        else "Subscription update"
    )
    store.put(db, env, pi)
    store.emit(db, env, "payment_intent.created", pi)
    method = store.get(env, "payment_method", sub["default_payment_method"])
    fail_with = (
        None
        if inv["billing_reason"] == "subscription_create"
        else faults.renewal_failure(sub["id"])
    )
    charge_intent(
        store,
        db,
        env,
        pi,
        method,
        off_session=off_session,
        key=key,
        base=base,
        fail_with=fail_with,
        subscription_id=sub["id"],
    )
    return pi


def _invoice_payment(env: str, inv: Row, pi: Row, at: int, paid: bool) -> Row:
    return {
        "id": stripe_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": inv["amount_due"] if paid else None,
        "amount_requested": inv["amount_due"],
        "created": at,
        "currency": inv["currency"],
        "invoice": inv["id"],
        "is_default": True,
        "livemode": env == "live",
        "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
        "status": "paid" if paid else "open",
    }


def renew(store: Store, db: sqlite3.Connection, env: str, sub: Row) -> Row:
    """The period ends on the subscription's clock: the next period starts and its draft
    invoice is created (charged FINALIZE_AFTER later)."""
    item0 = sub["items"]["data"][0]
    start = int(item0["current_period_end"])
    end = period_end(start, item0["price"]["recurring"])
    previous = {
        "items": {
            "data": [
                {k: i[k] for k in ("id", "current_period_start", "current_period_end")}
                for i in sub["items"]["data"]
            ]
        }
    }
    for item in sub["items"]["data"]:
        item.update(current_period_start=start, current_period_end=end)
    inv = new_invoice(store, db, env, sub, "subscription_cycle", start, end, start)
    sub["latest_invoice"] = inv["id"]
    store.put(db, env, sub)
    store.emit(db, env, "customer.subscription.updated", sub, previous)
    return inv


def _line(env: str, sub: Row, item: Row, inv_id: str, start: int, end: int) -> Row:
    """The invoice line billing one subscription item for the period [start, end)."""
    price = item["price"]
    amount = int(price["unit_amount"]) * int(item["quantity"])
    return {
        "id": stripe_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": sub["currency"],
        "description": f"{item['quantity']} x {price['product']}",
        "invoice": inv_id,
        "livemode": env == "live",
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "subscription_item_details": {
                "proration": False,
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
        },
        "period": {"end": end, "start": start},
        "pricing": {
            "type": "price_details",
            "unit_amount_decimal": str(price["unit_amount"]),
            "price_details": {"price": price["id"], "product": price["product"]},
        },
        "quantity": item["quantity"],
    }
