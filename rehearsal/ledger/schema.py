"""The ledger's tables, the columns added to them since, and how a connection is opened.

`migrate` only creates what is missing and adds columns: it never drops, renames or
rewrites what an older rehearsal wrote, so every ledger on disk stays readable.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
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
ADDED = [
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
    # What we know of the step's money call, apart from the step's verdict (ledger/states.py).
    ("steps", "outcome", "TEXT"),
    ("steps", "gave_up_at", "REAL"),  # when this process stopped waiting for its answer
    ("runs", "http_timeout", "REAL"),  # the client's timeout the run's calls were sent with
    # An existing webhook the run adopted (enabled, events changed): what to restore.
    ("registrations", "prior_status", "TEXT"),
    ("registrations", "prior_events", "TEXT"),
]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, rows by column name, shareable across threads."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout=5000")
    return db


def migrate(db: sqlite3.Connection) -> None:
    """Put the ledger in WAL mode, create the tables it lacks and add the columns."""
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    for table, column, decl in ADDED:
        if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
