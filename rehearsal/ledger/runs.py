"""The ledger's runs and their steps, and the API calls and attempts each step made.

A step's intent (its idempotency key and amount) and each attempt's send time are written
durably before the call that may move money (`step_intent`, `record_send`); its progress
and the answers are notes. Rows come back typed, their states as the enums of states.py.
"""

from __future__ import annotations

import sqlite3
import time
from typing import cast

from rehearsal.ledger.connection import Connection, SqlValue
from rehearsal.ledger.rows import RunRow, StepRow, UntypedRow
from rehearsal.ledger.states import KEYED_ACTIONS, CallOutcome, RunVerdict, StepState
from rehearsal.providers.base import ApiCall


class RunsAndSteps(Connection):
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
        self,
        run_id: str,
        verdict: RunVerdict,
        exit_code: int | None = None,
        message: str | None = None,
    ) -> None:
        self._exec(
            "UPDATE runs SET ended_at = ?, verdict = ?, exit_code = ?, message = ? WHERE id = ?",
            time.time(),
            verdict,
            exit_code,
            message,
            run_id,
        )

    def update_step(self, run_id: str, step_id: str, **fields: SqlValue) -> None:
        """A step's progress (what it saw, what it made, when): a note, like the answers
        it records. It is safe from a crash of rehearsal at once and on disk with the next
        durable write, and every attempt that may move money writes one first (its
        intent, `step_intent`, then `record_send`): so a power loss leaves the ledger as a
        crash at some earlier point would have, which resume already handles."""
        sql, args = _step_update(run_id, step_id, fields)
        self._note(sql, *args)

    def step_intent(self, run_id: str, step_id: str, **fields: SqlValue) -> None:
        """The step is about to call what may move money, with this key: durable (fsynced)
        before it returns, whatever else the call's path writes."""
        sql, args = _step_update(run_id, step_id, fields)
        self._exec(sql, *args)

    def run(self, run_id: str) -> RunRow | None:
        rows = self._rows("SELECT * FROM runs WHERE id = ?", run_id)
        return _run_row(rows[0]) if rows else None

    def runs(self, limit: int = 50) -> list[RunRow]:
        rows = self._rows("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", limit)
        return [_run_row(r) for r in rows]

    def steps(self, run_id: str) -> list[StepRow]:
        rows = self._rows("SELECT * FROM steps WHERE run_id = ? ORDER BY position", run_id)
        return [_step_row(r) for r in rows]

    def step(self, run_id: str, step_id: str) -> StepRow:
        rows = self._rows("SELECT * FROM steps WHERE run_id = ? AND step_id = ?", run_id, step_id)
        return _step_row(rows[0])

    def call_outcome(self, row: StepRow) -> CallOutcome | None:
        """A step row's call outcome; rows written before the column existed are read from
        their state (an intent with no object was a call whose answer is unknown)."""
        if row["action"] not in KEYED_ACTIONS:
            return None  # refunds, cancels and renewals are settled from their objects
        if row["outcome"]:
            return row["outcome"]
        if row["object_id"]:
            return CallOutcome.ANSWERED
        if row["state"] == StepState.CALLING or row["idempotency_key"]:
            return CallOutcome.INTENT
        return None

    def set_webhook_endpoint(self, run_id: str, endpoint_id: str | None) -> None:
        self._exec("UPDATE runs SET webhook_endpoint = ? WHERE id = ?", endpoint_id, run_id)

    # --- the API calls a run made, and when each attempt was sent ---------------------------

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

    def calls(self, run_id: str) -> list[UntypedRow]:
        return self._rows("SELECT * FROM api_calls WHERE run_id = ? ORDER BY seq", run_id)

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
        return cast(float | None, rows[0]["t"]) if rows else None


def _run_row(row: UntypedRow) -> RunRow:
    if row["verdict"] is not None:
        row["verdict"] = RunVerdict(row["verdict"])
    return cast(RunRow, row)


def _step_row(row: UntypedRow) -> StepRow:
    row["state"] = StepState(row["state"])
    row["outcome"] = CallOutcome(row["outcome"]) if row["outcome"] else None
    return cast(StepRow, row)


def _step_update(
    run_id: str, step_id: str, fields: dict[str, SqlValue]
) -> tuple[str, list[SqlValue]]:
    """The UPDATE of a step's `fields` and its arguments (column names are ours, from code)."""
    cols = ", ".join(f"{k} = ?" for k in fields)
    sql = f"UPDATE steps SET {cols} WHERE run_id = ? AND step_id = ?"
    return sql, [*fields.values(), run_id, step_id]
