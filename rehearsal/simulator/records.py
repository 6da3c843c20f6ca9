"""The books' SQLite file: schema, connection, transactions, the public read API, the keys,
the simulator's clock, and the event log with its webhook endpoints and outbox.

One connection and one lock; every write is a short `tx()` transaction, after which the
deliverer is woken (`on_enqueue`). `one`/`all` are the public reads a dialect uses for its
own tables and the books'. Events are rendered by the dialect when recorded and queued for
each matching endpoint in the caller's transaction. Nothing here knows what money is
(charges.py, books.py) or what a provider's wire looks like (the dialects).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

# The secondary indexes the books' per-request and per-delivery queries use (issue 28):
# without them each of those queries scans its whole table, and the books are never pruned.
# Created after the column migrations below (one of them reads `clock_offset`), so a books
# file written before they existed gains them when it is opened. `INDEXES` names each.
INDEXES: dict[str, str] = {
    # due_deliveries (state = 'pending' AND next_at <= ? ORDER BY next_at) and the next due
    # time after those (MIN(next_at) ... next_at > ?)
    "outbox_due": "outbox (state, next_at)",
    # newer_pending (endpoint_id = ? AND state = 'pending' AND seq > ? ORDER BY seq) and the
    # endpoint's removal and repointing (endpoint_id = ? AND state = 'pending')
    "outbox_endpoint": "outbox (endpoint_id, state)",
    # events_after and a dialect's latest events (env = ? [AND seq > ?] ORDER BY seq)
    "events_env": "events (env)",
    # by_external_id (env = ? AND external_id = ?), an idempotent replay's lookup
    "payments_external": "payments (env, external_id)",
    "refunds_external": "refunds (env, external_id)",
    "subscriptions_external": "subscriptions (env, external_id)",
    # a subscription's payments (subscription_id = ? ORDER BY created_at, id)
    "payments_subscription": "payments (subscription_id, created_at)",
    # PayMongo's timed work, every deliverer pass: the refunds still pending (status = ?)
    "refunds_status": "refunds (status)",
    # a payment's refunds (payment_id = ? ORDER BY created_at, id)
    "refunds_payment": "refunds (payment_id, created_at)",
    # the renewals due (status = 'active' AND period_end - clock_offset <= ? ORDER BY it)
    # and the scheduler's next one (MIN(period_end - clock_offset) WHERE status = 'active')
    "subscriptions_due": "subscriptions (status, period_end - clock_offset)",
}
_INDEX_SCRIPT = "".join(
    f"CREATE INDEX IF NOT EXISTS {name} ON {target};\n" for name, target in INDEXES.items()
)


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


def insert(db: sqlite3.Connection, table: str, row: Row) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(row.values()))


class Records:
    """The books' file and its event log. Thread-safe: one connection, one lock, short
    transactions."""

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
        self._db.executescript(_INDEX_SCRIPT)
        self._lock = threading.RLock()
        self._render_event = render_event
        self.on_enqueue: Callable[[], None] = lambda: None
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

    # --- the simulator's clock (books.py has the subscriptions' own) -----------------------

    def now(self) -> float:
        return time.time() + float(self._meta("clock_offset") or 0)

    def _shift_clock(self, db: sqlite3.Connection, seconds: float) -> None:
        offset = float(self._meta("clock_offset") or 0) + seconds
        db.execute("INSERT OR REPLACE INTO meta VALUES ('clock_offset', ?)", (str(offset),))

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
            insert(db, "endpoints", row)
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
