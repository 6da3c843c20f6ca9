"""The Stripe dialect's objects on the simulator's books.

Money stays where every dialect keeps it: each Charge is a row of the books' `payments`
(same id, `ch_...`) and each Refund a row of `refunds`, so the books' summary judges a
Stripe run as it judges the others. Everything else Stripe has (PaymentIntents,
PaymentMethods, Customers, Products, Prices, Subscriptions, Invoices, test clocks, webhook
endpoints' details) is kept as the JSON object Stripe would return, one row per object in
`st_objects`, and read back with SQLite's JSON functions for list filters. Saved
idempotent answers live in `st_idempotency`. Events go through the books' outbox with
Stripe's own type names, so an endpoint's `enabled_events` filter them as Stripe does.
"""

from __future__ import annotations

import contextvars
import json
import secrets
import sqlite3
import time

from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.stripe.wire import missing

SCHEMA = """
CREATE TABLE IF NOT EXISTS st_objects (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, env TEXT NOT NULL,
  kind TEXT NOT NULL, body TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS st_objects_kind ON st_objects (env, kind, deleted);
CREATE TABLE IF NOT EXISTS st_idempotency (
  env TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
  body TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (env, key));
"""

# The API version the simulator's objects follow: the shapes since 2025-03-31.basil
# (current_period_* on subscription items, an invoice's subscription under `parent`).
API_VERSION = "2026-10-28.endive"

# The request an event is caused by ({"id": req_..., "idempotency_key": ...}); None for
# what the simulator does on its own (a test clock's advance, a pending refund settling).
CURRENT_REQUEST: contextvars.ContextVar[Row | None] = contextvars.ContextVar(
    "stripe_request", default=None
)


def stripe_id(prefix: str) -> str:
    """Stripe-looking ids: a prefix and 24 letters and digits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "_" + "".join(secrets.choice(alphabet) for _ in range(24))


class Store:
    def __init__(self, books: Books) -> None:
        self.books = books
        with books.tx() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # --- objects ----------------------------------------------------------------------------

    def get(self, env: str, kind: str, object_id: str, *, label: str | None = None) -> Row:
        row = self.books.one(
            "SELECT body FROM st_objects WHERE id = ? AND env = ? AND kind = ? AND deleted = 0",
            object_id,
            env,
            kind,
        )
        if row is None:
            raise missing(label or kind, object_id)
        body: Row = json.loads(row["body"])
        return body

    def find(self, object_id: str) -> Row | None:
        """Any live object by id, whatever its kind (for `expand[]`)."""
        row = self.books.one("SELECT body FROM st_objects WHERE id = ? AND deleted = 0", object_id)
        return json.loads(row["body"]) if row else None

    def put(self, db: sqlite3.Connection, env: str, obj: Row) -> Row:
        """Insert or replace `obj` (its `object` member is its kind)."""
        db.execute(
            "INSERT INTO st_objects (id, env, kind, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            (obj["id"], env, obj["object"], json.dumps(obj)),
        )
        return obj

    def delete(self, db: sqlite3.Connection, object_id: str) -> None:
        db.execute("UPDATE st_objects SET deleted = 1 WHERE id = ?", (object_id,))

    def objects(self, env: str, kind: str, **filters: object) -> list[Row]:
        """Live objects of a kind, newest first; each filter is a JSON path (`__` for `.`)
        and the value it must equal."""
        sql = "SELECT body FROM st_objects WHERE env = ? AND kind = ? AND deleted = 0"
        args: list[object] = [env, kind]
        for name, value in filters.items():
            if value is None:
                continue
            sql += " AND json_extract(body, ?) = ?"
            args += ["$." + name.replace("__", "."), value]
        rows = self.books.all(sql + " ORDER BY seq DESC", *args)
        return [json.loads(r["body"]) for r in rows]

    # --- time -------------------------------------------------------------------------------

    def clock_time(self, env: str, clock_id: str | None) -> int:
        """Now for an object: its test clock's frozen time, else the simulator's clock."""
        if clock_id:
            clock = self.get(env, "test_helpers.test_clock", clock_id)
            return int(clock["frozen_time"])
        return int(self.books.now())

    def customer_clock(self, env: str, customer_id: str | None) -> str | None:
        if not customer_id:
            return None
        row = self.books.one(
            "SELECT json_extract(body, '$.test_clock') AS clock FROM st_objects WHERE id = ?",
            customer_id,
        )
        return row["clock"] if row else None

    # --- money in the books -----------------------------------------------------------------

    def book_payment(
        self,
        db: sqlite3.Connection,
        env: str,
        charge: Row,
        key: str | None,
        subscription_id: str | None,
    ) -> None:
        card = charge["payment_method_details"]["card"]
        db.execute(
            "INSERT INTO payments (id, env, external_id, amount, currency, status, "
            "amount_refunded, failure_code, card_brand, card_last4, subscription_id, "
            "description, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            (
                charge["id"],
                env,
                key,
                charge["amount"],
                charge["currency"],
                "succeeded" if charge["status"] == "succeeded" else "failed",
                charge["failure_code"],
                card["brand"],
                card["last4"],
                subscription_id,
                charge["description"],
                charge["created"],
            ),
        )

    def book_refund(
        self, db: sqlite3.Connection, env: str, refund: Row, key: str | None, charge: Row
    ) -> None:
        db.execute(
            "INSERT INTO refunds (id, env, external_id, payment_id, amount, status, reason, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                refund["id"],
                env,
                key,
                charge["id"],
                refund["amount"],
                refund["status"],
                refund["reason"],
                refund["created"],
            ),
        )
        refunded = charge["amount_refunded"]
        db.execute(
            "UPDATE payments SET amount_refunded = ?, status = ? WHERE id = ?",
            (refunded, "refunded" if charge["refunded"] else "partially_refunded", charge["id"]),
        )

    def book_refund_status(self, db: sqlite3.Connection, refund: Row) -> None:
        db.execute("UPDATE refunds SET status = ? WHERE id = ?", (refund["status"], refund["id"]))

    # --- events -----------------------------------------------------------------------------

    def emit(
        self, db: sqlite3.Connection, env: str, kind: str, obj: Row, previous: Row | None = None
    ) -> None:
        """Queue a Stripe event about `obj` (a snapshot as it is now) in `db`'s transaction."""
        payload = {
            "id": obj["id"],
            "object": obj,
            "previous": previous,
            "request": CURRENT_REQUEST.get(),
        }
        self.books.record_event(db, env, kind, obj["object"], payload)

    def envelope(self, event_id: str, kind: str, payload: Row, env: str, created: float) -> Row:
        """Stripe's Event object (https://docs.stripe.com/api/events/object)."""
        data: Row = {"object": payload["object"]}
        if payload.get("previous"):
            data["previous_attributes"] = payload["previous"]
        request = payload.get("request") or {"id": None, "idempotency_key": None}
        return {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": int(created),
            "data": data,
            "livemode": env == "live",
            "pending_webhooks": self._pending(env, kind),
            "request": request,
            "type": kind,
        }

    def _pending(self, env: str, kind: str) -> int:
        rows = self.books.all(
            "SELECT events FROM endpoints WHERE enabled = 1 AND (env IS NULL OR env = ?)", env
        )
        return sum(1 for r in rows if {"*", kind} & set(json.loads(r["events"])))

    def events(self, env: str) -> list[Row]:
        """Every event of the environment, newest first, as it was sent."""
        rows = self.books.all(
            "SELECT payload FROM events WHERE env = ? AND payload IS NOT NULL ORDER BY seq DESC",
            env,
        )
        return [json.loads(r["payload"]) for r in rows]


def now() -> int:
    return int(time.time())


class Routes:
    """What every route class of the dialect reads; the dialect sets them in `app()`."""

    store: Store
    faults: Faults
    time_scale: float  # the simulator's: scales what Stripe does later on its own

    def later(self, seconds: float) -> None:
        """Catch up on what falls due in `seconds` (a clock's advance, a pending refund)."""
        raise NotImplementedError
