"""The PayMongo dialect's own tables on the simulator's books: their schema, PayMongo's
names for the books' events and intervals, and the reads every part of the dialect shares.

PayMongo charges through Payment Intents, Payment Methods and attach, and bills
subscriptions through plans, customers and invoices; the books keep payments, refunds and
subscriptions. The rest (intents, methods, plans, customers, webhooks) lives in `pm_*`
tables of the same SQLite file. Card numbers are never stored: a method keeps its brand,
last four digits and the test card's behaviour. Rendering is render.py's, writing store.py's.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from rehearsal.simulator.books import Books, Row

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


def billing(raw: object) -> Row | None:
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


def control_kinds(events: list[str]) -> list[str]:
    """The books' kinds a control-route endpoint for `events` receives (ALSO_RECEIVES)."""
    return list(dict.fromkeys([*events, *(k for e in events for k in ALSO_RECEIVES.get(e, ()))]))


def payment_ids(intent: Row) -> list[str]:
    """The payments an intent has made, oldest first."""
    return list(json.loads(intent.get("payment_ids") or "[]"))


def insert(db: sqlite3.Connection, table: str, row: Row) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(row.values()))


class Tables:
    """The dialect's tables over the books (created if missing) and the reads they share."""

    def __init__(self, books: Books) -> None:
        self.books = books
        with books.tx() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement.strip())

    def find(self, table: str, object_id: str | None) -> Row | None:
        """The row of `table` with this id, in whichever environment."""
        return self.books.one(f"SELECT * FROM {table} WHERE id = ?", object_id)

    def one(self, table: str, env: str, object_id: str) -> Row | None:
        return self.books.one(f"SELECT * FROM {table} WHERE id = ? AND env = ?", object_id, env)

    def intent_for_payment(self, payment: Row) -> str:
        row = self.books.one(
            "SELECT id FROM pm_intents WHERE payment_ids LIKE ?", f'%"{payment["id"]}"%'
        )
        return str(row["id"]) if row else "pi_" + payment["id"].removeprefix("pay_")

    def extras(self, object_id: str) -> Row:
        """What a create request said that the books do not keep (metadata, notes, ...)."""
        row = self.books.one("SELECT attributes FROM pm_extras WHERE id = ?", object_id)
        return dict(json.loads(row["attributes"])) if row else {}

    def save_extras(self, db: sqlite3.Connection, object_id: str, attributes: Row) -> None:
        db.execute(
            "INSERT OR REPLACE INTO pm_extras (id, attributes) VALUES (?, ?)",
            (object_id, json.dumps(attributes)),
        )

    def subscription_extra(self, subscription_id: str) -> Row | None:
        return self.books.one("SELECT * FROM pm_subscriptions WHERE id = ?", subscription_id)
