"""A standalone `rehearsal simulator` process, targeted through the MINTCASH_* environment."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.test_run_cli import rehearsal


def test_run_against_a_standalone_simulator_keeps_its_secrets(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    assert set(standalone) == {
        "MINTCASH_API_BASE",
        "MINTCASH_SECRET_KEY",
        "MINTCASH_WEBHOOK_SECRET",
        "LIVE_KEY",
    }
    state = tmp_path / "state"
    report = tmp_path / "r.json"
    result = rehearsal(
        "run", "--report-json", str(report), state=state, cwd=tmp_path, env=standalone
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"rehearsal simulator at {standalone['MINTCASH_API_BASE']}" in result.stdout

    books = httpx.get(
        f"{standalone['MINTCASH_API_BASE']}/_sim/books",
        headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
    ).json()
    charges = [p for p in books["payments"] if p["subscription_id"] is None]
    assert [(p["amount"], p["status"]) for p in charges] == [(500, "refunded")]
    assert [s["status"] for s in books["subscriptions"]] == ["cancelled"]

    secrets = [standalone["MINTCASH_SECRET_KEY"], standalone["MINTCASH_WEBHOOK_SECRET"]]
    state_bytes = b"".join(p.read_bytes() for p in state.iterdir() if p.is_file())
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
        assert secret not in report.read_text()
        assert secret.encode() not in state_bytes
