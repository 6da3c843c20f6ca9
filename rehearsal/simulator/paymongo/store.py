"""The PayMongo dialect's writes on the simulator's books: intents charged (or held for
3-D Secure), subscriptions activated, refunds created `pending` and settled later by the
deliverer's loop. Each write runs inside the caller's books transaction and queues its
events there. Reads and rendering come from tables.py and render.py (Store inherits them).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable

from rehearsal.simulator.books import Row, add_interval, new_id
from rehearsal.simulator.paymongo.render import Rendering
from rehearsal.simulator.paymongo.tables import (
    REFUND_PENDING_SECONDS,
    THREE_DS_STATUS,
    insert,
    payment_ids,
)


class Store(Rendering):
    # --- refunds: created pending, settled later by the deliverer's loop ---------------------

    def create_refund(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        payment: Row,
        amount: int,
        reason: str,
        fails: Callable[[str], bool],
    ) -> Row:
        """A `pending` refund of `payment` (PayMongo's `ref_` ids). The books count it as
        refunded at once (it cannot be cancelled, and the rest is what may still be
        refunded). `fails(refund_id)`: it will settle `failed`, giving the amount back."""
        left = payment["amount"] - payment["amount_refunded"]
        if amount > left:
            raise RefundRefused(
                "parameter_above_maximum",
                f"The refund amount must not exceed the {left} left to refund on the payment.",
                "attributes.amount",
            )
        refund: Row = {
            "id": new_id("ref"),
            "env": env,
            "external_id": None,
            "payment_id": payment["id"],
            "amount": amount,
            "status": "pending",
            "reason": reason,
            "created_at": self.books.now(),
        }
        insert(db, "refunds", refund)
        insert(
            db,
            "pm_refunds",
            {
                "id": refund["id"],
                "pending_since": time.time(),
                "outcome": "failed" if fails(refund["id"]) else "succeeded",
                "settled_at": None,
            },
        )
        _count_refunded(db, payment["id"], amount)
        return refund

    def finish_pending_refunds(self, now: float, time_scale: float) -> float | None:
        """Finish each pending refund whose time has come (`now`: wall clock), sending
        `payment.refund.updated` and, when it succeeded, `payment.refunded`, both carrying
        the payment as PayMongo documents. Returns when the next one falls due."""
        after = REFUND_PENDING_SECONDS * time_scale
        pending = self.books.all(
            "SELECT r.id, p.pending_since FROM refunds r JOIN pm_refunds p ON p.id = r.id "
            "WHERE r.status = 'pending' ORDER BY p.pending_since"
        )
        for row in pending:
            due = float(row["pending_since"]) + after
            if due > now:
                return due
            with self.books.tx() as db:
                self._finish_refund(db, row["id"])
        return None

    def _finish_refund(self, db: sqlite3.Connection, refund_id: str) -> None:
        refund = dict(db.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone())
        if refund["status"] != "pending":
            return
        plan = db.execute("SELECT outcome FROM pm_refunds WHERE id = ?", (refund_id,)).fetchone()
        outcome = str(plan["outcome"])
        db.execute("UPDATE refunds SET status = ? WHERE id = ?", (outcome, refund_id))
        db.execute(
            "UPDATE pm_refunds SET settled_at = ? WHERE id = ?", (self.books.now(), refund_id)
        )
        if outcome == "failed":
            _count_refunded(db, refund["payment_id"], -refund["amount"])
        payment = dict(
            db.execute("SELECT * FROM payments WHERE id = ?", (refund["payment_id"],)).fetchone()
        )
        self.books.record_event(db, refund["env"], "payment.refund_updated", "payment", payment)
        if outcome == "succeeded":
            self.books.record_event(db, refund["env"], "payment.refunded", "payment", payment)

    # --- writes (inside a books transaction) -------------------------------------------------

    def new_intent(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        amount: int,
        currency: str,
        description: str | None,
        metadata: object,
        subscription_id: str | None = None,
    ) -> Row:
        now = self.books.now()
        row: Row = {
            "id": new_id("pi"),
            "env": env,
            "amount": amount,
            "currency": currency,
            "status": "awaiting_payment_method",
            "description": description,
            "metadata": json.dumps(metadata) if metadata else None,
            "method_id": None,
            "payment_ids": "[]",
            "subscription_id": subscription_id,
            "last_error": None,
            "three_ds_token": None,
            "return_url": None,
            "created_at": now,
            "updated_at": now,
        }
        insert(db, "pm_intents", row)
        return row

    def charge_intent(self, db: sqlite3.Connection, intent: Row, method: Row) -> Row:
        """Charge the intent's card now (no authentication left to do); update the intent,
        and activate its subscription when this pays a first invoice."""
        payment = self.books.create_payment(
            db,
            intent["env"],
            external_id=None,
            amount=intent["amount"],
            currency=intent["currency"],
            card_token=method["id"],
            description=intent["description"],
            subscription_id=intent["subscription_id"],
        )
        ids = [*payment_ids(intent), payment["id"]]
        if payment["status"] == "failed":
            error = {
                "failed_code": "payment_failed",
                "failed_message": "The card was declined.",
                "sub_code": payment["failure_code"],
                "payment_method": method["id"],
            }
            status, last_error = "awaiting_payment_method", json.dumps(error)
        else:
            status, last_error = "succeeded", None
        intent.update(status=status, payment_ids=json.dumps(ids), last_error=last_error)
        intent.update(updated_at=self.books.now(), three_ds_token=None)
        self.save_intent(db, intent)
        if status == "succeeded" and intent["subscription_id"]:
            self._activate(db, intent["subscription_id"], method, payment)
        return intent

    def require_3ds(self, db: sqlite3.Connection, intent: Row, return_url: str | None) -> Row:
        intent.update(
            status=THREE_DS_STATUS,
            three_ds_token=secrets.token_urlsafe(16),
            return_url=return_url,
            updated_at=self.books.now(),
        )
        self.save_intent(db, intent)
        return intent

    def fail_3ds(self, db: sqlite3.Connection, intent: Row) -> Row:
        error = {"failed_code": "authentication_failed", "sub_code": "authentication_failed"}
        intent.update(
            status="awaiting_payment_method",
            last_error=json.dumps(error),
            three_ds_token=None,
            updated_at=self.books.now(),
        )
        self.save_intent(db, intent)
        return intent

    def save_intent(self, db: sqlite3.Connection, intent: Row) -> None:
        cols = [k for k in intent if k != "id"]
        db.execute(
            f"UPDATE pm_intents SET {', '.join(f'{k} = ?' for k in cols)} WHERE id = ?",
            (*[intent[k] for k in cols], intent["id"]),
        )

    def _activate(self, db: sqlite3.Connection, sub_id: str, method: Row, payment: Row) -> None:
        row = db.execute("SELECT * FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        if row is None or row["status"] != "incomplete":
            return
        sub = dict(row)
        now = self.books.now()
        sub.update(
            status="active",
            card_token=method["id"],
            card_brand=method["brand"],
            card_last4=method["last4"],
            period_start=now,
            period_end=add_interval(now, sub["interval"]),
            latest_payment_id=payment["id"],
        )
        db.execute(
            "UPDATE subscriptions SET status = ?, card_token = ?, card_brand = ?, "
            "card_last4 = ?, period_start = ?, period_end = ?, latest_payment_id = ? "
            "WHERE id = ?",
            (
                sub["status"],
                sub["card_token"],
                sub["card_brand"],
                sub["card_last4"],
                sub["period_start"],
                sub["period_end"],
                sub["latest_payment_id"],
                sub_id,
            ),
        )
        self.books.record_event(db, sub["env"], "subscription.renewed", "subscription", sub)
        self.books.record_event(db, sub["env"], "subscription.created", "subscription", sub)


class RefundRefused(Exception):
    """A refund PayMongo refuses: its error code, detail and the attribute at fault."""

    def __init__(self, code: str, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.pointer = code, detail, pointer


def _count_refunded(db: sqlite3.Connection, payment_id: str, amount: int) -> None:
    """Add `amount` (negative: give back) to what the books hold refunded of a payment; its
    books status follows (the books' own, dialect-neutral; PayMongo renders `paid`)."""
    row = db.execute(
        "SELECT amount, amount_refunded FROM payments WHERE id = ?", (payment_id,)
    ).fetchone()
    refunded = int(row["amount_refunded"]) + amount
    status = (
        "succeeded"
        if refunded == 0
        else "refunded"
        if refunded >= row["amount"]
        else "partially_refunded"
    )
    db.execute(
        "UPDATE payments SET amount_refunded = ?, status = ? WHERE id = ?",
        (refunded, status, payment_id),
    )
