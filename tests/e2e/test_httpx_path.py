"""The adapters' httpx path, rehearsed against the simulator.

On this machine the adapters speak plain http through rehearsal/net/plain.py; every real
provider is reached over https, through httpx. `REHEARSAL_HTTPX_ON_LOOPBACK=1` sends the
simulator's calls through httpx too, so the path that carries real money runs the whole
loop here, for each provider, with the books as judge. `-X importtime` shows which path
ran: httpx's client is imported only when it is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.faultlib import books_money, disagreements, status_json

ROOT = Path(__file__).resolve().parents[2]
PLANS = {
    "mintcash": ROOT / "plans" / "rehearsal.yaml",
    "paymongo": ROOT / "plans" / "paymongo.yaml",
    "stripe": ROOT / "plans" / "stripe.yaml",
}


def run(tmp_path: Path, provider: str, httpx_on_loopback: bool) -> tuple[str, dict[str, object]]:
    state, report = tmp_path / "s", tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REHEARSAL_")}
    env.update(REHEARSAL_STATE_DIR=str(state), NO_COLOR="1")
    if httpx_on_loopback:
        env["REHEARSAL_HTTPX_ON_LOOPBACK"] = "1"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rehearsal", "run", str(PLANS[provider]),
         "--simulator", "--report-json", str(report)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done.stderr, json.loads(report.read_text())


@pytest.mark.parametrize("provider", sorted(PLANS))
def test_the_whole_loop_passes_through_httpx_and_the_books_agree(
    tmp_path: Path, provider: str
) -> None:
    imports, doc = run(tmp_path, provider, httpx_on_loopback=True)
    assert "httpx._client" in imports  # the adapter's calls went through httpx
    assert doc["verdict"] == "passed"
    money = books_money(tmp_path / "s" / "simulator" / f"{provider}.sqlite", str(doc["run_id"]))
    assert money.double_charges == []
    assert money.charged > 0
    assert money.charged == money.refunded + money.not_refundable_in_test  # PayMongo: test mode
    assert disagreements(money, status_json(str(doc["run_id"]), tmp_path / "s")) == []


def test_on_the_simulator_nothing_imports_httpx(tmp_path: Path) -> None:
    imports, doc = run(tmp_path, "mintcash", httpx_on_loopback=False)
    assert doc["verdict"] == "passed"
    assert "httpx" not in {line.rsplit("|", 1)[-1].strip() for line in imports.splitlines()}
