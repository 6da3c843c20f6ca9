"""The JSON report: a versioned document of one run, built from the state database.

It holds ids, statuses, amounts, timings and verdicts; never a key, a webhook secret or a
card number (the store holds none).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rehearsal.state import StateDB

SCHEMA_VERSION = "rehearsal.report/v1"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts else None


def build(store: StateDB, run_id: str) -> dict[str, Any]:
    run = store.run(run_id)
    if run is None:
        raise KeyError(run_id)
    calls = store.calls(run_id)
    deliveries = store.deliveries(run_id)
    steps = []
    for s in store.steps(run_id):
        steps.append(
            {
                "id": s["step_id"],
                "action": s["action"],
                "status": s["state"],
                "idempotency_key": s["idempotency_key"],
                "amount": s["amount"],
                "object": {"kind": s["object_kind"], "id": s["object_id"], "status": s["status"]}
                if s["object_id"]
                else None,
                "confirmed_by": s["confirmed_by"],
                "message": s["message"],
                "calls": [
                    {
                        "method": c["method"],
                        "path": c["path"],
                        "status": c["status"],
                        "request_id": c["request_id"],
                        "duration_ms": round(c["duration_ms"], 2),
                        "idempotent_replay": bool(c["replayed"]),
                    }
                    for c in calls
                    if c["step_id"] == s["step_id"]
                ],
                "event": {"id": s["event_id"], "latency_ms": round(s["latency_ms"], 2)}
                if s["event_id"]
                else None,
            }
        )
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "plan": run["plan"],
        "provider": run["provider"],
        "environment": run["environment"],
        "target": run["target"],
        "started_at": _iso(run["started_at"]),
        "ended_at": _iso(run["ended_at"]),
        "verdict": run["verdict"],
        "steps": steps,
        "compensation_calls": [
            {
                "method": c["method"],
                "path": c["path"],
                "status": c["status"],
                "request_id": c["request_id"],
            }
            for c in calls
            if c["step_id"] is None
        ],
        "deliveries": [
            {
                "event_id": d["event_id"],
                "type": d["type"],
                "object_id": d["object_id"],
                "verdict": d["verdict"],
                "reason": d["reason"],
                "duplicates": d["duplicates"],
                "received_at": _iso(d["received_at"]),
            }
            for d in deliveries
        ],
    }


def write(store: StateDB, run_id: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build(store, run_id), indent=2) + "\n", encoding="utf-8")
