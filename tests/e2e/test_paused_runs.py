"""A run that pauses or crashes keeps its webhook endpoint; the next process re-points it at
its own receiver, so the provider's deliveries of what happened meanwhile are not lost. And
one process at a time moves a run's money."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from rehearsal.ledger.runlock import RunLock
from tests.e2e.test_run_cli import rehearsal


def books(env: dict[str, str]) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {env['MINTCASH_SECRET_KEY']}"}
    data: dict[str, Any] = httpx.get(f"{env['MINTCASH_API_BASE']}/_sim/books", headers=auth).json()
    return data


def run_row(state: Path) -> dict[str, Any]:
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1").fetchone())


def steps(state: Path, run_id: str) -> dict[str, dict[str, Any]]:
    status = rehearsal("status", run_id, "--json", state=state, cwd=state.parent)
    return {s["id"]: s for s in json.loads(status.stdout)["steps"]}


def test_a_webhook_sent_while_no_process_listens_reaches_the_resumed_run(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    auth = {"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"}
    httpx.put(
        f"{standalone['MINTCASH_API_BASE']}/_sim/faults",
        json={"faults": ["delay:payment.refunded=1"]},
        headers=auth,
    ).raise_for_status()
    state = tmp_path / "s"
    crashed = rehearsal(
        "run",
        state=state,
        cwd=tmp_path,
        env={**standalone, "REHEARSAL_FAILPOINT": "after-call:refund"},
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    run = run_row(state)
    assert run["webhook_endpoint"]  # recorded, and left registered by the dead process
    [endpoint] = books(standalone)["endpoints"]
    assert (endpoint["id"], endpoint["enabled"]) == (run["webhook_endpoint"], 1)

    resumed = rehearsal("resume", run["id"], state=state, cwd=tmp_path, env=standalone)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # payment.refunded was queued for the old receiver; it reached the new one.
    assert steps(state, run["id"])["refund"]["confirmed_by"] == "webhook+api"
    [endpoint] = books(standalone)["endpoints"]  # the same endpoint, re-pointed, not a new one
    assert endpoint["id"] == run["webhook_endpoint"]
    assert endpoint["enabled"] == 0  # the run ended: removed


def test_a_paused_run_keeps_its_endpoint_until_it_ends(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    state = tmp_path / "s"
    started = rehearsal("start", state=state, cwd=tmp_path, env=standalone)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    stepped = rehearsal("step", run_id, "charge", state=state, cwd=tmp_path, env=standalone)
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    [endpoint] = books(standalone)["endpoints"]
    assert endpoint["enabled"] == 1 and endpoint["id"] == run_row(state)["webhook_endpoint"]

    stepped = rehearsal("step", run_id, "refund", state=state, cwd=tmp_path, env=standalone)
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    assert [e["id"] for e in books(standalone)["endpoints"]] == [endpoint["id"]]

    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path, env=standalone)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "the run is ended" in cleaned.stdout
    assert [e["enabled"] for e in books(standalone)["endpoints"]] == [0]
    again = rehearsal("resume", run_id, state=state, cwd=tmp_path, env=standalone)
    assert again.returncode == 2 and "already ended: cleaned-up" in again.stderr


def test_one_process_at_a_time_moves_a_run(tmp_path: Path) -> None:
    state = tmp_path / "s"
    started = rehearsal("start", state=state, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    with RunLock(state, run_id):  # as a `rehearsal resume` in another terminal would
        for command in (["resume", run_id], ["step", run_id], ["cleanup", run_id]):
            refused = rehearsal(*command, state=state, cwd=tmp_path)
            assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
            assert f"in use by another rehearsal process (pid {os.getpid()})" in refused.stderr
    assert books_untouched(state)
    resumed = rehearsal("resume", run_id, state=state, cwd=tmp_path)  # released: it runs
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr


def books_untouched(state: Path) -> bool:
    """No money moved while the run was held elsewhere."""
    path = state / "simulator" / "mintcash.sqlite"
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM payments").fetchone() == (0,)
