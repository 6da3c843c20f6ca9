"""The simulator's books: payments, refunds, subscriptions, idempotency, events, outbox.

Everything lives in one SQLite file so the books outlive any client (and, for crash tests,
the simulator process itself). Rows are dialect-neutral; a dialect renders them for the
wire. The engine applies the rules a real provider enforces: refunds up to the original
amount, idempotent replays per externalId, renewals when the (test) clock passes a period
end, and an event for every state change, queued for delivery in the same transaction.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rehearsal.simulator.mintcash.wire import TEST_CARDS

Row = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, external_id TEXT, amount INTEGER NOT NULL,
  currency TEXT NOT NULL, status TEXT NOT NULL, amount_refunded INTEGER NOT NULL DEFAULT 0,
  failure_code TEXT, card_brand TEXT, card_last4 TEXT, subscription_id TEXT,
  description TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, external_id TEXT, payment_id TEXT NOT NULL,
  amount INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY, env TEXT NOT NULL, external_id TEXT, amount INTEGER NOT NULL,
  currency TEXT NOT NULL, interval TEXT NOT NULL, status TEXT NOT NULL, card_token TEXT,
  card_brand TEXT, card_last4 TEXT, period_start REAL NOT NULL, period_end REAL NOT NULL,
  renewals INTEGER NOT NULL DEFAULT 0, latest_payment_id TEXT, cancel_reason TEXT,
  created_at REAL NOT NULL, cancelled_at REAL, clock_offset REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS idempotency (
  env TEXT NOT NULL, scope TEXT NOT NULL, external_id TEXT NOT NULL, body_hash TEXT NOT NULL,
  status INTEGER NOT NULL, response TEXT NOT NULL, PRIMARY KEY (env, scope, external_id));
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, env TEXT NOT NULL,
  type TEXT NOT NULL, object_kind TEXT NOT NULL, object_id TEXT NOT NULL,
  created_at REAL NOT NULL, payload BLOB);
CREATE TABLE IF NOT EXISTS endpoints (
  id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, env TEXT,
  created_at REAL NOT NULL, enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, endpoint_id TEXT NOT NULL,
  type TEXT NOT NULL, payload BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'pending', last_status INTEGER,
  held INTEGER NOT NULL DEFAULT 0);
"""

_BRANDS = {"4": "visa", "5": "mastercard"}


class BooksError(Exception):
    """A request the provider refuses: HTTP status, error type and code, a message."""

    def __init__(self, status: int, kind: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.message = status, kind, code, message


@dataclass(frozen=True)
class Keys:
    test_secret: str
    live_secret: str
    webhook_secret: str


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def add_interval(ts: float, interval: str) -> float:
    start = datetime.fromtimestamp(ts, UTC)
    if interval == "day":
        return (start + timedelta(days=1)).timestamp()
    if interval == "week":
        return (start + timedelta(weeks=1)).timestamp()
    months = 1 if interval == "month" else 12
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day).timestamp()


class Books:
    """The simulator's state. Thread-safe: one connection, one lock, short transactions."""

    def __init__(
        self, path: Path | str, render_event: Callable[[str, str, Row, str, float], bytes]
    ):
        """`render_event(event_id, type, object_row, env, created_at)` gives the wire body."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process (what crash tests do); only an OS crash
        # could lose the last transaction, which a simulator can afford.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        if "payload" not in columns:  # books written by 0.1.0 before events kept their body
            self._db.execute("ALTER TABLE events ADD COLUMN payload BLOB")
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(subscriptions)")}
        if "clock_offset" not in columns:  # books written before subscriptions had own clocks
            self._db.execute(
                "ALTER TABLE subscriptions ADD COLUMN clock_offset REAL NOT NULL DEFAULT 0"
            )
        self._lock = threading.RLock()
        self._render_event = render_event
        self.on_enqueue: Callable[[], None] = lambda: None
        # A dialect whose provider has its own test cards replaces this (PayMongo's does).
        self.resolve_card: Callable[[str], Row] = _card
        # Why a subscription's renewal charge fails whatever its card (a failure code), or
        # None: the card decides. A dialect sets it (a fault switch, a card documented to
        # fail recurring payments).
        self.renewal_failure: Callable[[Row], str | None] = lambda sub: None
        # An event a dialect's provider sends for a failed renewal before the subscription's
        # `subscription.past_due` (PayMongo: subscription.invoice.payment_failed), or None.
        self.renewal_failed_event: str | None = None
        # A dialect's own work that falls due with time (PayMongo: pending refunds settle),
        # run by the deliverer's loop: `timed_work(now, time_scale)` does what is due by
        # `now` (wall clock) and returns when more falls due (None: nothing pending).
        self.timed_work: Callable[[float, float], float | None] = lambda now, scale: None
        self.keys = self._keys()

    # --- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self.on_enqueue()  # wake the deliverer: the transaction may have queued events

    # --- the public read API: a dialect's own tables (pm_*, st_*) and the books' --------------

    def one(self, sql: str, *args: object) -> Row | None:
        """The first row of a read-only query, or None; outside any transaction."""
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return dict(row) if row else None

    def all(self, sql: str, *args: object) -> list[Row]:
        """Every row of a read-only query; outside any transaction."""
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def _meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def _keys(self) -> Keys:
        with self.tx() as db:
            values = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if "test_secret" not in values:
                values = {
                    "test_secret": "sk_test_sim_" + secrets.token_hex(16),
                    "live_secret": "sk_live_sim_" + secrets.token_hex(16),
                    "webhook_secret": "whsec_sim_" + secrets.token_hex(24),
                }
                db.executemany("INSERT INTO meta VALUES (?, ?)", values.items())
        return Keys(values["test_secret"], values["live_secret"], values["webhook_secret"])

    def environment_for_key(self, key: str) -> str | None:
        if secrets.compare_digest(key, self.keys.test_secret):
            return "test"
        if secrets.compare_digest(key, self.keys.live_secret):
            return "live"
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- the clock --------------------------------------------------------------------------
    #
    # One clock for the simulator (`now`, moved by the control route `/_sim/clock/advance`:
    # time passes for everyone) and, on top of it, one for each subscription: a test clock
    # advance (MintCash's advance, PayMongo's test_cycle) concerns its own subscription only,
    # so two runs sharing a simulator never get each other's renewals. A subscription's
    # period_start and period_end are on its own clock: `now` plus its `clock_offset`.

    def now(self) -> float:
        return time.time() + float(self._meta("clock_offset") or 0)

    def advance_clock(self, seconds: float) -> None:
        with self.tx() as db:
            self._shift_clock(db, seconds)
            self._renew_due(db)

    def _shift_clock(self, db: sqlite3.Connection, seconds: float) -> None:
        offset = float(self._meta("clock_offset") or 0) + seconds
        db.execute("INSERT OR REPLACE INTO meta VALUES ('clock_offset', ?)", (str(offset),))

    def advance_to_renewal(
        self, env: str, subscription_id: str, db: sqlite3.Connection | None = None
    ) -> Row:
        """Move the subscription's own clock past its period end and renew it (no other
        subscription). In `db`'s transaction when given (an idempotent advance records its
        answer in the same one, so a retry can never renew twice), else in one of its own."""
        if db is None:
            with self.tx() as own:
                return self.advance_to_renewal(env, subscription_id, own)
        sub = self.subscription(env, subscription_id)
        if sub["status"] != "active":
            raise BooksError(
                400,
                "invalid_request",
                "subscription_not_active",
                f"subscription {subscription_id} is {sub['status']}",
            )
        own_now = self.now() + float(sub["clock_offset"])
        offset = float(sub["clock_offset"]) + max(0.0, sub["period_end"] - own_now) + 1
        db.execute("UPDATE subscriptions SET clock_offset = ? WHERE id = ?", (offset, sub["id"]))
        self._renew_due(db, only=sub["id"])
        return self.subscription(env, subscription_id)

    # --- idempotency ------------------------------------------------------------------------

    def replay(self, env: str, scope: str, external_id: str, body: Row) -> tuple[int, Row] | None:
        """The stored response for a repeated externalId, or None for a new one."""
        row = self.one(
            "SELECT body_hash, status, response FROM idempotency "
            "WHERE env = ? AND scope = ? AND external_id = ?",
            env,
            scope,
            external_id,
        )
        if row is None:
            return None
        if row["body_hash"] != _hash(body):
            raise BooksError(
                409,
                "idempotency_error",
                "external_id_reused",
                f"externalId {external_id!r} was already used with a different "
                "request body; use a new externalId for a new intent",
            )
        return int(row["status"]), json.loads(row["response"])

    def remember(
        self,
        db: sqlite3.Connection,
        env: str,
        scope: str,
        external_id: str,
        body: Row,
        status: int,
        response: Row,
    ) -> None:
        db.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
            (env, scope, external_id, _hash(body), status, json.dumps(response)),
        )

    # --- objects ----------------------------------------------------------------------------

    def payment(self, env: str, payment_id: str) -> Row:
        return self._get("payments", env, payment_id, "payment")

    def refund(self, env: str, refund_id: str) -> Row:
        return self._get("refunds", env, refund_id, "refund")

    def subscription(self, env: str, subscription_id: str) -> Row:
        return self._get("subscriptions", env, subscription_id, "subscription")

    def subscription_payments(self, env: str, subscription_id: str) -> list[Row]:
        self.subscription(env, subscription_id)  # 404 for an unknown subscription
        return self.all(
            "SELECT * FROM payments WHERE env = ? AND subscription_id = ? ORDER BY created_at, id",
            env,
            subscription_id,
        )

    def by_external_id(self, env: str, kind: str, external_id: str) -> Row | None:
        """The object created under `external_id`, if any call with it landed."""
        table = {"payment": "payments", "refund": "refunds", "subscription": "subscriptions"}[kind]
        return self.one(
            f"SELECT * FROM {table} WHERE env = ? AND external_id = ?", env, external_id
        )

    def refund_ids(self, payment_id: str) -> list[str]:
        rows = self.all(
            "SELECT id FROM refunds WHERE payment_id = ? ORDER BY created_at, id", payment_id
        )
        return [r["id"] for r in rows]

    def _get(self, table: str, env: str, object_id: str, what: str) -> Row:
        row = self.one(f"SELECT * FROM {table} WHERE id = ? AND env = ?", object_id, env)
        if row is None:
            raise BooksError(404, "invalid_request", "resource_missing", f"no {what} {object_id}")
        return row

    def create_payment(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        external_id: str | None,
        amount: int,
        currency: str,
        card_token: str,
        description: str | None = None,
        subscription_id: str | None = None,
        fail_with: str | None = None,
        at: float | None = None,
    ) -> Row:
        """A charge of the card; `fail_with` (a failure code) declines it whatever the card;
        `at`: when it happened (a renewal's, on its subscription's clock), else now."""
        card = self.resolve_card(card_token)
        if fail_with:
            card = {**card, "failure_code": fail_with}
        now = self.now() if at is None else at
        row: Row = {
            "id": new_id("pay"),
            "env": env,
            "external_id": external_id,
            "amount": amount,
            "currency": currency,
            "status": "failed" if card["failure_code"] else "succeeded",
            "amount_refunded": 0,
            "failure_code": card["failure_code"],
            "card_brand": card["brand"],
            "card_last4": card["last4"],
            "subscription_id": subscription_id,
            "description": description,
            "created_at": now,
        }
        _insert(db, "payments", row)
        kind = "payment.failed" if row["failure_code"] else "payment.succeeded"
        self._event(db, env, kind, "payment", row)
        return row

    def create_refund(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        external_id: str,
        payment_id: str,
        amount: int | None,
        reason: str | None,
    ) -> Row:
        payment = db.execute(
            "SELECT * FROM payments WHERE id = ? AND env = ?", (payment_id, env)
        ).fetchone()
        if payment is None:
            raise BooksError(404, "invalid_request", "resource_missing", f"no payment {payment_id}")
        payment = dict(payment)
        if payment["status"] == "failed":
            raise BooksError(
                400,
                "invalid_request",
                "payment_not_refundable",
                f"payment {payment_id} failed; there is nothing to refund",
            )
        left = payment["amount"] - payment["amount_refunded"]
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise BooksError(
                400,
                "invalid_request",
                "amount_exceeds_refundable",
                f"refund of {amount} exceeds the {left} left to refund on payment {payment_id}",
            )
        refund: Row = {
            "id": new_id("re"),
            "env": env,
            "external_id": external_id,
            "payment_id": payment_id,
            "amount": amount,
            "status": "succeeded",
            "reason": reason,
            "created_at": self.now(),
        }
        _insert(db, "refunds", refund)
        payment["amount_refunded"] += amount
        payment["status"] = (
            "refunded" if payment["amount_refunded"] == payment["amount"] else "partially_refunded"
        )
        db.execute(
            "UPDATE payments SET amount_refunded = ?, status = ? WHERE id = ?",
            (payment["amount_refunded"], payment["status"], payment_id),
        )
        self._event(db, env, "payment.refunded", "payment", payment)
        return refund

    def create_subscription(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        external_id: str,
        amount: int,
        currency: str,
        interval: str,
        card_token: str,
    ) -> Row:
        card = self.resolve_card(card_token)
        if card["failure_code"]:
            raise BooksError(
                402,
                "card_error",
                card["failure_code"],
                "the card was declined; no subscription was created",
            )
        now = self.now()
        sub: Row = {
            "id": new_id("sub"),
            "env": env,
            "external_id": external_id,
            "amount": amount,
            "currency": currency,
            "interval": interval,
            "status": "active",
            "card_token": card_token,
            "card_brand": card["brand"],
            "card_last4": card["last4"],
            "period_start": now,
            "period_end": add_interval(now, interval),
            "renewals": 0,
            "latest_payment_id": None,
            "cancel_reason": None,
            "created_at": now,
            "cancelled_at": None,
        }
        first = self.create_payment(
            db,
            env,
            external_id=None,
            amount=amount,
            currency=currency,
            card_token=card_token,
            subscription_id=sub["id"],
        )
        sub["latest_payment_id"] = first["id"]
        _insert(db, "subscriptions", sub)
        self._event(db, env, "subscription.created", "subscription", sub)
        return sub

    def cancel_subscription(self, env: str, subscription_id: str, reason: str | None) -> Row:
        with self.tx() as db:
            sub = self.subscription(env, subscription_id)
            if sub["status"] == "cancelled":
                return sub  # cancelling twice is harmless and sends no second event
            sub.update(status="cancelled", cancelled_at=self.now(), cancel_reason=reason)
            db.execute(
                "UPDATE subscriptions SET status = ?, cancelled_at = ?, cancel_reason = ? "
                "WHERE id = ?",
                (sub["status"], sub["cancelled_at"], reason, sub["id"]),
            )
            self._event(db, env, "subscription.cancelled", "subscription", sub)
            return sub

    def next_renewal_at(self) -> float | None:
        """Wall-clock time of the next renewal due, for the scheduler."""
        row = self.one(
            "SELECT MIN(period_end - clock_offset) AS t FROM subscriptions WHERE status = 'active'"
        )
        if row is None or row["t"] is None:
            return None
        return float(row["t"]) - float(self._meta("clock_offset") or 0)

    def run_due_renewals(self) -> int:
        """Charge every active subscription whose period has ended; return renewals made."""
        with self.tx() as db:
            return self._renew_due(db)

    def _renew_due(self, db: sqlite3.Connection, only: str | None = None) -> int:
        """Renew each active subscription (or only the one given) whose period has ended on
        its own clock; a renewal whose charge fails leaves it past_due."""
        done = 0
        while True:
            row = db.execute(
                "SELECT * FROM subscriptions WHERE status = 'active' AND "
                "period_end - clock_offset <= ? AND (? IS NULL OR id = ?) "
                "ORDER BY period_end - clock_offset LIMIT 1",
                (self.now(), only, only),
            ).fetchone()
            if row is None:
                return done
            sub = dict(row)
            payment = self.create_payment(
                db,
                sub["env"],
                external_id=None,
                amount=sub["amount"],
                currency=sub["currency"],
                card_token=sub["card_token"],
                subscription_id=sub["id"],
                fail_with=self.renewal_failure(sub),
                at=self.now() + float(sub["clock_offset"]),
            )
            sub["latest_payment_id"] = payment["id"]
            if payment["status"] == "succeeded":
                sub["renewals"] += 1
                sub["period_start"] = sub["period_end"]
                sub["period_end"] = add_interval(sub["period_end"], sub["interval"])
                kind = "subscription.renewed"
            else:
                sub["status"] = "past_due"
                kind = "subscription.past_due"
                if self.renewal_failed_event:
                    self._event(db, sub["env"], self.renewal_failed_event, "subscription", sub)
            db.execute(
                "UPDATE subscriptions SET renewals = ?, period_start = ?, "
                "period_end = ?, status = ?, latest_payment_id = ? WHERE id = ?",
                (
                    sub["renewals"],
                    sub["period_start"],
                    sub["period_end"],
                    sub["status"],
                    sub["latest_payment_id"],
                    sub["id"],
                ),
            )
            self._event(db, sub["env"], kind, "subscription", sub)
            done += 1

    # --- events and delivery ----------------------------------------------------------------

    def record_event(
        self, db: sqlite3.Connection, env: str, kind: str, object_kind: str, obj: Row
    ) -> None:
        """Queue an event a dialect's own resources caused, in the caller's transaction."""
        self._event(db, env, kind, object_kind, obj)

    def _event(
        self, db: sqlite3.Connection, env: str, kind: str, object_kind: str, obj: Row
    ) -> None:
        event_id = new_id("evt")
        created = time.time()
        body = self._render_event(event_id, kind, {**obj, "object_kind": object_kind}, env, created)
        # The body is kept as sent: GET /events shows the object as it was at the event.
        db.execute(
            "INSERT INTO events (id, env, type, object_kind, object_id, created_at, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event_id, env, kind, object_kind, obj["id"], created, body),
        )
        for ep in db.execute("SELECT id, events, env FROM endpoints WHERE enabled = 1"):
            wanted = json.loads(ep["events"])
            if (ep["env"] in (None, env)) and ("*" in wanted or kind in wanted):
                db.execute(
                    "INSERT INTO outbox (event_id, endpoint_id, type, payload, next_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event_id, ep["id"], kind, body, time.time()),
                )

    def events_after(self, env: str, after: str | None, limit: int) -> list[Row]:
        seq = 0
        if after:
            row = self.one("SELECT seq FROM events WHERE id = ? AND env = ?", after, env)
            if row is None:
                raise BooksError(404, "invalid_request", "resource_missing", f"no event {after}")
            seq = row["seq"]
        return self.all(
            "SELECT * FROM events WHERE env = ? AND seq > ? ORDER BY seq LIMIT ?", env, seq, limit
        )

    def object_row(self, kind: str, object_id: str) -> Row | None:
        table = {"payment": "payments", "refund": "refunds", "subscription": "subscriptions"}[kind]
        return self.one(f"SELECT * FROM {table} WHERE id = ?", object_id)

    def add_endpoint(self, url: str, events: list[str], env: str | None) -> Row:
        row: Row = {
            "id": new_id("we"),
            "url": url,
            "events": json.dumps(events),
            "env": env,
            "created_at": time.time(),
            "enabled": 1,
        }
        with self.tx() as db:
            _insert(db, "endpoints", row)
        return row

    def remove_endpoint(self, endpoint_id: str) -> bool:
        with self.tx() as db:
            cur = db.execute("UPDATE endpoints SET enabled = 0 WHERE id = ?", (endpoint_id,))
            db.execute(
                "UPDATE outbox SET state = 'cancelled' WHERE endpoint_id = ? AND state = 'pending'",
                (endpoint_id,),
            )
            return cur.rowcount > 0

    def repoint_endpoint(self, endpoint_id: str, url: str) -> bool:
        """Send an enabled endpoint's pending and future deliveries to `url` instead, and
        retry the ones that already failed now (the way an operator presses "resend" after
        fixing an endpoint), rather than at the next step of their backoff."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE endpoints SET url = ? WHERE id = ? AND enabled = 1", (url, endpoint_id)
            )
            if cur.rowcount == 0:
                return False
            db.execute(
                "UPDATE outbox SET next_at = MIN(next_at, ?) "
                "WHERE endpoint_id = ? AND state = 'pending' AND attempts > 0",
                (time.time(), endpoint_id),
            )
            return True

    def endpoint_url(self, endpoint_id: str) -> str | None:
        row = self.one("SELECT url FROM endpoints WHERE id = ? AND enabled = 1", endpoint_id)
        return row["url"] if row else None

    def due_deliveries(self, now: float) -> tuple[list[Row], float | None]:
        """Pending deliveries due by `now`, and when the next one after those falls due.
        Each row's `lane` is the object its event is about (deliveries keep order in one)."""
        due = self.all(
            "SELECT o.*, COALESCE(e.object_id, 'outbox-' || o.seq) AS lane FROM outbox o "
            "LEFT JOIN events e ON e.id = o.event_id "
            "WHERE o.state = 'pending' AND o.next_at <= ? ORDER BY o.next_at, o.seq",
            now,
        )
        nxt = self.one(
            "SELECT MIN(next_at) AS t FROM outbox WHERE state = 'pending' AND next_at > ?", now
        )
        return due, (nxt["t"] if nxt and nxt["t"] is not None else None)

    def mark_delivery(
        self,
        seq: int,
        *,
        state: str,
        attempts: int,
        next_at: float,
        last_status: int | None,
        held: int = 0,
    ) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_status = ?, "
                "held = ? WHERE seq = ?",
                (state, attempts, next_at, last_status, held, seq),
            )

    def outbox_row(self, seq: int) -> Row | None:
        return self.one("SELECT * FROM outbox WHERE seq = ?", seq)

    def newer_pending(self, row: Row) -> Row | None:
        return self.one(
            "SELECT * FROM outbox WHERE state = 'pending' AND endpoint_id = ? "
            "AND seq > ? ORDER BY seq LIMIT 1",
            row["endpoint_id"],
            row["seq"],
        )

    def summary(self) -> Row:
        """The books at a glance, for `rehearsal simulator` tests and crash checks."""
        return {
            "payments": self.all(
                "SELECT id, env, external_id, amount, currency, status, "
                "amount_refunded, subscription_id FROM payments ORDER BY "
                "created_at"
            ),
            "refunds": self.all(
                "SELECT id, env, external_id, payment_id, amount FROM refunds ORDER BY created_at"
            ),
            "subscriptions": self.all(
                "SELECT id, env, external_id, status, renewals "
                "FROM subscriptions ORDER BY created_at"
            ),
            "endpoints": self.all(
                "SELECT id, url, events, env, enabled FROM endpoints ORDER BY created_at"
            ),
            "outbox": {
                r["state"]: r["n"]
                for r in self.all("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            },
        }


def _insert(db: sqlite3.Connection, table: str, row: Row) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(row.values()))


def _hash(body: Row) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _card(token: str) -> Row:
    for card in TEST_CARDS:
        if token in (card.token, card.number):
            return {
                "brand": _BRANDS.get(card.number[0], "card"),
                "last4": card.number[-4:],
                "failure_code": card.failure_code,
            }
    raise BooksError(
        400,
        "invalid_request",
        "payment_method_invalid",
        "unknown payment method; the simulator knows the test cards in docs/providers/mintcash.md",
    )
