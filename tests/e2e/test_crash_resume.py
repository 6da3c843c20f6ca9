"""Kill the CLI with SIGKILL at every step boundary and around every money-moving call;
after `rehearsal resume`, the simulator's own books must show exactly one charge, refunded
in full, and no active subscription.

Crash points come from REHEARSAL_FAILPOINT (the runner SIGKILLs itself there):
  before-step:S   a step boundary, before step S starts
  after-intent:S  the ledger holds S's intent; the call has not been sent
  after-call:S    the provider acted and answered; the ledger does not know yet
A held call (the standalone simulator's `hold` fault) covers a kill while the call is open.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_run_cli import rehearsal

STEPS = ["charge", "refund", "subscribe", "renewal", "cancel"]
POINTS = (
    [("before-step", s) for s in STEPS]
    + [("after-intent", s) for s in STEPS]
    + [("after-call", s) for s in ("charge", "refund", "subscribe", "cancel")]
)


def latest_run(state: Path) -> str:
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        (run_id,) = db.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    return str(run_id)


def assert_settled(payments: list[tuple[object, ...]], subs: list[tuple[object, ...]]) -> None:
    assert payments == [(500, "refunded", 500)], payments  # one charge, refunded in full
    assert subs in ([], [("cancelled",)]), subs  # nothing left active


@pytest.mark.parametrize(("point", "step"), POINTS, ids=[f"{p}:{s}" for p, s in POINTS])
def test_sigkill_then_resume_settles_the_books(tmp_path: Path, point: str, step: str) -> None:
    state = tmp_path / "s"
    crashed = rehearsal(
        "run", state=state, cwd=tmp_path, env={"REHEARSAL_FAILPOINT": f"{point}:{step}"}
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    run_id = latest_run(state)

    resumed = rehearsal("resume", run_id, state=state, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "PASSED" in resumed.stdout

    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        payments = db.execute(
            "SELECT amount, status, amount_refunded FROM payments WHERE subscription_id IS NULL"
        ).fetchall()
        subs = db.execute("SELECT status FROM subscriptions").fetchall()
        unrefunded = db.execute(
            "SELECT COUNT(*) FROM payments WHERE subscription_id IS NOT "
            "NULL AND amount_refunded < amount"
        ).fetchone()
    assert_settled(payments, subs)
    assert unrefunded == (0,)  # the subscription's own payments are refunded too
    from rehearsal.ledger.db import StateDB
    from rehearsal.ledger.totals import run_totals

    store = StateDB(state / "rehearsal.sqlite")
    try:
        assert store.run(run_id)["verdict"] == "passed"  # type: ignore[index]
        assert run_totals(store, run_id)["outstanding"] == 0
        assert run_totals(store, run_id)["active_subscriptions"] == []
    finally:
        store.close()


def kill_while_the_charge_is_held(tmp_path: Path, standalone: dict[str, str]) -> str:
    """Run against a standalone simulator that holds POST /payments open, SIGKILL the CLI
    while the call is held, and return the run's id. The held call lands afterwards."""
    base = standalone["MINTCASH_API_BASE"]
    auth = {"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"}
    httpx.put(
        f"{base}/_sim/faults", json={"faults": ["hold:POST /payments=1.5"]}, headers=auth
    ).raise_for_status()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    env.update({k: v for k, v in standalone.items() if k.startswith("MINTCASH_")})
    env.update(REHEARSAL_STATE_DIR=str(tmp_path / "s"), NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", "--plain"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while httpx.get(f"{base}/_sim/faults", headers=auth).json()["api_faults"][0]["left"]:
        assert time.monotonic() < deadline and proc.poll() is None, "the charge was never sent"
    proc.kill()  # the POST is now held open inside the simulator
    proc.wait(timeout=10)
    return latest_run(tmp_path / "s")


def sim_books(standalone: dict[str, str]) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"}
    books: dict[str, Any] = httpx.get(
        f"{standalone['MINTCASH_API_BASE']}/_sim/books", headers=auth
    ).json()
    return books


def test_kill_while_the_charge_call_is_held_open(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    run_id = kill_while_the_charge_is_held(tmp_path, standalone)

    resumed = rehearsal("resume", run_id, state=tmp_path / "s", cwd=tmp_path, env=standalone)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    books = sim_books(standalone)
    payments = [
        (p["amount"], p["status"], p["amount_refunded"])
        for p in books["payments"]
        if p["subscription_id"] is None
    ]
    assert_settled(payments, [(s["status"],) for s in books["subscriptions"]])


# --- or settled by `rehearsal cleanup`, without running the rest of the plan ----------------

CLEANUP_POINTS = [
    ("after-intent", "charge"),  # the charge was never sent: nothing to refund
    ("after-call", "charge"),  # charged, answer lost: found by its key, refunded
    ("after-call", "refund"),
    ("after-intent", "subscribe"),
    ("after-call", "subscribe"),  # subscribed, answer lost: found by its key, cancelled
    ("before-step", "cancel"),
]


def simulator_books(state: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        payments = db.execute(
            "SELECT amount, status, amount_refunded FROM payments WHERE subscription_id IS NULL"
        ).fetchall()
        subs = db.execute("SELECT status FROM subscriptions").fetchall()
        (unrefunded,) = db.execute(
            "SELECT COUNT(*) FROM payments WHERE amount_refunded < amount AND status != 'failed'"
        ).fetchone()
    return payments, subs, int(unrefunded)


@pytest.mark.parametrize(
    ("point", "step"), CLEANUP_POINTS, ids=[f"{p}:{s}" for p, s in CLEANUP_POINTS]
)
def test_sigkill_then_cleanup_settles_the_books(tmp_path: Path, point: str, step: str) -> None:
    state = tmp_path / "s"
    crashed = rehearsal(
        "run", state=state, cwd=tmp_path, env={"REHEARSAL_FAILPOINT": f"{point}:{step}"}
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    run_id = latest_run(state)

    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "nothing outstanding" in cleaned.stdout
    payments, subs, unrefunded = simulator_books(state)
    if (point, step) == ("after-intent", "charge"):
        assert payments == []  # the call never left: cleanup made no charge of its own
        assert "never reached mintcash" in cleaned.stdout
    else:
        assert payments == [(500, "refunded", 500)], payments
    if (point, step) == ("after-call", "subscribe"):
        assert "found by its key" in cleaned.stdout
    assert all(s == ("cancelled",) for s in subs), subs
    assert unrefunded == 0
    status = rehearsal("status", run_id, "--json", state=state, cwd=tmp_path)
    money = json.loads(status.stdout)["money"]
    assert (money["outstanding"], money["active_subscriptions"], money["unknown_outcomes"]) == (
        0,
        [],
        [],
    ), money


def test_cleanup_waits_for_a_held_charge_to_land_then_refunds_it(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    """A call still open at the provider when its sender died lands later: cleanup must not
    conclude "never charged" before the client's timeout has passed."""
    run_id = kill_while_the_charge_is_held(tmp_path, standalone)

    cleaned = rehearsal("cleanup", run_id, state=tmp_path / "s", cwd=tmp_path, env=standalone)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "found by its key" in cleaned.stdout
    books = sim_books(standalone)
    assert [(p["amount"], p["status"], p["amount_refunded"]) for p in books["payments"]] == [
        (500, "refunded", 500)
    ]
