"""A provider with no lookup by key (PayMongo): a charge whose answer was lost stays an
unknown outcome, and `cleanup --replay` settles it by sending the same call with the same
key, judged by the simulator's books (one intent, one payment; never two)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal

REPO = Path(__file__).resolve().parents[2]
PLAN = str(REPO / "plans" / "paymongo.yaml")


def books(state: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "simulator" / "paymongo.sqlite") as db:
        return list(db.execute(sql))


def test_a_lost_paymongo_charge_stays_unknown_until_cleanup_replays_its_key(
    tmp_path: Path,
) -> None:
    state = tmp_path / "s"
    # The charge's attach lands at PayMongo, then every answer is a 500: the answer is lost.
    run = rehearsal(
        "run",
        PLAN,
        "--simulator",
        "--plain",
        "--sim-fault",
        "fail-after:POST /v1/payment_intents/*/attachx4",
        state=state,
        cwd=tmp_path,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert books(state, "SELECT COUNT(*) FROM payments") == [(1,)]  # the money moved
    doc = json.loads(rehearsal("status", "--json", state=state, cwd=tmp_path).stdout)
    run_id = doc["run_id"]
    # Not "nothing outstanding": the ledger says it does not know.
    assert [u["step"] for u in doc["money"]["unknown_outcomes"]] == ["charge"]
    assert doc["steps"][0]["outcome"] == "intent"

    plain = rehearsal("cleanup", run_id, state=state, cwd=tmp_path)
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert f"rehearsal cleanup {run_id} --replay" in plain.stdout
    assert "nothing outstanding" not in plain.stdout

    replayed = rehearsal("cleanup", run_id, "--replay", state=state, cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # The replay returned the original: still one intent and one payment at the provider.
    assert books(state, "SELECT COUNT(*) FROM pm_intents") == [(1,)]
    assert books(state, "SELECT COUNT(*) FROM payments") == [(1,)]
    doc = json.loads(rehearsal("status", run_id, "--json", state=state, cwd=tmp_path).stdout)
    assert doc["read_from_provider"] is True
    assert doc["money"]["unknown_outcomes"] == []
    # PayMongo refunds live payments only: the test charge is test money, counted as such.
    assert doc["money"]["charged"] == 20000
    assert doc["money"]["not_refundable_in_test"] == 20000
    assert doc["money"]["outstanding"] == 0
    assert doc["verdict"] == "error"
