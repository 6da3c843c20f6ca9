"""`rehearsal run --forward-to URL`: each verified event also goes to the merchant's own
handler (a real server on 127.0.0.1), re-signed with the merchant's secret; the run records
each answer and fails the step whose event the handler refused or answered too slowly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.audit.merchants import Merchant, serving
from tests.e2e.test_run_cli import rehearsal

SECRET = "whsec_merchant_own_handler_secret_0123456789"


def run(tmp_path: Path, url: str, **env: str) -> tuple[int, str, dict[str, object]]:
    report = tmp_path / "report.json"
    result = rehearsal(
        "run", "--forward-to", url, "--report-json", str(report),
        state=tmp_path / "s", cwd=tmp_path,
        env={"REHEARSAL_FORWARD_SECRET": SECRET, **env},
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert SECRET not in out
    return result.returncode, out, json.loads(report.read_text())


def forwards(tmp_path: Path) -> list[tuple[str, int | None, str | None]]:
    with sqlite3.connect(tmp_path / "s" / "rehearsal.sqlite") as db:
        rows = db.execute("SELECT type, status, problem FROM forwards ORDER BY at").fetchall()
    return [(str(t), s, p) for t, s, p in rows]


def test_a_handler_that_acknowledges_in_time_passes_every_step(tmp_path: Path) -> None:
    merchant = Merchant("mintcash", SECRET)
    with serving(merchant) as url:
        code, out, doc = run(tmp_path, url)
    assert code == 0, out
    assert doc["verdict"] == "passed"
    seen = forwards(tmp_path)
    assert {"payment.succeeded", "payment.refunded"} <= {t for t, _, _ in seen}
    assert all(status == 200 and problem is None for _, status, problem in seen), seen
    assert merchant.hits >= len(seen)  # each one reached the handler, verified with its secret


def test_a_handler_that_refuses_fails_the_step_and_the_money_is_still_settled(
    tmp_path: Path,
) -> None:
    merchant = Merchant("mintcash", "whsec_a_different_secret_than_the_forwarders")
    with serving(merchant) as url:
        code, out, doc = run(tmp_path, url)
    assert code == 1, out
    assert "your handler at" in out and "answered HTTP 400" in out
    steps = {s["id"]: s["status"] for s in doc["steps"]}  # type: ignore[index, union-attr]
    assert steps["charge"] == "failed"
    money = doc["money"]
    assert isinstance(money, dict) and money["outstanding"] == 0  # compensated


def test_a_handler_slower_than_the_provider_waits_fails_the_step(tmp_path: Path) -> None:
    merchant = Merchant("mintcash", SECRET, mistake="slow", delay=1.0)
    with serving(merchant) as url:
        # MintCash waits 10 s (seed 002); scaled to 0.5 s here, below the handler's 1 s.
        code, out, _ = run(tmp_path, url, REHEARSAL_AUDIT_TIME_SCALE="0.05")
    assert code == 1, out
    assert "past the 0.5 s mintcash waits" in out
    assert any(p and "past the" in p for _, _, p in forwards(tmp_path))


def test_forward_to_without_its_secret_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = rehearsal(
        "run", "--forward-to", "http://127.0.0.1:9/hook", state=tmp_path / "s", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "--forward-to needs REHEARSAL_FORWARD_SECRET" in result.stderr
    assert not (tmp_path / "s" / "rehearsal.sqlite").exists()  # no run was recorded
