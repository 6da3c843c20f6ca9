"""The dunning plans through the CLI, on the built-in simulator: a renewal that fails leaves
the subscription past_due, the run asserts it and cancels, and the books end with nothing
outstanding."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal

REPO = Path(__file__).resolve().parents[2]


def _payments(books: Path) -> list[tuple[str, int, int]]:
    db = sqlite3.connect(books)
    try:
        return list(db.execute("SELECT status, amount, amount_refunded FROM payments"))
    finally:
        db.close()


def test_the_mintcash_dunning_plan_passes_with_the_fault_switch(tmp_path: Path) -> None:
    state = tmp_path / "s"
    plan = str(REPO / "plans" / "dunning.yaml")
    result = rehearsal(
        "run", plan, "--sim-fault", "fail-renewal", "--report-json", "run.json",
        state=state, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (passed,) = [line for line in result.stdout.splitlines() if "✓ renewal_fails" in line]
    assert "past_due, confirmed by webhook+api" in passed
    report = json.loads((tmp_path / "run.json").read_text())
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["renewal_fails"]["status"] == "passed"
    assert steps["cancel"]["status"] == "passed"
    payments = _payments(state / "simulator" / "mintcash.sqlite")
    assert sorted(p[0] for p in payments) == ["failed", "refunded"]
    assert all(amount == refunded for status, amount, refunded in payments if status != "failed")


def test_without_the_fault_the_renewal_succeeds_and_the_dunning_plan_fails(
    tmp_path: Path,
) -> None:
    result = rehearsal(
        "run", str(REPO / "plans" / "dunning.yaml"), "--timeout-scale", "0.1",
        state=tmp_path / "s", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "renewal_fails" in result.stdout


def test_the_paymongo_dunning_plan_passes_with_its_test_card(tmp_path: Path) -> None:
    state = tmp_path / "s"
    result = rehearsal(
        "run", str(REPO / "plans" / "paymongo-dunning.yaml"), state=state, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "subscription.past_due" in result.stdout
    payments = _payments(state / "simulator" / "paymongo.sqlite")
    assert sorted(p[0] for p in payments) == ["failed", "succeeded"]
