"""The state database: runs, their steps, API calls and webhook deliveries, in SQLite (WAL).

A step's intent (its idempotency key and amount) is written before the call that moves
money, and its result after; every verified delivery is stored before the receiver answers.
This file never holds a secret: keys and webhook secrets stay in the environment, and the
payloads stored are the provider's event bodies (card brand and last four digits at most).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

from rehearsal.ledger.commit import Committer
from rehearsal.ledger.rows import (
    CompensationRow,
    ObservationRow,
    RegistrationRow,
    RunRow,
    StepRow,
)
from rehearsal.ledger.states import KEYED_ACTIONS, CallOutcome, StepState
from rehearsal.providers.base import ApiCall, NormalizedEvent, ProviderObject

STATE_DB = "rehearsal.sqlite"


class Delivery(NamedTuple):
    """One delivery to store: a verified event (None for one refused before parsing)."""

    run_id: str
    event: NormalizedEvent | None
    verdict: str
    reason: str | None = None
    via: str = "webhook"
    raw: bytes | None = None  # the body as received and verified: stored as it came


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, plan TEXT NOT NULL, plan_path TEXT NOT NULL, provider TEXT NOT NULL,
  environment TEXT NOT NULL, target TEXT NOT NULL, started_at REAL NOT NULL,
  ended_at REAL, verdict TEXT);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, position INTEGER NOT NULL,
  action TEXT NOT NULL, state TEXT NOT NULL, idempotency_key TEXT, amount INTEGER,
  object_kind TEXT, object_id TEXT, status TEXT, request_id TEXT, called_at REAL,
  confirmed_at REAL, confirmed_by TEXT, event_id TEXT, latency_ms REAL, message TEXT,
  PRIMARY KEY (run_id, step_id));
CREATE TABLE IF NOT EXISTS api_calls (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT,
  method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER, request_id TEXT,
  duration_ms REAL NOT NULL, replayed INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, event_id TEXT,
  type TEXT, provider_type TEXT, object_id TEXT, environment TEXT, verdict TEXT NOT NULL,
  reason TEXT, duplicates INTEGER NOT NULL DEFAULT 0, payload TEXT, received_at REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS deliveries_event ON deliveries (run_id, event_id)
  WHERE event_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS compensations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT NOT NULL,
  action TEXT NOT NULL, object_id TEXT NOT NULL, amount INTEGER, idempotency_key TEXT,
  state TEXT NOT NULL, request_id TEXT, message TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT,
  method TEXT NOT NULL, path TEXT NOT NULL, sent_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS observations (
  run_id TEXT NOT NULL, kind TEXT NOT NULL, object_id TEXT NOT NULL, step_id TEXT,
  status TEXT NOT NULL, amount INTEGER NOT NULL, amount_refunded INTEGER NOT NULL,
  currency TEXT, refund_unavailable INTEGER NOT NULL DEFAULT 0, seen_at REAL NOT NULL,
  PRIMARY KEY (run_id, kind, object_id));
CREATE TABLE IF NOT EXISTS registrations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, url TEXT NOT NULL,
  endpoint_id TEXT, state TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS forwards (
  run_id TEXT NOT NULL, event_id TEXT NOT NULL, type TEXT, status INTEGER,
  duration_ms REAL, problem TEXT, at REAL NOT NULL, PRIMARY KEY (run_id, event_id));
"""

# Columns added after the first release of a table: (table, column, declaration).
_ADDED = [
    ("runs", "target_kind", "TEXT NOT NULL DEFAULT 'embedded'"),
    ("runs", "api_base", "TEXT"),
    ("runs", "plan_json", "TEXT"),  # the validated plan, so a resume does not need the file
    ("runs", "timeout_scale", "REAL NOT NULL DEFAULT 1.0"),
    ("steps", "baseline", "INTEGER"),  # renewals counted before an await_renewal step
    ("runs", "exit_code", "INTEGER"),  # the reports: the outcome's exit code and message
    ("runs", "message", "TEXT"),
    ("steps", "started_at", "REAL"),  # the reports: when the step began and ended
    ("steps", "ended_at", "REAL"),
    ("steps", "deadline_at", "REAL"),  # when the step stopped waiting for its webhook
    ("steps", "awaited_object", "TEXT"),  # the object its webhook is about (a refund's payment)
    ("runs", "webhook_endpoint", "TEXT"),  # the simulator endpoint kept across a paused run
    ("deliveries", "via", "TEXT NOT NULL DEFAULT 'webhook'"),  # or events-api (no tunnel)
    ("observations", "refund_pending", "INTEGER NOT NULL DEFAULT 0"),  # of amount_refunded
    ("steps", "card", "TEXT"),  # brand and last four digits ("visa ••4242"), never more
    ("steps", "first_called_at", "REAL"),  # when its key was first sent (keys can expire)
    # What we know of the step's money call, apart from the step's verdict (ledger_states).
    ("steps", "outcome", "TEXT"),
    ("steps", "gave_up_at", "REAL"),  # when this process stopped waiting for its answer
    ("runs", "http_timeout", "REAL"),  # the client's timeout the run's calls were sent with
    # An existing webhook the run adopted (enabled, events changed): what to restore.
    ("registrations", "prior_status", "TEXT"),
    ("registrations", "prior_events", "TEXT"),
]


def state_dir(option: Path | None = None) -> Path:
    """--state-dir, else REHEARSAL_STATE_DIR, else $XDG_STATE_HOME/rehearsal."""
    if option is not None:
        return option
    if env := os.environ.get("REHEARSAL_STATE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "rehearsal"


def nearest_existing(path: Path) -> Path:
    """`path`, or its nearest parent that exists: where a folder to be made would go."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def state_dir_problem(option: Path | None = None) -> str | None:
    """Why the state folder cannot be used (None: it can): it must be a folder this process
    may write, or a path whose nearest existing parent is one (the folder is made later).
    Names the path; checked before anything opens the folder."""
    folder = state_dir(option)
    if folder.exists():
        if not folder.is_dir():
            return f"the state folder {folder} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"the state folder {folder} is not writable"
        return None
    parent = nearest_existing(folder.parent)
    if not parent.is_dir():
        return f"the state folder {folder} cannot be made: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the state folder {folder} cannot be made: {parent} is not writable"
    return None


class StateDB:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = _connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: each commit is on disk (fsync) before it returns, so an intent written
        # before a money call survives a power loss too, not only a crash. Writes of many
        # threads share a commit (ledger_commit.py). Deliveries alone commit at NORMAL
        # (record_deliveries), and ride on the next FULL commit's fsync.
        self._db.executescript(_SCHEMA)
        for table, column, decl in _ADDED:
            if column not in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        self._commits = Committer(self._db)
        # Reads on a connection of their own (WAL: they see every committed write), so a
        # read never waits behind another thread's fsync.
        self._reader = _connect(path)
        self._read_lock = threading.Lock()

    def close(self) -> None:
        with self._commits.lock, self._read_lock:
            self._db.close()
            self._reader.close()

    def _exec(self, sql: str, *args: Any) -> int | None:
        """One durable write; the row id it inserted, if any."""
        return self._commits.write(lambda db: db.execute(sql, args).lastrowid)

    def _note(self, sql: str, *args: Any) -> None:
        """A record of what already happened outside the ledger (an answer, what the API
        showed), committed at NORMAL: safe from a crash of rehearsal at once, on disk with
        the next durable write. The WAL keeps order, so a power loss leaves a prefix of the
        ledger: every intent before a money call (durable) is in it, and what it lost is
        read again from the provider on resume, as after a crash."""
        self._commits.write(lambda db: db.execute(sql, args), durable=False)

    def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self._read_lock:
            return [dict(r) for r in self._reader.execute(sql, args).fetchall()]

    # --- runs and steps ---------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        *,
        plan: str,
        plan_path: str,
        provider: str,
        environment: str,
        target: str,
        steps: list[tuple[str, str]],
        target_kind: str = "embedded",
        api_base: str | None = None,
        plan_json: str | None = None,
        timeout_scale: float = 1.0,
        http_timeout: float | None = None,
    ) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO runs (id, plan, plan_path, provider, environment, "
                "target, started_at, target_kind, api_base, plan_json, timeout_scale, "
                "http_timeout) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    plan,
                    plan_path,
                    provider,
                    environment,
                    target,
                    time.time(),
                    target_kind,
                    api_base,
                    plan_json,
                    timeout_scale,
                    http_timeout,
                ),
            )
            db.executemany(
                "INSERT INTO steps (run_id, step_id, position, action, state) "
                "VALUES (?, ?, ?, ?, 'pending')",
                [(run_id, sid, i, action) for i, (sid, action) in enumerate(steps)],
            )

        self._commits.write(write)

    def finish_run(
        self, run_id: str, verdict: str, exit_code: int | None = None, message: str | None = None
    ) -> None:
        self._exec(
            "UPDATE runs SET ended_at = ?, verdict = ?, exit_code = ?, message = ? WHERE id = ?",
            time.time(),
            verdict,
            exit_code,
            message,
            run_id,
        )

    def update_step(self, run_id: str, step_id: str, **fields: Any) -> None:
        """A step's progress (what it saw, what it made, when): a note, like the answers
        it records. It is safe from a crash of rehearsal at once and on disk with the next
        durable write, and every attempt that may move money writes one first (its
        intent, `step_intent`, then `record_send`): so a power loss leaves the ledger as a
        crash at some earlier point would have, which resume already handles."""
        self._note(*_step_update(run_id, step_id, fields))

    def step_intent(self, run_id: str, step_id: str, **fields: Any) -> None:
        """The step is about to call what may move money, with this key: durable (fsynced)
        before it returns, whatever else the call's path writes."""
        self._exec(*_step_update(run_id, step_id, fields))

    def run(self, run_id: str) -> RunRow | None:
        rows = self._rows("SELECT * FROM runs WHERE id = ?", run_id)
        return cast(RunRow, rows[0]) if rows else None

    def steps(self, run_id: str) -> list[StepRow]:
        rows = self._rows("SELECT * FROM steps WHERE run_id = ? ORDER BY position", run_id)
        return cast(list[StepRow], rows)

    def step(self, run_id: str, step_id: str) -> StepRow:
        rows = self._rows("SELECT * FROM steps WHERE run_id = ? AND step_id = ?", run_id, step_id)
        return cast(StepRow, rows[0])

    def call_outcome(self, row: StepRow) -> CallOutcome | None:
        """A step row's call outcome; rows written before the column existed are read from
        their state (an intent with no object was a call whose answer is unknown)."""
        if row["action"] not in KEYED_ACTIONS:
            return None  # refunds, cancels and renewals are settled from their objects
        if row["outcome"]:
            return CallOutcome(row["outcome"])
        if row["object_id"]:
            return CallOutcome.ANSWERED
        if row["state"] == StepState.CALLING or row["idempotency_key"]:
            return CallOutcome.INTENT
        return None

    def record_forward(
        self,
        run_id: str,
        event_id: str,
        event_type: str,
        status: int | None,
        duration_ms: float,
        problem: str | None,
    ) -> None:
        """What the merchant's own handler answered to a forwarded event (--forward-to)."""
        self._exec(
            "INSERT OR REPLACE INTO forwards (run_id, event_id, type, status, duration_ms, "
            "problem, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            run_id,
            event_id,
            event_type,
            status,
            duration_ms,
            problem,
            time.time(),
        )

    def forwards(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM forwards WHERE run_id = ? ORDER BY at", run_id)

    def set_webhook_endpoint(self, run_id: str, endpoint_id: str | None) -> None:
        self._exec("UPDATE runs SET webhook_endpoint = ? WHERE id = ?", endpoint_id, run_id)

    # --- calls and deliveries ---------------------------------------------------------------

    def record_call(self, run_id: str, step_id: str | None, call: ApiCall) -> None:
        self._note(
            "INSERT INTO api_calls (run_id, step_id, method, path, status, request_id, "
            "duration_ms, replayed, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_id,
            step_id,
            call.method,
            call.path,
            call.status,
            call.request_id,
            call.duration_ms,
            int(call.idempotent_replay),
            time.time(),
        )

    def record_delivery(
        self,
        run_id: str,
        event: NormalizedEvent | None,
        *,
        verdict: str,
        reason: str | None = None,
        via: str = "webhook",
    ) -> bool:
        """Store a delivery; for a verified event seen before, count a duplicate instead.

        Returns True when the event is new.
        """
        return self.record_deliveries([Delivery(run_id, event, verdict, reason, via)])[0]

    def note_delivery(self, run_id: str, event_id: str, reason: str) -> None:
        """Say what became of a stored delivery (a matrix's parked event: routed or not)."""
        self._commits.write(
            lambda db: db.execute(
                "UPDATE deliveries SET reason = ? WHERE run_id = ? AND event_id = ?",
                (reason, run_id, event_id),
            ),
            durable=False,
        )

    def record_deliveries(self, batch: Sequence[Delivery]) -> list[bool]:
        """Store several deliveries in one transaction (one commit, one fsync: the receiver's
        group commit); each verified event seen before counts a duplicate instead. Returns,
        for each, True when its event is new. All are stored, or none (the error is raised).
        """
        now = time.time()
        # durable=False: in the WAL, in the OS, before it returns (a crash of rehearsal
        # loses nothing acknowledged); on disk at the ledger's next FULL commit, the run's
        # end at the latest. The fsync would set the receiver's latency floor
        # (bench/README.md: "Durability"). Sharing a commit with other writes, it is FULL.
        return self._commits.write(
            lambda db: [_store_delivery(db, d, now) for d in batch], durable=False
        )

    def deliveries(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM deliveries WHERE run_id = ? ORDER BY seq", run_id)

    def parked_deliveries(self, since: float) -> list[dict[str, Any]]:
        """Verified events a matrix stored under its own id since `since` (parked: no run
        had claimed their object yet), whether routed on later or never owned."""
        return self._rows(
            "SELECT run_id, event_id, payload, via FROM deliveries "
            "WHERE run_id LIKE 'matrix-%' AND verdict = 'ignored' AND event_id IS NOT NULL "
            "AND payload IS NOT NULL AND received_at >= ? "
            "AND (reason LIKE 'parked:%' OR reason LIKE 'no run of this matrix owns %') "
            "ORDER BY seq",
            since,
        )

    def has_delivery(self, run_id: str, event_id: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM deliveries WHERE run_id = ? AND event_id = ? LIMIT 1",
                run_id,
                event_id,
            )
        )

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM api_calls WHERE run_id = ? ORDER BY seq", run_id)

    def runs(self, limit: int = 50) -> list[RunRow]:
        return cast(
            list[RunRow], self._rows("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", limit)
        )

    def record_send(self, run_id: str, step_id: str | None, method: str, path: str) -> None:
        """Written before each attempt is sent: the last one bounds when the call can land.
        Durable for what may move money; a GET's (never read by last_send) is a note."""
        (self._note if method == "GET" else self._exec)(
            "INSERT INTO attempts (run_id, step_id, method, path, sent_at) VALUES (?, ?, ?, ?, ?)",
            run_id,
            step_id,
            method,
            path,
            time.time(),
        )

    def last_send(self, run_id: str, step_id: str) -> float | None:
        rows = self._rows(
            "SELECT MAX(sent_at) AS t FROM attempts WHERE run_id = ? AND step_id = ? "
            "AND method != 'GET'",
            run_id,
            step_id,
        )
        return rows[0]["t"] if rows else None

    # --- what the provider's API showed (the settle engine's record of the books) ---------

    def observe(
        self,
        run_id: str,
        obj: ProviderObject,
        step_id: str | None = None,
        *,
        refund_unavailable: bool | None = None,
    ) -> None:
        """Record a payment or subscription as the provider's API just showed it."""
        if obj.kind == "refund":
            return  # a refund shows on its payment, which is observed instead
        self._note(
            "INSERT INTO observations (run_id, kind, object_id, step_id, status, amount, "
            "amount_refunded, currency, refund_unavailable, seen_at, refund_pending) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, kind, object_id) DO UPDATE SET status = excluded.status, "
            "amount = excluded.amount, amount_refunded = excluded.amount_refunded, "
            "refund_pending = excluded.refund_pending, "
            "currency = excluded.currency, seen_at = excluded.seen_at, "
            "step_id = COALESCE(observations.step_id, excluded.step_id), "
            "refund_unavailable = CASE WHEN ? IS NULL THEN observations.refund_unavailable "
            "ELSE excluded.refund_unavailable END",
            *(
                run_id,
                obj.kind,
                obj.id,
                step_id,
                obj.status,
                obj.amount,
                obj.amount_refunded,
                obj.currency,
                int(bool(refund_unavailable)),
                time.time(),
                obj.amount_refund_pending,
                refund_unavailable,
            ),
        )

    def observations(self, run_id: str) -> list[ObservationRow]:
        rows = self._rows(
            "SELECT * FROM observations WHERE run_id = ? ORDER BY seen_at, object_id", run_id
        )
        return cast(list[ObservationRow], rows)

    # --- webhook registrations made through a provider's API --------------------------------

    def registration_intent(self, run_id: str, url: str, state: str = "intent") -> int:
        """Written before the registering call: a killed run's registration is found later.
        "looking": the provider's webhooks are being listed, nothing changed yet."""
        row = self._exec(
            "INSERT INTO registrations (run_id, url, state, at) VALUES (?, ?, ?, ?)",
            run_id,
            url,
            state,
            time.time(),
        )
        return int(row or 0)

    def registration_prior(
        self, seq: int, endpoint_id: str, status: str, events: list[str]
    ) -> None:
        """Written before the run changes an existing webhook: what cleanup restores."""
        self._exec(
            "UPDATE registrations SET state = 'adopting', endpoint_id = ?, prior_status = ?, "
            "prior_events = ?, at = ? WHERE seq = ?",
            endpoint_id,
            status,
            json.dumps(events),
            time.time(),
            seq,
        )

    def registration_state(self, seq: int, state: str, endpoint_id: str | None = None) -> None:
        self._exec(
            "UPDATE registrations SET state = ?, endpoint_id = COALESCE(?, endpoint_id), "
            "at = ? WHERE seq = ?",
            state,
            endpoint_id,
            time.time(),
            seq,
        )

    def registrations(self, run_id: str) -> list[RegistrationRow]:
        rows = self._rows("SELECT * FROM registrations WHERE run_id = ? ORDER BY seq", run_id)
        return cast(list[RegistrationRow], rows)

    # --- compensation -----------------------------------------------------------------------

    def compensation_intent(
        self,
        run_id: str,
        step_id: str,
        action: str,
        object_id: str,
        amount: int | None,
        key: str | None,
    ) -> int:
        """Written before the refund or cancel call; returns the row to settle."""
        row = self._exec(
            "INSERT INTO compensations (run_id, step_id, action, object_id, "
            "amount, idempotency_key, state, at) VALUES (?, ?, ?, ?, ?, ?, "
            "'intent', ?)",
            run_id,
            step_id,
            action,
            object_id,
            amount,
            key,
            time.time(),
        )
        return int(row or 0)

    def compensation_result(
        self, seq: int, state: str, request_id: str | None = None, message: str | None = None
    ) -> None:
        self._exec(
            "UPDATE compensations SET state = ?, request_id = ?, message = ?, at = ? WHERE seq = ?",
            state,
            request_id,
            message,
            time.time(),
            seq,
        )

    def compensations(self, run_id: str) -> list[CompensationRow]:
        rows = self._rows("SELECT * FROM compensations WHERE run_id = ? ORDER BY seq", run_id)
        return cast(list[CompensationRow], rows)


def _payload_text(d: Delivery) -> str:
    """The event as stored: the verified body exactly as the provider signed it (no second
    encoding on the writer's thread), or the parsed payload encoded again when there is no
    body (an event read from an events API) or it is not UTF-8."""
    if d.raw is not None:
        try:
            return d.raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    assert d.event is not None
    return json.dumps(dict(d.event.payload))


def _store_delivery(db: sqlite3.Connection, d: Delivery, now: float) -> bool:
    """Insert one delivery (in the caller's transaction); for a verified event seen before,
    count a duplicate instead. True when its event is new."""
    event = d.event
    if event is None:
        db.execute(
            "INSERT INTO deliveries (run_id, verdict, reason, received_at, via) "
            "VALUES (?, ?, ?, ?, ?)",
            (d.run_id, d.verdict, d.reason, now, d.via),
        )
        return False
    stored = db.execute(
        "INSERT INTO deliveries (run_id, event_id, type, provider_type, "
        "object_id, environment, verdict, reason, payload, received_at, via) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, event_id) WHERE event_id IS NOT NULL DO NOTHING",
        (
            d.run_id,
            event.event_id,
            event.type,
            event.provider_type,
            event.object.id if event.object else None,
            event.environment,
            d.verdict,
            d.reason,
            _payload_text(d),
            now,
            d.via,
        ),
    )
    if stored.rowcount == 1:
        return True
    db.execute(  # seen before (the unique index deliveries_event): a duplicate
        "UPDATE deliveries SET duplicates = duplicates + 1 WHERE run_id = ? AND event_id = ?",
        (d.run_id, event.event_id),
    )
    return False


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _step_update(run_id: str, step_id: str, fields: dict[str, Any]) -> tuple[Any, ...]:
    """The UPDATE of a step's `fields` and its arguments (column names are ours, from code)."""
    cols = ", ".join(f"{k} = ?" for k in fields)
    sql = f"UPDATE steps SET {cols} WHERE run_id = ? AND step_id = ?"
    return (sql, *fields.values(), run_id, step_id)
