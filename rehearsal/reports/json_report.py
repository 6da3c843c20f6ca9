"""The JSON report: a versioned document of one run, built from the state database.

Every other report (JUnit, Markdown) is rendered from this document, so the three never
disagree, and any stored run can be rendered again (`rehearsal report RUN`). It holds ids,
statuses, amounts (integers in the currency's minor units, as the providers count them;
the schema says so), timings and verdicts; never a key, a webhook secret, a webhook body or a
card number (the store holds no secret, and the event bodies it keeps are left out).
The document's shape is published as a JSON Schema (`schema.json`, `rehearsal report schema`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import RunRow, StepRow
from rehearsal.ledger.states import RunVerdict, StepState

SCHEMA_VERSION = "rehearsal.report/v1"


@dataclass(frozen=True)
class Stopped:
    """How a run ended when it stopped before the runner could record a verdict."""

    verdict: RunVerdict  # ERROR | INTERRUPTED
    exit_code: int | None
    message: str


def schema_text() -> str:
    """The JSON Schema (draft 2020-12) that every report validates against."""
    return resources.files("rehearsal.reports").joinpath("schema.json").read_text("utf-8")


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds") if ts else None


def _seconds(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start and end else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _planned(run: RunRow) -> dict[str, dict[str, Any]]:
    """Each step's plan entry (its expected event and deadline), from the run's stored plan."""
    try:
        plan = json.loads(run["plan_json"] or "{}")
    except ValueError:
        return {}
    return {s["id"]: s for s in plan.get("steps", []) if isinstance(s, dict) and "id" in s}


def _currency(run: RunRow) -> str:
    """The plan's currency: the report's amounts are in its minor units."""
    try:
        currency = json.loads(run["plan_json"] or "{}").get("currency")
    except ValueError:
        currency = None
    return currency if isinstance(currency, str) else "USD"


def _call(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": c["method"],
        "path": c["path"],
        "status": c["status"],
        "request_id": c["request_id"],
        "duration_ms": round(c["duration_ms"], 2),
        "idempotent_replay": bool(c["replayed"]),
        "at": _iso(c["at"]),
    }


def _expected(
    s: StepRow,
    plan_step: dict[str, Any],
    deliveries: list[dict[str, Any]],
    claimed: set[str],
) -> dict[str, Any] | None:
    """The step's expected webhook: what was awaited, until when, and what arrived."""
    expect = plan_step.get("expect")
    if not isinstance(expect, dict) or not expect.get("event"):
        return None  # a manual checkpoint expects no webhook
    found = None
    late = False
    if s["event_id"]:
        found = next((d for d in deliveries if d["event_id"] == s["event_id"]), None)
    elif s["awaited_object"]:
        # No webhook counted for the step: show one that came for its object after the
        # deadline (or was refused), so "late" and "never sent" read differently.
        found = next(
            (
                d
                for d in deliveries
                if d["type"] == expect["event"]
                and d["object_id"] == s["awaited_object"]
                and d["event_id"] not in claimed
            ),
            None,
        )
        late = found is not None
    arrived = found["received_at"] if found else None
    deadline = s["deadline_at"]
    if found is None:
        signature = None
    elif found["verdict"] == "rejected":
        signature = "verified, event refused"  # e.g. the other environment's event
    else:
        signature = "verified"
    return {
        "type": expect["event"],
        "provider_type": found.get("provider_type") if found else None,
        "object_id": s["awaited_object"],
        "within_s": expect.get("within"),
        "deadline": _iso(s["deadline_at"]),
        "event_id": found["event_id"] if found else None,
        "arrived_at": _iso(arrived),
        "after_deadline": bool(late and arrived and deadline and arrived > deadline),
        "latency_ms": _ms(s["latency_ms"])
        if s["event_id"]
        else (_ms((arrived - s["called_at"]) * 1000) if arrived and s["called_at"] else None),
        "delivery_attempts": 1 + found["duplicates"] if found else 0,
        "duplicates": found["duplicates"] if found else 0,
        "signature": signature,
        "counted": bool(s["event_id"]),
    }


def _test_mode_refund(run: RunRow, s: StepRow, plan_step: dict[str, Any]) -> str | None:
    """What a test-mode account did with a refund the plan marks `unavailable_in_test`:
    `refused` as the provider documents (the step skipped as expected), or `refunded`
    (the step passed: the account refunds test payments). None for any other step."""
    from rehearsal.engine.runner import EXPECTED_UNAVAILABLE

    if not plan_step.get("unavailable_in_test") or run["environment"] != "test":
        return None
    if s["state"] == StepState.SKIPPED and s["confirmed_by"] == EXPECTED_UNAVAILABLE:
        return "refused"
    if s["state"] == StepState.PASSED:
        return "refunded"
    return None


def build(store: StateDB, run_id: str, stopped: Stopped | None = None) -> dict[str, Any]:
    """The report of `run_id`. `stopped`: how it ended if the runner recorded no verdict."""
    from rehearsal.ledger.totals import run_totals

    run = store.run(run_id)
    if run is None:
        raise KeyError(run_id)
    calls = store.calls(run_id)
    deliveries = store.deliveries(run_id)
    planned = _planned(run)
    rows = store.steps(run_id)
    claimed = {s["event_id"] for s in rows if s["event_id"]}
    steps: list[dict[str, Any]] = []
    for s in rows:
        steps.append(
            {
                "id": s["step_id"],
                "action": s["action"],
                "status": s["state"],
                "started_at": _iso(s["started_at"]),
                "ended_at": _iso(s["ended_at"]),
                "duration_s": _seconds(s["started_at"], s["ended_at"]),
                "idempotency_key": s["idempotency_key"],
                "amount": s["amount"],
                "card": s["card"],
                "object": {"kind": s["object_kind"], "id": s["object_id"], "status": s["status"]}
                if s["object_id"]
                else None,
                "request_id": s["request_id"],
                "confirmed_by": s["confirmed_by"],
                "message": s["message"],
                "test_mode_refund": _test_mode_refund(run, s, planned.get(s["step_id"], {})),
                "calls": [_call(c) for c in calls if c["step_id"] == s["step_id"]],
                "expected_event": _expected(s, planned.get(s["step_id"], {}), deliveries, claimed),
                "event": {"id": s["event_id"], "latency_ms": _ms(s["latency_ms"])}
                if s["event_id"]
                else None,
            }
        )
    verdict, exit_code, message = run["verdict"], run["exit_code"], run["message"]
    if verdict is None and stopped is not None:
        verdict, exit_code, message = stopped.verdict, stopped.exit_code, stopped.message
    counts = {k: 0 for k in ("passed", "failed", "skipped", "interrupted", "not_run")}
    for step in steps:
        key = step["status"] if step["status"] in counts else "not_run"
        counts[key] += 1
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "plan": run["plan"],
        "provider": run["provider"],
        "environment": run["environment"],
        "target": run["target"],
        "currency": _currency(run),
        "timeout_scale": run["timeout_scale"],
        "started_at": _iso(run["started_at"]),
        "ended_at": _iso(run["ended_at"]),
        "duration_s": _seconds(run["started_at"], run["ended_at"]),
        "verdict": verdict,
        "exit_code": exit_code,
        "message": message,
        "summary": {"steps": len(steps), **counts},
        "steps": steps,
        "confirmed_only_by_api": [
            {
                "step": s["id"],
                "object_id": (s["expected_event"] or {}).get("object_id")
                or (s["object"] or {}).get("id"),
            }
            for s in steps
            if s["confirmed_by"] == "api"
        ],
        "compensations": [
            {
                "step": c["step_id"],
                "action": c["action"],
                "object_id": c["object_id"],
                "amount": c["amount"],
                "idempotency_key": c["idempotency_key"],
                "state": c["state"],
                "request_id": c["request_id"],
                "message": c["message"],
                "at": _iso(c["at"]),
            }
            for c in store.compensations(run_id)
        ],
        "compensation_calls": [_call(c) for c in calls if c["step_id"] is None],
        "deliveries": [
            {
                "event_id": d["event_id"],
                "type": d["type"],
                "provider_type": d.get("provider_type"),
                "via": d.get("via") or "webhook",
                "object_id": d["object_id"],
                "verdict": d["verdict"],
                "reason": d["reason"],
                "duplicates": d["duplicates"],
                "received_at": _iso(d["received_at"]),
            }
            for d in deliveries
        ],
        "money": run_totals(store, run_id),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def write(store: StateDB, run_id: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(build(store, run_id)), encoding="utf-8")
