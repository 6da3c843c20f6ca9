"""`rehearsal run` as a user runs it: a subprocess, no terminal, a state folder of its own."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TRANSITIONS = [
    "payment.succeeded",
    "payment.refunded",
    "subscription.created",
    "subscription.renewed",
    "subscription.cancelled",
]


def rehearsal(
    *args: str, state: Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    base.update({"REHEARSAL_STATE_DIR": str(state), "NO_COLOR": "1"})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rehearsal", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def sim_keys(state: Path) -> list[str]:
    books = state / "simulator" / "mintcash.sqlite"
    with sqlite3.connect(books) as db:
        return [v for (v,) in db.execute("SELECT value FROM meta WHERE key LIKE '%secret'")]


def test_default_run_passes_every_transition_from_any_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    report = tmp_path / "report.json"
    result = rehearsal("run", "--report-json", str(report), state=state, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "built-in simulator" in out and "no real money" in out
    positions = [out.index(f"⇠ {event}") for event in TRANSITIONS]
    assert positions == sorted(positions), "transitions out of order"
    assert "PASSED" in out

    data = json.loads(report.read_text())
    assert data["schema"] == "rehearsal.report/v1"
    assert data["verdict"] == "passed"
    assert [s["status"] for s in data["steps"]] == ["passed"] * 5
    assert all(s["event"]["latency_ms"] >= 0 for s in data["steps"])
    assert all(s["confirmed_by"] == "webhook+api" for s in data["steps"])
    charge = data["steps"][0]
    assert charge["idempotency_key"].startswith("rh-")
    assert charge["calls"][0]["request_id"].startswith("req_")

    # Nothing stays charged: the subscription's first period and renewal are refunded too.
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        assert db.execute(
            "SELECT amount, amount_refunded FROM payments WHERE subscription_id IS NOT NULL"
        ).fetchall() == [(300, 300), (300, 300)]
    # A passing run's last refunds settle the rehearsal's money: no failure's compensation.
    assert "settling the rehearsal's money: refund USD 3.00 pay_" in out
    assert "(the subscription's own payment): done" in out
    assert "compensation" not in out
    # Amounts read as money; the run ends with its money line and where its report is.
    assert "▶ charge: charge USD 5.00 on the visa card" in out
    assert "money: charged USD 11.00, refunded USD 11.00, outstanding USD 0.00" in out
    assert f"] report: {report} (again: `rehearsal report " in out.rstrip().splitlines()[-1]

    # The simulator's own keys never reach the output, the report or the state database.
    secrets = sim_keys(state)
    assert len(secrets) == 3
    state_bytes = (state / "rehearsal.sqlite").read_bytes()
    for secret in secrets:
        assert secret not in out + result.stderr
        assert secret not in report.read_text()
        assert secret.encode() not in state_bytes


def test_declined_card_plan_ends_as_expected(tmp_path: Path) -> None:
    result = rehearsal("run", "declined-card", state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("⇠ payment.failed") == 2
    assert "failed, confirmed by webhook+api" in result.stdout


def test_partial_refunds_plan_passes(tmp_path: Path) -> None:
    result = rehearsal("run", "plans/partial-refunds.yaml", state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "partially_refunded, confirmed" in result.stdout
    assert result.stdout.count("⇠ payment.refunded") == 2


def test_dropped_refund_webhook_fails_the_refund_step(tmp_path: Path) -> None:
    result = rehearsal(
        "run",
        "--sim-fault",
        "drop:payment.refunded",
        "--timeout-scale",
        "0.05",
        state=tmp_path / "s",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    failure = next(line for line in result.stdout.splitlines() if "✗ refund" in line)
    assert "payment.refunded" in failure
    assert "pay_" in failure
    assert "within 0.5s" in failure
    assert "webhook never arrived" in failure  # the API shows the refund happened
    assert "- subscribe: skipped" in result.stdout
    assert "FAILED" in result.stdout


def test_failed_run_compensates_what_it_created(tmp_path: Path) -> None:
    # The renewal webhook is dropped: the run fails after subscribing, so it must cancel.
    state = tmp_path / "s"
    result = rehearsal(
        "run",
        "--sim-fault",
        "drop:subscription.renewed",
        "--timeout-scale",
        "0.02",
        state=state,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "compensation: cancel" in result.stdout
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        statuses = [s for (s,) in db.execute("SELECT status FROM subscriptions")]
        refunded = db.execute(
            "SELECT amount - amount_refunded FROM payments WHERE subscription_id IS NULL"
        ).fetchall()
    assert statuses == ["cancelled"]
    assert refunded == [(0,)]


def test_bad_plan_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text("name: bad\nsteps:\n  - id: charge\n    action: charge\n    amonut: 5\n")
    result = rehearsal("run", str(plan), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2
    assert f"{plan}:5: steps[0].amonut: unknown field" in result.stderr
    assert f"{plan}:3: steps[0].amount: required field is missing" in result.stderr


def test_unknown_plan_and_bad_options_exit_2(tmp_path: Path) -> None:
    assert rehearsal("run", "no-such-plan", state=tmp_path, cwd=tmp_path).returncode == 2
    assert rehearsal("run", "--timeout-scale", "0", state=tmp_path, cwd=tmp_path).returncode == 2
    result = rehearsal("run", "--live", "--simulator", state=tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "exclude each other" in result.stderr


def test_manual_plan_without_terminal_refuses_before_money_moves(tmp_path: Path) -> None:
    state = tmp_path / "s"
    result = rehearsal(
        "run",
        "live-dress-rehearsal",
        state=state,
        cwd=tmp_path,
        env={"REHEARSAL_CARD_TOKEN": "pm_card_visa"},
    )
    assert result.returncode == 2
    assert "manual checkpoint" in result.stdout + result.stderr
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM payments").fetchone() == (0,)


@pytest.mark.parametrize(
    ("key", "live", "code"),
    [
        ("sk_test_abc", True, 4),  # a test key in live mode
        ("sk_live_abc", False, 4),  # a live key in test mode
        ("pk_test_abc", False, 2),  # not a secret key at all
    ],
)
def test_key_prefix_guards(tmp_path: Path, key: str, live: bool, code: int) -> None:
    env = {
        "MINTCASH_API_BASE": "http://127.0.0.1:9",
        "MINTCASH_SECRET_KEY": key,
        "MINTCASH_WEBHOOK_SECRET": "whsec_x",
    }
    args = ["run", "--live"] if live else ["run"]
    result = rehearsal(*args, state=tmp_path, cwd=tmp_path, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    assert key not in result.stdout + result.stderr


def test_partial_provider_environment_is_a_usage_error(tmp_path: Path) -> None:
    result = rehearsal(
        "run", state=tmp_path, cwd=tmp_path, env={"MINTCASH_SECRET_KEY": "sk_test_abc"}
    )
    assert result.returncode == 2
    assert "MINTCASH_API_BASE" in result.stderr and "MINTCASH_WEBHOOK_SECRET" in result.stderr
    assert "sk_test_abc" not in result.stderr
