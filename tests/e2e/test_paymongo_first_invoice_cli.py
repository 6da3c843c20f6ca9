"""The first invoice's card authentication through the CLI, as a user runs it: the PayMongo
plan passes on the built-in simulator with the test page's Authorize pressed without a
person, and a run killed at the authorization point leaves nothing that cleanup does not
settle (the subscription is known to the ledger before its authentication)."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal

REPO = Path(__file__).resolve().parents[2]
PLAN = str(REPO / "plans" / "paymongo.yaml")
PAGE = "POST 3-D Secure test page: Authorize Test Payment → 200"


def test_the_plan_authorizes_the_first_invoice_without_a_person(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    state = tmp_path / "s"
    result = rehearsal(
        "run", PLAN, "--simulator", "--report-json", str(report), state=state, cwd=tmp_path
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # The terminal shows it, in order: the subscription made, its first invoice authorized
    # on the test page, then activation (PayMongo's subscription.activated).
    made = out.index("POST /v1/subscriptions → 200")
    pressed = out.index(PAGE)
    activated = out.index("⇠ subscription.created (subscription.activated)")
    assert made < pressed < activated
    assert "3-D Secure: " not in out + result.stderr, "no operator prompt in test mode"
    assert "/_sim/paymongo/3ds/" not in out + result.stderr + report.read_text()
    # The report keeps it with the subscribe step.
    data = json.loads(report.read_text())
    [subscribe] = [s for s in data["steps"] if s["id"] == "subscribe"]
    assert {(c["method"], c["path"], c["status"]) for c in subscribe["calls"]} >= {
        ("POST", "3-D Secure test page: Authorize Test Payment", 200)
    }
    assert data["verdict"] == "passed"
    with sqlite3.connect(state / "simulator" / "paymongo.sqlite") as books:
        first = books.execute(
            "SELECT status FROM pm_intents WHERE subscription_id IS NOT NULL"
        ).fetchall()
    assert first == [("succeeded",)]


def test_a_run_killed_at_the_authorization_point_is_cleaned_up(tmp_path: Path) -> None:
    """SIGKILL once the subscription exists, incomplete, before its first invoice is
    authorized: the ledger already names it, and cleanup cancels it; nothing was charged
    for it."""
    state = tmp_path / "s"
    crashed = rehearsal(
        "run",
        PLAN,
        "--simulator",
        state=state,
        cwd=tmp_path,
        env={"REHEARSAL_FAILPOINT": "after-made:subscribe"},
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert PAGE not in crashed.stdout
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        (run_id,) = db.execute("SELECT id FROM runs").fetchone()
        (sub_id, status) = db.execute(
            "SELECT object_id, status FROM steps WHERE step_id = 'subscribe'"
        ).fetchone()
    assert sub_id.startswith("subs_") and status == "incomplete"
    books_path = state / "simulator" / "paymongo.sqlite"
    with sqlite3.connect(books_path) as books:
        assert books.execute("SELECT status FROM subscriptions").fetchall() == [("incomplete",)]

    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"cancel {sub_id}: done, confirmed through the API" in cleaned.stdout
    assert "nothing outstanding" in cleaned.stdout
    with sqlite3.connect(books_path) as books:
        subs = books.execute("SELECT id, status FROM subscriptions").fetchall()
        charged = books.execute(
            "SELECT COUNT(*) FROM payments WHERE subscription_id IS NOT NULL"
        ).fetchone()
    assert subs == [(sub_id, "cancelled")]  # the provider's books: cancelled ...
    assert charged == (0,)  # ... and never charged
    status = rehearsal("status", run_id, "--json", state=state, cwd=tmp_path)
    money = json.loads(status.stdout)["money"]
    assert (money["active_subscriptions"], money["unknown_outcomes"]) == ([], []), money
