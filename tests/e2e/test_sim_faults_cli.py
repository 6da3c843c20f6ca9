"""The simulator's fault switches through the CLI: `rehearsal run --sim-fault` (embedded)
and bad specs refused with exit 2 by `run` and `rehearsal simulator --fault`. The
standalone process with `--fault` and the control route are in tests/test_simulator.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal


def books(state: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        return db.execute(sql).fetchall()


def test_bad_fault_specs_exit_2_with_what_is_expected(tmp_path: Path) -> None:
    for spec, says in [
        ("rate:POST /payments=2", "the probability must be from 0 to 1"),
        ("rate-after:POST /payments", "rate-after:METHOD /path=P"),
        ("seed:soon", "seed:N with N an integer"),
    ]:
        result = rehearsal("run", "--sim-fault", spec, state=tmp_path / "s", cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert says in result.stderr and "Traceback" not in result.stderr
        standalone = rehearsal(
            "simulator", "--port", "0", "--fault", spec, state=tmp_path / "s", cwd=tmp_path
        )
        assert standalone.returncode == 2, standalone.stdout + standalone.stderr
        assert says in standalone.stderr
    assert not (tmp_path / "s" / "simulator" / "mintcash.sqlite").exists()


def test_a_garbled_refund_error_is_a_provider_error_not_a_crash(tmp_path: Path) -> None:
    state = tmp_path / "s"
    result = rehearsal(
        "run",
        "--sim-fault",
        "garble:POST /refund",
        "--timeout-scale",
        "0.05",
        state=state,
        cwd=tmp_path,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 3, out  # the provider failed: not 1, "an assertion failed"
    assert "Traceback" not in out and "AttributeError" not in out
    assert "MintCash refused POST /refund: HTTP 400: boom" in out
    # The refused refund did nothing; compensation refunded the charge.
    charges = books(state, "SELECT amount, amount_refunded FROM payments")
    assert charges == [(500, 500)]


def test_rate_after_every_charge_moves_the_money_once(tmp_path: Path) -> None:
    state = tmp_path / "s"
    result = rehearsal(
        "run", "--sim-fault", "seed:1,rate-after:POST /payments=1", state=state, cwd=tmp_path
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "failed after 4 attempts" in result.stdout + result.stderr
    # Every answer was lost, every retry replayed: one payment, under the step's key.
    rows = books(state, "SELECT external_id, amount FROM payments")
    assert len(rows) == 1 and rows[0][1] == 500
    assert str(rows[0][0]).startswith("rh-") and str(rows[0][0]).endswith("-charge")
