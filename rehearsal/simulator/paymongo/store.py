"""The PayMongo dialect's own resources on the simulator's books, and how they render.

PayMongo charges through Payment Intents, Payment Methods and attach, and bills
subscriptions through plans, customers and invoices; the books keep payments, refunds and
subscriptions. This module keeps the rest (intents, methods, plans, customers, webhooks)
in tables of the same SQLite file and renders everything as PayMongo's JSON:API resources
(`{"id", "type", "attributes"}`). Card numbers are never stored: a method keeps its brand,
last four digits and the test card's behaviour. Invoices are not stored either: each paid
subscription payment is one, keyed by its intent.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rehearsal.simulator.books import Books, Row, add_interval, new_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS pm_intents (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
  status TEXT NOT NULL, description TEXT, metadata TEXT, method_id TEXT,
  payment_ids TEXT NOT NULL DEFAULT '[]', subscription_id TEXT, last_error TEXT,
  three_ds_token TEXT, return_url TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pm_methods (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, brand TEXT NOT NULL, last4 TEXT NOT NULL,
  three_ds TEXT NOT NULL, failure_code TEXT, exp_month INTEGER, exp_year INTEGER,
  billing TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pm_plans (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
  amount INTEGER NOT NULL, currency TEXT NOT NULL, interval TEXT NOT NULL,
  interval_count INTEGER NOT NULL, cycle_count INTEGER, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pm_customers (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, first_name TEXT, last_name TEXT, email TEXT,
  phone TEXT, default_device TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pm_subscriptions (
  id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, customer_id TEXT NOT NULL,
  intent_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pm_webhooks (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, endpoint_id TEXT NOT NULL, url TEXT NOT NULL,
  events TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
  updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pm_extras (id TEXT PRIMARY KEY, attributes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pm_refunds (
  id TEXT PRIMARY KEY, pending_since REAL NOT NULL, outcome TEXT NOT NULL, settled_at REAL);
"""

# PayMongo's webhook event names -> the books' event kinds (endpoints filter on those).
BOOKS_KIND = {
    "payment.paid": "payment.succeeded",
    "payment.failed": "payment.failed",
    "payment.refunded": "payment.refunded",
    "payment.refund.updated": "payment.refund_updated",
    "subscription.activated": "subscription.created",
    "subscription.invoice.paid": "subscription.renewed",
    "subscription.past_due": "subscription.past_due",
    "subscription.invoice.payment_failed": "subscription.invoice.payment_failed",
    "subscription.updated": "subscription.cancelled",
}
PAYMONGO_EVENT = {v: k for k, v in BOOKS_KIND.items()}
# What the control route's endpoint (the rehearsal's own receiver, registered by the
# rehearsal's event names) also receives: a refund's outcome comes as
# payment.refund.updated as well (a failed refund's only so), as for a webhook registered
# through the API for both of PayMongo's refund events.
ALSO_RECEIVES = {"payment.refunded": ("payment.refund_updated",)}
KNOWN_EVENTS = {*BOOKS_KIND, "payment.refund.updated", "payment_intent.succeeded"}
BOOKS_INTERVAL = {"weekly": "week", "monthly": "month", "yearly": "year"}
# How long a refund stays `pending` before it settles, in seconds before the simulator's
# time scale (the embedded simulator's 0.01 makes it 20 ms). ASSUMED: PayMongo documents the
# statuses (pending, processing, succeeded, failed), not how long each lasts.
REFUND_PENDING_SECONDS = 2.0
THREE_DS_STATUS = "awaiting_next_action"
# ASSUMED fee rule: 3.5% + PHP 15.00 per card payment. It is the only rule that gives the
# fee of 1850 on 10000 in PayMongo's Payment Resource example
# (https://developers.paymongo.com/reference/payment-source); the API reference states no
# rate. See docs/providers/paymongo.md.
FEE_PERCENT_TENTHS = 35  # 3.5%
FEE_FIXED = 1500
EMPTY_ADDRESS = dict.fromkeys(("line1", "line2", "city", "state", "postal_code", "country"))


def day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def secs(ts: float | None) -> int | None:
    return None if ts is None else int(ts)


def resource(kind: str, object_id: str, attributes: Row) -> Row:
    return {"id": object_id, "type": kind, "attributes": attributes}


def card_fee(amount: int) -> int:
    return (amount * FEE_PERCENT_TENTHS + 500) // 1000 + FEE_FIXED


def billing(raw: Any) -> Row | None:
    """PayMongo's billing object with every member present, as its examples show it."""
    if not isinstance(raw, dict):
        return None
    address = raw.get("address")
    if not isinstance(address, dict):
        address = {}
    return {
        "address": {**EMPTY_ADDRESS, **{k: address.get(k) for k in EMPTY_ADDRESS}},
        "email": raw.get("email"),
        "name": raw.get("name"),
        "phone": raw.get("phone"),
    }


class Store:
    def __init__(self, books: Books) -> None:
        self.books = books
        with books.tx() as db:
            for statement in _statements():
                db.execute(statement)

    # --- reads ------------------------------------------------------------------------------

    def one(self, table: str, env: str, object_id: str) -> Row | None:
        return self.books._one(f"SELECT * FROM {table} WHERE id = ? AND env = ?", object_id, env)

    def intent_for_payment(self, payment: Row) -> str:
        row = self.books._one(
            "SELECT id FROM pm_intents WHERE payment_ids LIKE ?", f'%"{payment["id"]}"%'
        )
        return str(row["id"]) if row else "pi_" + payment["id"].removeprefix("pay_")

    def extras(self, object_id: str) -> Row:
        """What a create request said that the books do not keep (metadata, notes, ...)."""
        row = self.books._one("SELECT attributes FROM pm_extras WHERE id = ?", object_id)
        return dict(json.loads(row["attributes"])) if row else {}

    def save_extras(self, db: sqlite3.Connection, object_id: str, attributes: Row) -> None:
        db.execute(
            "INSERT OR REPLACE INTO pm_extras (id, attributes) VALUES (?, ?)",
            (object_id, json.dumps(attributes)),
        )

    def subscription_extra(self, subscription_id: str) -> Row | None:
        return self.books._one("SELECT * FROM pm_subscriptions WHERE id = ?", subscription_id)

    # --- rendering --------------------------------------------------------------------------

    def payment(self, row: Row) -> Row:
        """A Payment Resource with every member PayMongo's reference and its official
        clients name (https://developers.paymongo.com/reference/payment-source)."""
        refunds = self.books._all(
            "SELECT * FROM refunds WHERE payment_id = ? ORDER BY created_at, id", row["id"]
        )
        failed = row["status"] == "failed"
        intent_id = self.intent_for_payment(row)
        intent = self.books._one("SELECT * FROM pm_intents WHERE id = ?", intent_id)
        method = (
            self.books._one("SELECT * FROM pm_methods WHERE id = ?", intent["method_id"])
            if intent and intent.get("method_id")
            else None
        )
        intent_extras = self.extras(intent_id)
        fee = 0 if failed else card_fee(row["amount"])
        foreign_fee = 0  # ASSUMED: the simulator's test cards are local (PH) cards
        created = secs(row["created_at"])
        suffix = row["id"].removeprefix("pay_")
        return resource(
            "payment",
            row["id"],
            {
                "access_url": None,
                "amount": row["amount"],
                "balance_transaction_id": None if failed else f"bal_txn_{suffix}",
                "billing": billing(json.loads(method["billing"]))
                if method and method["billing"]
                else None,
                "currency": row["currency"],
                "description": row["description"],
                "disputed": False,
                "external_reference_number": None,
                "fee": fee,
                "foreign_fee": foreign_fee,
                "livemode": row["env"] == "live",
                "net_amount": 0 if failed else row["amount"] - fee - foreign_fee,
                "origin": "api",
                "payment_intent_id": intent_id,
                "payout": None,
                "source": {
                    "id": "card_" + suffix,
                    "type": "card",
                    "brand": row["card_brand"],
                    "country": "PH",
                    "last4": row["card_last4"],
                },
                "statement_descriptor": intent_extras.get("statement_descriptor"),
                # PayMongo documents `paid` and `failed`; refunds show in `refunds`, not here.
                "status": "failed" if failed else "paid",
                "tax_amount": None,
                "metadata": json.loads(intent["metadata"])
                if intent and intent.get("metadata")
                else None,
                "refunds": [self.refund(r) for r in refunds],
                "taxes": [],
                "failed_code": row["failure_code"] if failed else None,
                "failed_message": "The card was declined." if failed else None,
                "sub_code": row["failure_code"] if failed else None,
                "available_at": None,
                "created_at": created,
                "credited_at": None,
                "paid_at": None if failed else created,
                "updated_at": created,
            },
        )

    def refund(self, row: Row) -> Row:
        """A Refund Resource (https://developers.paymongo.com/reference/refund-resource) with
        the members PayMongo's official clients read as well."""
        payment = self.books._one("SELECT currency FROM payments WHERE id = ?", row["payment_id"])
        extras = self.extras(row["id"])
        settled = self.books._one("SELECT settled_at FROM pm_refunds WHERE id = ?", row["id"])
        updated = (settled or {}).get("settled_at") or row["created_at"]
        done = row["status"] == "succeeded"
        return resource(
            "refund",
            row["id"],
            {
                "amount": row["amount"],
                "balance_transaction_id": f"bal_txn_{row['id'].split('_', 1)[-1]}"
                if done
                else None,
                "currency": payment["currency"] if payment else "PHP",
                "livemode": row["env"] == "live",
                "metadata": extras.get("metadata"),
                "notes": extras.get("notes"),
                "payment_id": row["payment_id"],
                "payout_id": None,
                "reason": row["reason"],
                "status": row["status"],
                "available_at": None,
                "created_at": secs(row["created_at"]),
                "refunded_at": secs(updated) if done else None,
                "updated_at": secs(updated),
            },
        )

    def intent(self, row: Row, base_url: str = "") -> Row:
        """A Payment Intent Resource
        (https://developers.paymongo.com/reference/the-payment-intent-object)."""
        payments = [self.books._one("SELECT * FROM payments WHERE id = ?", p) for p in _ids(row)]
        extras = self.extras(row["id"])
        next_action = None
        if row["status"] == THREE_DS_STATUS:
            next_action = {
                "type": "redirect",
                "redirect": {
                    "url": f"{base_url}/_sim/paymongo/3ds/{row['id']}/{row['three_ds_token']}",
                    "return_url": row["return_url"],
                },
            }
        options = extras.get("payment_method_options")
        if not isinstance(options, dict):
            options = {"card": {"request_three_d_secure": "any"}}
        return resource(
            "payment_intent",
            row["id"],
            {
                "amount": row["amount"],
                "capture_type": "automatic",
                "client_key": f"{row['id']}_client_{row['id'][-8:]}",
                "currency": row["currency"],
                "description": row["description"],
                "livemode": row["env"] == "live",
                "original_amount": row["amount"],
                "statement_descriptor": extras.get("statement_descriptor"),
                "status": row["status"],
                "last_payment_error": json.loads(row["last_error"]) if row["last_error"] else None,
                "payment_method_allowed": ["card"],
                "payments": [self.payment(p) for p in payments if p],
                "next_action": next_action,
                "payment_method_options": options,
                "metadata": json.loads(row["metadata"]) if row["metadata"] else None,
                "setup_future_usage": None,
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["updated_at"]),
            },
        )

    def derived_intent(self, env: str, intent_id: str) -> Row | None:
        """A renewal's intent: the books charged the subscription's card off-session."""
        payment = self.books._one(
            "SELECT * FROM payments WHERE id = ? AND env = ?",
            "pay_" + intent_id.removeprefix("pi_"),
            env,
        )
        if payment is None:
            return None
        status = "succeeded" if payment["status"] != "failed" else "awaiting_payment_method"
        return {
            "id": intent_id,
            "env": env,
            "amount": payment["amount"],
            "currency": payment["currency"],
            "status": status,
            "description": "subscription renewal",
            "metadata": None,
            "payment_ids": json.dumps([payment["id"]]),
            "last_error": None,
            "three_ds_token": None,
            "return_url": None,
            "created_at": payment["created_at"],
            "updated_at": payment["created_at"],
        }

    def method(self, row: Row) -> Row:
        return resource(
            "payment_method",
            row["id"],
            {
                "type": "card",
                "billing": billing(json.loads(row["billing"])) if row["billing"] else None,
                "details": {
                    "last4": row["last4"],
                    "exp_month": row["exp_month"],
                    "exp_year": row["exp_year"],
                },
                "livemode": row["env"] == "live",
                "metadata": self.extras(row["id"]).get("metadata"),
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["created_at"]),
            },
        )

    def plan(self, row: Row) -> Row:
        return resource(
            "plan",
            row["id"],
            {
                "amount": row["amount"],
                "currency": row["currency"],
                "cycle_count": row["cycle_count"],
                "description": row["description"],
                "interval": row["interval"],
                "interval_count": row["interval_count"],
                "livemode": row["env"] == "live",
                "name": row["name"],
                "metadata": None,
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["created_at"]),
            },
        )

    def customer(self, row: Row) -> Row:
        keys = ("first_name", "last_name", "email", "phone", "default_device")
        return resource(
            "customer",
            row["id"],
            {
                **{k: row[k] for k in keys},
                "livemode": row["env"] == "live",
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["created_at"]),
            },
        )

    def _plan_summary(self, plan_id: str) -> Row:
        plan = self.books._one("SELECT * FROM pm_plans WHERE id = ?", plan_id)
        if plan is None:
            return {}
        keys = ("amount", "currency", "cycle_count", "description", "interval", "name")
        return {
            "id": plan["id"],
            **{k: plan[k] for k in keys},
            "interval_count": 1,
            "created_at": secs(plan["created_at"]),
            "updated_at": secs(plan["created_at"]),
        }

    def invoices(self, sub: Row) -> list[Row]:
        """A subscription's invoices, oldest first: one per payment, or its open first one."""
        extra = self.subscription_extra(sub["id"]) or {}
        payments = self.books._all(
            "SELECT * FROM payments WHERE subscription_id = ? ORDER BY created_at, id", sub["id"]
        )
        rows = []
        first = extra.get("intent_id")
        for p in payments:
            intent_id = self.intent_for_payment(p)
            if intent_id == first:
                continue  # the first invoice is rendered from its intent below
            status = "paid" if p["status"] != "failed" else "open"
            rows.append((p["created_at"], intent_id, p["amount"], status))
        if first:
            intent = self.books._one("SELECT * FROM pm_intents WHERE id = ?", first)
            if intent is not None:
                status = "paid" if intent["status"] == "succeeded" else "open"
                paid_at = intent["updated_at"] if status == "paid" else sub["created_at"]
                rows.append((paid_at, first, intent["amount"], status))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [self.invoice(sub, *r) for r in rows]

    def invoice(self, sub: Row, due: float, intent_id: str, amount: int, status: str) -> Row:
        extra = self.subscription_extra(sub["id"]) or {}
        intent = self.books._one("SELECT status FROM pm_intents WHERE id = ?", intent_id)
        intent_status = intent["status"] if intent else "succeeded"
        return resource(
            "invoice",
            "inv_" + intent_id.removeprefix("pi_"),
            {
                "amount": amount,
                "currency": sub["currency"],
                "customer_id": extra.get("customer_id"),
                "description": "rehearsal plan",
                "due_date": day(due),
                "livemode": sub["env"] == "live",
                "line_items": [],
                "payment_intent": {"id": intent_id, "status": intent_status},
                "subscription": {
                    "id": sub["id"],
                    "status": sub["status"],
                    "plan": self._plan_summary(extra.get("plan_id", "")),
                },
                "status": status,
                "created_at": secs(due),
                "updated_at": secs(due),
            },
        )

    def subscription(self, sub: Row, base_url: str = "") -> Row:
        extra = self.subscription_extra(sub["id"]) or {}
        invoices = self.invoices(sub)
        latest = invoices[-1] if invoices else None
        latest_attrs = latest["attributes"] if latest else {}
        active = sub["status"] in ("active", "past_due", "unpaid")
        return resource(
            "subscription",
            sub["id"],
            {
                "anchor_date": day(sub["created_at"]),
                "cancellation_reason": sub["cancel_reason"],
                "customer_id": extra.get("customer_id"),
                "default_customer_payment_method_id": None,
                "latest_invoice": {
                    "id": latest["id"],
                    "amount": latest_attrs["amount"],
                    "currency": latest_attrs["currency"],
                    "due_date": latest_attrs["due_date"],
                    "payment_intent": latest_attrs["payment_intent"],
                    "status": latest_attrs["status"],
                }
                if latest
                else None,
                "livemode": sub["env"] == "live",
                "next_billing_schedule": day(sub["period_end"]) if active else None,
                "plan": self._plan_summary(extra.get("plan_id", "")),
                "setup_intent": self._setup_intent(extra.get("intent_id"), base_url),
                "status": sub["status"],
                "cancelled_at": secs(sub["cancelled_at"]),
                "created_at": secs(sub["created_at"]),
                "updated_at": secs(sub["created_at"]),
            },
        )

    def _setup_intent(self, intent_id: str | None, base_url: str) -> Row | None:
        """The first invoice's intent as the Subscription Resource example shows it
        (https://developers.paymongo.com/reference/subscription-resource): `id`,
        `last_setup_error`, `next_action_url` (the 3-D Secure page while it awaits), `status`."""
        intent = self.books._one("SELECT * FROM pm_intents WHERE id = ?", intent_id)
        if intent is None:
            return None
        rendered = self.intent(intent, base_url)["attributes"]
        error = rendered["last_payment_error"] or {}
        return {
            "id": intent["id"],
            "last_setup_error": error.get("failed_message") or error.get("sub_code"),
            "next_action_url": (rendered["next_action"] or {}).get("redirect", {}).get("url"),
            "status": intent["status"],
        }

    def webhook(self, row: Row, secret: str) -> Row:
        return resource(
            "webhook",
            row["id"],
            {
                "events": json.loads(row["events"]),
                "livemode": row["env"] == "live",
                "secret_key": secret,
                "status": row["status"],
                "disabled_reason": "disabled_by_merchant" if row["status"] == "disabled" else None,
                "url": row["url"],
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["updated_at"]),
            },
        )

    def event_data(self, kind: str, obj: Row) -> Row:
        """What an event of the books' `kind` carries: a payment, a subscription or, for a
        paid subscription payment, its invoice."""
        if obj["object_kind"] == "payment":
            return self.payment(obj)
        if kind in ("subscription.renewed", "subscription.invoice.payment_failed"):
            payment = self.books._one(
                "SELECT * FROM payments WHERE id = ?", obj["latest_payment_id"]
            )
            if payment is not None:
                intent_id = self.intent_for_payment(payment)
                status = "paid" if kind == "subscription.renewed" else "open"
                return self.invoice(obj, payment["created_at"], intent_id, obj["amount"], status)
        return self.subscription(obj)

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
        _insert(db, "refunds", refund)
        _insert(
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
        pending = self.books._all(
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
        metadata: Any,
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
        _insert(db, "pm_intents", row)
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
        ids = [*_ids(intent), payment["id"]]
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


def control_kinds(events: list[str]) -> list[str]:
    """The books' kinds a control-route endpoint for `events` receives (ALSO_RECEIVES)."""
    return list(dict.fromkeys([*events, *(k for e in events for k in ALSO_RECEIVES.get(e, ()))]))


def _ids(intent: Row) -> list[str]:
    return list(json.loads(intent.get("payment_ids") or "[]"))


def _statements() -> list[str]:
    return [s.strip() for s in SCHEMA.split(";") if s.strip()]


def insert(db: sqlite3.Connection, table: str, row: Row) -> None:
    _insert(db, table, row)


def _insert(db: sqlite3.Connection, table: str, row: Row) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(row.values()))
