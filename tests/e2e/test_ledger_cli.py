"""`rehearsal runs`, `status` and `cleanup`: the ledger of a run, read and settled later,
in separate processes, against the embedded simulator whose books live in the state folder.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal


def books(state: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        return db.execute(sql).fetchall()


def test_a_failed_run_left_open_is_settled_by_cleanup_in_a_later_process(tmp_path: Path) -> None:
    state = tmp_path / "s"
    failed = rehearsal(
        "run",
        "--no-cleanup",
        "--sim-fault",
        "drop:subscription.renewed",
        "--timeout-scale",
        "0.02",
        state=state,
        cwd=tmp_path,
    )
    assert failed.returncode == 1
    assert books(state, "SELECT status FROM subscriptions") == [("active",)]

    status = rehearsal("status", "--json", state=state, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    run_id = doc["run_id"]
    assert [s["state"] for s in doc["steps"]] == ["passed", "passed", "passed", "failed", "skipped"]
    # The books: the charge (500, refunded by its step) and the subscription's own two
    # payments, first period and renewal (300 each), left charged by --no-cleanup.
    assert doc["money"]["charged"] == 1100 and doc["money"]["outstanding"] == 600
    assert doc["money"]["subscription_payments"] == 600
    assert doc["read_from_provider"] is True
    assert len(doc["money"]["active_subscriptions"]) == 1
    assert doc["steps"][0]["idempotency_key"] == f"rh-{run_id}-charge"
    # Of the card, the ledger keeps the brand and the last four digits, never the number.
    cards = {s["id"]: s["card"] for s in doc["steps"]}
    assert (cards["charge"], cards["subscribe"], cards["refund"]) == (
        "visa ••4242",
        "visa ••4242",
        None,
    )
    for db_file in state.glob("rehearsal.sqlite*"):  # the database, its WAL and index
        assert b"4242424242424242" not in db_file.read_bytes()

    listing = rehearsal("runs", state=state, cwd=tmp_path)
    assert run_id in listing.stdout and "1 subscription(s)" in listing.stdout

    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "cancel" in cleaned.stdout and "nothing outstanding" in cleaned.stdout
    assert books(state, "SELECT status FROM subscriptions") == [("cancelled",)]

    after = json.loads(rehearsal("status", run_id, "--json", state=state, cwd=tmp_path).stdout)
    assert after["money"]["active_subscriptions"] == []
    # Cancelled first, then its payments refunded: the first period and the renewal that
    # happened (only its webhook was dropped).
    assert [(c["action"], c["state"]) for c in after["compensations"]] == [
        ("cancel", "done"),
        ("refund_subscription_payment", "done"),
        ("refund_subscription_payment", "done"),
    ]
    assert after["money"]["subscription_payments_refunded"] == 600

    again = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)  # idempotent
    assert again.returncode == 0
    assert "compensation" not in again.stdout


def test_cleanup_refunds_what_a_failed_run_charged(tmp_path: Path) -> None:
    state = tmp_path / "s"
    failed = rehearsal(
        "run",
        "--no-cleanup",
        "--sim-fault",
        "fail:POST /refund=503x9",
        "--timeout-scale",
        "0.05",
        state=state,
        cwd=tmp_path,
    )
    assert failed.returncode == 3, failed.stdout + failed.stderr  # provider error
    run_id = json.loads(rehearsal("status", "--json", state=state, cwd=tmp_path).stdout)["run_id"]
    assert books(state, "SELECT amount_refunded FROM payments") == [(0,)]

    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert books(state, "SELECT status, amount_refunded FROM payments") == [("refunded", 500)]
    doc = json.loads(rehearsal("status", run_id, "--json", state=state, cwd=tmp_path).stdout)
    assert doc["money"] == {
        "currency": "USD",
        "charged": 500,
        "refunded": 500,
        "outstanding": 0,
        "not_refundable_in_test": 0,
        "refunds_pending": 0,
        "active_subscriptions": [],
        "unknown_outcomes": [],
        "subscription_payments": 0,
        "subscription_payments_refunded": 0,
    }


def test_status_and_cleanup_errors_exit_2(tmp_path: Path) -> None:
    assert rehearsal("status", state=tmp_path / "none", cwd=tmp_path).returncode == 2
    rehearsal("run", "declined-card", state=tmp_path / "s", cwd=tmp_path)
    result = rehearsal("cleanup", "no-such-run", state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2
    assert "rehearsal runs" in result.stderr


SUBSCRIPTION_ONLY = """version: 1
name: subscription-only
steps:
  - id: subscribe
    action: subscribe
    amount: 300
  - id: renewal
    action: await_renewal
    subscription: subscribe
  - id: cancel
    action: cancel
    subscription: subscribe
"""


def test_a_passing_run_that_cannot_settle_says_so_and_exits_3(tmp_path: Path) -> None:
    """The steps pass, but the refunds of the subscription's payments are refused: the run
    must not end quietly with exit 0 and money left charged."""
    plan = tmp_path / "sub.yaml"
    plan.write_text(SUBSCRIPTION_ONLY)
    state = tmp_path / "s"
    result = rehearsal(
        "run",
        str(plan),
        "--sim-fault",
        "fail:POST /refund=400x10",
        "--junit",
        str(tmp_path / "run.xml"),
        state=state,
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "UNSETTLED" in result.stdout and "passed, but money" in result.stdout
    doc = json.loads(rehearsal("status", "--json", "--offline", state=state, cwd=tmp_path).stdout)
    assert doc["verdict"] == "unsettled"  # never "passed" while money is left (a CI gate)
    junit = (tmp_path / "run.xml").read_text()
    assert 'failures="1"' in junit and 'type="Unsettled"' in junit
    assert "rehearsal cleanup" in result.stdout
    assert books(state, "SELECT COUNT(*) FROM payments WHERE amount_refunded = 0") == [(2,)]

    run_id = json.loads(rehearsal("status", "--json", state=state, cwd=tmp_path).stdout)["run_id"]
    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)  # the fault is gone
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert books(state, "SELECT COUNT(*) FROM payments WHERE amount_refunded = 0") == [(0,)]
