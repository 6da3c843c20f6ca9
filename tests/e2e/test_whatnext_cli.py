"""Where a run stands and what to type next, as a user meets it: `start`, `step` and
`status` print the exact next command, and following those commands as printed carries a
run to its end; `runs` tells a running run from a paused one and from one whose process
died (the run lock knows)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_crash_resume import latest_run
from tests.e2e.test_run_cli import rehearsal

REPO = Path(__file__).resolve().parents[2]


def next_command(output: str) -> str | None:
    """The command on the `next:` line, or None for `next: nothing to type: …`."""
    (line,) = [x for x in output.splitlines() if x.startswith("next: ")]
    if line.startswith("next: nothing to type"):
        return None
    return line.removeprefix("next: ").split("#")[0].strip()


def run_printed(command: str, state: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    assert argv[0] == "rehearsal", command
    return rehearsal(*argv[1:], state=state, cwd=cwd)


def runs_state(state: Path, cwd: Path, run_id: str) -> str:
    listed = rehearsal("runs", state=state, cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    (row,) = [line for line in rows if line.startswith(run_id)]
    at = header.index("verdict or state")
    return row[at : at + 20].strip()


def test_following_the_printed_next_commands_carries_a_run_to_its_end(tmp_path: Path) -> None:
    state = tmp_path / "s"
    started = rehearsal("start", state=state, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()  # stdout is the bare id: R=$(rehearsal start)
    assert re.fullmatch(r"[0-9]{8}-[0-9]{6}-[a-z0-9]{20}", run_id), started.stdout
    assert next_command(started.stderr) == f"rehearsal step {run_id}"
    assert f"rehearsal resume {run_id}" in started.stderr
    assert runs_state(state, tmp_path, run_id) == "paused"

    command = next_command(started.stderr)
    taken = []
    while command is not None:
        taken.append(command)
        assert len(taken) <= 5, taken
        done = run_printed(command, state, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        if len(taken) in (1, 5):  # status says the same (checked twice: it is slower)
            status = rehearsal("status", run_id, state=state, cwd=tmp_path)
            assert status.returncode == 0, status.stderr
            assert next_command(status.stdout) == next_command(done.stdout), status.stdout
        command = next_command(done.stdout)
    assert taken == [f"rehearsal step {run_id}"] * 5
    doc = json.loads(rehearsal("status", run_id, "--json", state=state, cwd=tmp_path).stdout)
    assert doc["verdict"] == "passed"
    assert doc["standing"] == {
        "state": "passed",
        "holder_pid": None,
        "next": [],
        "note": "the run ended (passed) and left nothing open",
    }


def test_a_run_whose_process_died_is_told_from_a_paused_one_and_resumed(tmp_path: Path) -> None:
    state = tmp_path / "s"
    crashed = rehearsal(
        "run", state=state, cwd=tmp_path, env={"REHEARSAL_FAILPOINT": "after-call:charge"}
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    run_id = latest_run(state)
    assert runs_state(state, tmp_path, run_id) == "died: resume"
    status = rehearsal("status", run_id, state=state, cwd=tmp_path)
    assert "its process died" in status.stdout.splitlines()[0]
    assert next_command(status.stdout) == f"rehearsal resume {run_id}"
    assert f"  or: rehearsal cleanup {run_id} " in status.stdout
    resumed = run_printed(f"rehearsal resume {run_id}", state, tmp_path)
    assert resumed.returncode == 0 and "PASSED" in resumed.stdout, resumed.stdout + resumed.stderr
    assert runs_state(state, tmp_path, run_id) == "passed"


def test_runs_shows_the_live_process_then_that_it_died(tmp_path: Path) -> None:
    state = tmp_path / "s"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))} | {
        "REHEARSAL_STATE_DIR": str(state),
        "NO_COLOR": "1",
    }
    # The charge's webhook never comes: the process waits on it (10 s) while it holds the run.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rehearsal",
            "run",
            "--plain",
            "--sim-fault",
            "drop:payment.succeeded",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # until the charge is answered and awaits its webhook
            if "POST /payments → 201" in line:
                break
        run_id = latest_run(state)
        assert runs_state(state, tmp_path, run_id) == f"running (pid {proc.pid})"
        status = rehearsal("status", run_id, state=state, cwd=tmp_path)
        assert f"running (process {proc.pid})" in status.stdout
        assert next_command(status.stdout) is None
        assert f"process {proc.pid} is moving this run" in status.stdout
    finally:
        proc.kill()
        proc.wait(10)
    assert runs_state(state, tmp_path, run_id) == "died: resume"
    status = rehearsal("status", run_id, state=state, cwd=tmp_path)
    assert next_command(status.stdout) == f"rehearsal resume {run_id}"


def test_an_ended_run_with_money_left_points_at_cleanup(tmp_path: Path) -> None:
    state = tmp_path / "s"
    failed = rehearsal(
        "run",
        "--no-cleanup",
        "--sim-fault",
        "drop:payment.succeeded",
        "--timeout-scale",
        "0.05",
        state=state,
        cwd=tmp_path,
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    run_id = latest_run(state)
    status = rehearsal("status", run_id, state=state, cwd=tmp_path)
    assert next_command(status.stdout) == f"rehearsal cleanup {run_id}"
    cleaned = run_printed(f"rehearsal cleanup {run_id}", state, tmp_path)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    status = rehearsal("status", run_id, state=state, cwd=tmp_path)
    assert next_command(status.stdout) is None


def test_an_unknown_outcome_without_lookup_points_at_cleanup_replay(tmp_path: Path) -> None:
    state = tmp_path / "s"
    # PayMongo's attach lands, then every answer is a 500: the charge's outcome is unknown.
    run = rehearsal(
        "run",
        str(REPO / "plans" / "paymongo.yaml"),
        "--simulator",
        "--sim-fault",
        "fail-after:POST /v1/payment_intents/*/attachx4",
        state=state,
        cwd=tmp_path,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    run_id = latest_run(state)
    doc = json.loads(rehearsal("status", run_id, "--json", state=state, cwd=tmp_path).stdout)
    assert [u["step"] for u in doc["money"]["unknown_outcomes"]] == ["charge"]
    assert doc["standing"]["next"][0]["command"] == f"rehearsal cleanup {run_id} --replay"
    status = rehearsal("status", run_id, state=state, cwd=tmp_path)
    assert next_command(status.stdout) == f"rehearsal cleanup {run_id} --replay"
    replayed = run_printed(next_command(status.stdout) or "", state, tmp_path)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    status = rehearsal("status", run_id, state=state, cwd=tmp_path)
    assert next_command(status.stdout) is None
