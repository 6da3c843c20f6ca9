"""Live mode against a standalone simulator (with its live key): armed or refused, capped,
always before the first API call."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.test_run_cli import rehearsal

PLAN = """version: 1
name: live-charge
card: env:REHEARSAL_CARD_TOKEN
steps:
  - id: charge
    action: charge
    amount: {amount}
  - id: refund
    action: refund
    payment: charge
"""


def live_env(standalone: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in standalone.items() if k.startswith("MINTCASH_")}
    env["MINTCASH_SECRET_KEY"] = standalone["LIVE_KEY"]
    env["REHEARSAL_CARD_TOKEN"] = "pm_card_visa"
    env.update(extra)
    return env


def payments(standalone: dict[str, str]) -> list[dict[str, object]]:
    books = httpx.get(
        f"{standalone['MINTCASH_API_BASE']}/_sim/books",
        headers={"Authorization": f"Bearer {standalone['LIVE_KEY']}"},
    ).json()
    return list(books["payments"])


def plan(tmp_path: Path, amount: int) -> str:
    path = tmp_path / "live.yaml"
    path.write_text(PLAN.format(amount=amount))
    return str(path)


def test_live_without_arming_is_refused_before_any_call(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    result = rehearsal(
        "run",
        plan(tmp_path, 300),
        "--live",
        state=tmp_path / "s",
        cwd=tmp_path,
        env=live_env(standalone),
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--yes" in result.stderr and "REHEARSAL_LIVE_CONFIRM=mintcash:300" in result.stderr
    assert payments(standalone) == []


def test_live_with_a_stale_confirmation_is_refused(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    env = live_env(standalone, REHEARSAL_LIVE_CONFIRM="mintcash:100")  # the plan says 300
    result = rehearsal(
        "run", plan(tmp_path, 300), "--live", "--yes", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 4
    assert "does not match" in result.stderr
    assert payments(standalone) == []


def test_live_over_the_cap_is_refused(tmp_path: Path, standalone: dict[str, str]) -> None:
    env = live_env(standalone, REHEARSAL_LIVE_CONFIRM="mintcash:5000")
    result = rehearsal(
        "run", plan(tmp_path, 5000), "--live", "--yes", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 4
    assert "moves USD 50.00, over the live cap of USD 10.00" in result.stderr
    assert payments(standalone) == []


def test_armed_live_run_passes_in_live_mode(tmp_path: Path, standalone: dict[str, str]) -> None:
    env = live_env(standalone, REHEARSAL_LIVE_CONFIRM="mintcash:300")
    result = rehearsal(
        "run", plan(tmp_path, 300), "--live", "--yes", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mintcash live mode" in result.stdout
    assert [(p["env"], p["status"]) for p in payments(standalone)] == [("live", "refunded")]
    assert standalone["LIVE_KEY"] not in result.stdout + result.stderr


def test_test_card_names_are_refused_in_live_mode(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PLAN.format(amount=300).replace("env:REHEARSAL_CARD_TOKEN", "visa"))
    env = live_env(standalone, REHEARSAL_LIVE_CONFIRM="mintcash:300")
    result = rehearsal(
        "run", str(path), "--live", "--yes", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert "test card" in result.stdout + result.stderr
    assert payments(standalone) == []


def test_each_process_that_moves_a_live_run_is_armed_again(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    armed = live_env(standalone, REHEARSAL_LIVE_CONFIRM="mintcash:300")
    state = tmp_path / "s"
    started = rehearsal(
        "start", plan(tmp_path, 300), "--live", "--yes", state=state, cwd=tmp_path, env=armed
    )
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()

    unarmed = live_env(standalone)  # a later shell, without the operator's confirmation
    for command in (["step", run_id], ["resume", run_id]):
        refused = rehearsal(*command, state=state, cwd=tmp_path, env=unarmed)
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert "REHEARSAL_LIVE_CONFIRM=mintcash:300" in refused.stderr
    assert payments(standalone) == []

    resumed = rehearsal("resume", run_id, "--yes", state=state, cwd=tmp_path, env=armed)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [(p["env"], p["status"]) for p in payments(standalone)] == [("live", "refunded")]
    cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path, env=unarmed)
    assert cleaned.returncode == 0  # returning money needs no arming
