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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import CompensationRow, RunRow, StepRow
from rehearsal.ledger.states import EXPECTED_UNAVAILABLE, RunVerdict, StepState
from rehearsal.reports.document import (
    ApiConfirmed,
    Call,
    Compensation,
    Delivery,
    ExpectedEvent,
    Report,
    Step,
    Summary,
)

LedgerRow = Mapping[str, Any]  # an api_calls or deliveries row (the ledger gives dicts)
PlanEntry = dict[str, object]  # one step of the run's stored plan, as JSON

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


def _planned(run: RunRow) -> dict[str, PlanEntry]:
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


def _call(c: LedgerRow) -> Call:
    return {
        "method": c["method"],
        "path": c["path"],
        "status": c["status"],
        "request_id": c["request_id"],
        "duration_ms": round(c["duration_ms"], 2),
        "idempotent_replay": bool(c["replayed"]),
        "at": _iso(c["at"]),
    }


def _arrived(
    s: StepRow, event: str, deliveries: Sequence[LedgerRow], claimed: set[str]
) -> tuple[LedgerRow | None, bool]:
    """The delivery that confirmed the step, or (late: True) one that came for its object
    after the deadline or was refused, so "late" and "never sent" read differently."""
    if s["event_id"]:
        return next((d for d in deliveries if d["event_id"] == s["event_id"]), None), False
    if not s["awaited_object"]:
        return None, False
    found = next(
        (
            d
            for d in deliveries
            if d["type"] == event
            and d["object_id"] == s["awaited_object"]
            and d["event_id"] not in claimed
        ),
        None,
    )
    return found, found is not None


def _signature(found: LedgerRow | None) -> str | None:
    if found is None:
        return None
    if found["verdict"] == "rejected":
        return "verified, event refused"  # e.g. the other environment's event
    return "verified"


def _expected(
    s: StepRow, plan_step: PlanEntry, deliveries: Sequence[LedgerRow], claimed: set[str]
) -> ExpectedEvent | None:
    """The step's expected webhook: what was awaited, until when, and what arrived."""
    expect = plan_step.get("expect")
    if not isinstance(expect, dict) or not expect.get("event"):
        return None  # a manual checkpoint expects no webhook
    found, late = _arrived(s, expect["event"], deliveries, claimed)
    arrived = found["received_at"] if found else None
    deadline = s["deadline_at"]
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
        "signature": _signature(found),
        "counted": bool(s["event_id"]),
    }


def _test_mode_refund(run: RunRow, s: StepRow, plan_step: PlanEntry) -> str | None:
    """What a test-mode account did with a refund the plan marks `unavailable_in_test`:
    `refused` as the provider documents (the step skipped as expected), or `refunded`
    (the step passed: the account refunds test payments). None for any other step."""

    if not plan_step.get("unavailable_in_test") or run["environment"] != "test":
        return None
    if s["state"] == StepState.SKIPPED and s["confirmed_by"] == EXPECTED_UNAVAILABLE:
        return "refused"
    if s["state"] == StepState.PASSED:
        return "refunded"
    return None


@dataclass(frozen=True)
class _Ledger:
    """What the steps of one run are reported from: its plan, calls and deliveries."""

    run: RunRow
    planned: dict[str, PlanEntry]
    calls: Sequence[LedgerRow]
    deliveries: Sequence[LedgerRow]
    claimed: set[str]  # the events that confirmed a step


def _step(s: StepRow, ledger: _Ledger) -> Step:
    planned = ledger.planned.get(s["step_id"], {})
    return {
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
        "test_mode_refund": _test_mode_refund(ledger.run, s, planned),
        "calls": [_call(c) for c in ledger.calls if c["step_id"] == s["step_id"]],
        "expected_event": _expected(s, planned, ledger.deliveries, ledger.claimed),
        "event": {"id": s["event_id"], "latency_ms": _ms(s["latency_ms"])}
        if s["event_id"]
        else None,
    }


def _summary(steps: list[Step]) -> Summary:
    counts = {k: 0 for k in ("passed", "failed", "skipped", "interrupted", "not_run")}
    for step in steps:
        key = step["status"] if step["status"] in counts else "not_run"
        counts[key] += 1
    return {
        "steps": len(steps),
        "passed": counts["passed"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "interrupted": counts["interrupted"],
        "not_run": counts["not_run"],
    }


def shown_object(s: Step) -> str | None:
    """The object a step is about: the one its webhook was awaited for, else its own."""
    e, obj = s["expected_event"], s["object"]
    return (e["object_id"] if e else None) or (obj["id"] if obj else None)


def _api_only(steps: list[Step]) -> list[ApiConfirmed]:
    """Steps the API confirmed whose webhook never counted: a finding."""
    return [
        {"step": s["id"], "object_id": shown_object(s)} for s in steps if s["confirmed_by"] == "api"
    ]


def _compensation(c: CompensationRow) -> Compensation:
    return {
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


def _delivery(d: LedgerRow) -> Delivery:
    return {
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


def build(store: StateDB, run_id: str, stopped: Stopped | None = None) -> Report:
    """The report of `run_id`. `stopped`: how it ended if the runner recorded no verdict."""
    from rehearsal.ledger.totals import run_totals

    run = store.run(run_id)
    if run is None:
        raise KeyError(run_id)
    calls = store.calls(run_id)
    deliveries = store.deliveries(run_id)
    rows = store.steps(run_id)
    claimed = {s["event_id"] for s in rows if s["event_id"]}
    ledger = _Ledger(run, _planned(run), calls, deliveries, claimed)
    steps = [_step(s, ledger) for s in rows]
    verdict, exit_code, message = run["verdict"], run["exit_code"], run["message"]
    if verdict is None and stopped is not None:
        verdict, exit_code, message = stopped.verdict, stopped.exit_code, stopped.message
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
        "summary": _summary(steps),
        "steps": steps,
        "confirmed_only_by_api": _api_only(steps),
        "compensations": [_compensation(c) for c in store.compensations(run_id)],
        "compensation_calls": [_call(c) for c in calls if c["step_id"] is None],
        "deliveries": [_delivery(d) for d in deliveries],
        "money": run_totals(store, run_id),  # the ledger's view, as the schema has it
    }


def render(doc: Report) -> str:
    return json.dumps(doc, indent=2) + "\n"


def write(store: StateDB, run_id: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(build(store, run_id)), encoding="utf-8")
