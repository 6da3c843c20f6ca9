"""Event names are checked against the provider's vocabulary before anything runs
(issue 12): a misspelled `expect.event` or `--sim-fault` event used to pass, move money,
then blame the provider ("the webhook never arrived")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import rehearsal

TYPO_PLAN = """version: 1
name: typo
steps:
  - id: charge
    action: charge
    amount: 500
  - id: refund
    action: refund
    payment: charge
    expect: {event: payment.refundd, within: 5s}
"""

VALID = "payment.succeeded, payment.failed, payment.refunded, subscription.created"


def no_payments(state: Path, provider: str = "mintcash") -> bool:
    books = state / "simulator" / f"{provider}.sqlite"
    if not books.exists():
        return True
    with sqlite3.connect(books) as db:
        return db.execute("SELECT COUNT(*) FROM payments").fetchone() == (0,)


def test_a_misspelled_plan_event_is_refused_with_its_line(tmp_path: Path) -> None:
    plan = tmp_path / "typo.yaml"
    plan.write_text(TYPO_PLAN)
    state = tmp_path / "s"
    result = rehearsal("run", str(plan), state=state, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{plan}:10: steps[1].expect.event: unknown event 'payment.refundd'" in result.stderr
    assert "did you mean payment.refunded?" in result.stderr
    assert VALID in result.stderr
    assert "Traceback" not in result.stderr and "POST" not in result.stdout
    assert no_payments(state)


def test_a_plan_event_is_checked_against_the_overriding_provider(tmp_path: Path) -> None:
    """PayMongo's own name in a plan: told the rehearsal's name for it."""
    plan = tmp_path / "native.yaml"
    plan.write_text(TYPO_PLAN.split("  - id: refund")[0] + "    expect: {event: payment.paid}\n")
    state = tmp_path / "s"
    result = rehearsal("start", str(plan), "--provider", "paymongo", state=state, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{plan}:7: steps[0].expect.event: unknown event 'payment.paid'" in result.stderr
    assert "paymongo's own name for payment.succeeded" in result.stderr
    assert no_payments(state, "paymongo")


@pytest.mark.parametrize(
    "spec", ["drop:payment.refundd", "delay:payment.refundd=1", "duplicate:payment.paid"]
)
def test_a_misspelled_sim_fault_event_is_refused(tmp_path: Path, spec: str) -> None:
    state = tmp_path / "s"
    result = rehearsal("run", "--sim-fault", spec, state=state, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"fault {spec!r}: unknown event" in result.stderr
    assert VALID in result.stderr and "* for all" in result.stderr
    assert "Traceback" not in result.stderr and "POST" not in result.stdout
    assert no_payments(state)


def test_the_standalone_simulator_refuses_a_misspelled_fault_event(tmp_path: Path) -> None:
    result = rehearsal(
        "simulator", "--port", "0", "--fault", "drop:payment.refundd", state=tmp_path, cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown event 'payment.refundd'" in result.stderr and VALID in result.stderr
    paymongo = rehearsal(
        "simulator",
        "--port",
        "0",
        "--provider",
        "paymongo",
        "--fault",
        "drop:payment.paid",
        state=tmp_path,
        cwd=tmp_path,
    )
    assert paymongo.returncode == 2, paymongo.stdout + paymongo.stderr
    assert "paymongo's own name for payment.succeeded" in paymongo.stderr


def test_known_fault_events_and_the_wildcard_still_work(tmp_path: Path) -> None:
    result = rehearsal(
        "run",
        "--sim-fault",
        "duplicate:*,delay:payment.succeeded=0",
        "--plain",
        state=tmp_path / "s",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
