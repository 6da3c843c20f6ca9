"""Report paths are checked before the first call (issue 12): `--report-json` under a file
used to run the plan, print PASSED, then exit 2. A missing folder is made, and said."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import rehearsal


def payments(state: Path) -> list[tuple[object, ...]]:
    books = state / "simulator" / "mintcash.sqlite"
    if not books.exists():
        return []
    with sqlite3.connect(books) as db:
        return db.execute("SELECT id, amount FROM payments").fetchall()


@pytest.mark.parametrize("option", ["--report-json", "--junit", "--report-md"])
def test_a_report_path_under_a_file_is_refused_before_any_money_moves(
    tmp_path: Path, option: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    state = tmp_path / "s"
    bad = afile / "report.out"
    result = rehearsal("run", option, str(bad), state=state, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{option} {bad}: cannot be written: {afile} is a file" in result.stderr
    assert "PASSED" not in result.stdout and "POST" not in result.stdout
    assert "Traceback" not in result.stderr
    assert payments(state) == []  # the simulator's books: nothing charged


def test_a_report_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    result = rehearsal("run", "--report-json", str(tmp_path), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is a folder, not a file" in result.stderr
    assert payments(tmp_path / "s") == []


def test_step_and_resume_check_report_paths_before_moving(tmp_path: Path) -> None:
    state = tmp_path / "s"
    run_id = rehearsal("start", state=state, cwd=tmp_path).stdout.strip()
    afile = tmp_path / "afile"
    afile.write_text("")
    for command in ("step", "resume"):
        result = rehearsal(
            command, run_id, "--junit", str(afile / "j.xml"), state=state, cwd=tmp_path
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--junit" in result.stderr and "is a file" in result.stderr
        assert payments(state) == []
    # The run is untouched: it still starts with its first step.
    stepped = rehearsal("step", run_id, state=state, cwd=tmp_path)
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    assert "▶ charge" in stepped.stdout


def test_a_missing_report_folder_is_made_and_said(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "nightly" / "run.json"
    result = rehearsal("run", "--report-json", str(report), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"made the folder {report.parent} for --report-json" in result.stderr
    assert report.is_file()
