"""Numbers and the state folder are checked at the edge (issue 12): one clear error naming
the option (or the path), exit 2, no traceback, and nothing moved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import rehearsal


@pytest.mark.parametrize(
    ("args", "option", "says"),
    [
        (["run", "--timeout-scale", "inf"], "--timeout-scale", "finite number greater than 0"),
        (["run", "--timeout-scale", "nan"], "--timeout-scale", "finite number greater than 0"),
        (["run", "--timeout-scale", "1e9"], "--timeout-scale", "at most 100"),
        (["run", "--timeout-scale", "0"], "--timeout-scale", "greater than 0"),
        (["start", "--timeout-scale", "-1"], "--timeout-scale", "greater than 0"),
        (["run", "--max-amount", "-5"], "--max-amount", "1"),
        (["start", "--max-amount", "0"], "--max-amount", "1"),
        (["run", "--probe-every", "0"], "--probe-every", "greater than 0"),
        (["run", "--probe-every", "nan"], "--probe-every", "finite"),
        (["step", "RUN", "--probe-every", "inf"], "--probe-every", "finite"),
        (["resume", "RUN", "--max-amount", "-1"], "--max-amount", "1"),
        (["simulator", "--time-scale", "inf"], "--time-scale", "finite"),
        (["simulator", "--port", "70000"], "--port", "65535"),
    ],
)
def test_a_number_out_of_range_names_its_option(
    tmp_path: Path, args: list[str], option: str, says: str
) -> None:
    state = tmp_path / "s"
    result = rehearsal(*args, state=state, cwd=tmp_path, timeout=20)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Invalid value for '{option}'" in result.stderr and says in result.stderr
    assert "Traceback" not in result.stderr
    assert not state.exists()  # nothing ran: no ledger, no simulator books


def test_a_plan_deadline_past_seven_days_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "version: 1\nname: long\nsteps:\n  - id: charge\n    action: charge\n"
        "    amount: 500\n    expect: {event: payment.succeeded, within: 8d}\n"
    )
    result = rehearsal("run", str(plan), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{plan}:7: steps[0].expect.within: expected a deadline of at most 7d" in result.stderr


COMMANDS = [
    ["run"],
    ["start"],
    ["step", "RUN"],
    ["resume", "RUN"],
    ["simulator", "--port", "0"],
    ["status"],
    ["cleanup", "RUN"],
    ["runs"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_state_dir_under_a_file_is_one_clear_error(tmp_path: Path, command: list[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    bad = afile / "x"
    for given in (["--state-dir", str(bad)], []):  # the option, or REHEARSAL_STATE_DIR
        result = rehearsal(*command, *given, state=bad, cwd=tmp_path, timeout=20)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"the state folder {bad} cannot be made: {afile} is a file" in result.stderr
        assert "--state-dir" in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    result = rehearsal(*command, "--state-dir", str(afile), state=afile, cwd=tmp_path, timeout=20)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"the state folder {afile} is a file, not a folder" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_state_dir_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        result = rehearsal("run", state=locked / "s", cwd=tmp_path, timeout=20)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{locked} is not writable" in result.stderr
    finally:
        locked.chmod(0o700)
