"""The root of the command line as a user meets it: `--version`, `-h`, shell completion,
and `rehearsal plans` (each plan's description, and how to copy one as a template)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from rehearsal import __version__
from tests.e2e.test_run_cli import rehearsal


def test_version_and_short_help(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        shown = rehearsal(flag, state=tmp_path / "s", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == f"rehearsal {__version__}"
    short = rehearsal("-h", state=tmp_path / "s", cwd=tmp_path)
    long = rehearsal("--help", state=tmp_path / "s", cwd=tmp_path)
    assert short.returncode == long.returncode == 0, short.stderr
    assert short.stdout == long.stdout
    assert short.stdout.startswith("Usage: rehearsal ")  # the same name under `python -m`
    assert "--install-completion" in short.stdout
    step_help = rehearsal("step", "-h", state=tmp_path / "s", cwd=tmp_path)
    assert step_help.returncode == 0 and "Usage: rehearsal step" in step_help.stdout


def test_install_completion_for_bash_completes_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "SHELL": "/bin/bash"}
    installed = rehearsal("--install-completion", state=tmp_path / "s", cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    script = home / ".bash_completions" / "rehearsal.sh"
    assert str(script) in (home / ".bashrc").read_text()
    assert "complete -o default -F _rehearsal_completion rehearsal" in script.read_text()
    # What the installed script asks the program when the user presses Tab after `rehearsal ru`.
    env |= {"_REHEARSAL_COMPLETE": "complete_bash", "COMP_WORDS": "rehearsal ru", "COMP_CWORD": "1"}
    completed = rehearsal(state=tmp_path / "s", cwd=tmp_path, env=env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["run", "runs"]


def test_plans_gives_each_description_and_how_to_copy_one(tmp_path: Path) -> None:
    listed = rehearsal("plans", state=tmp_path / "s", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    by_name = {line.split()[0]: line for line in lines[:7]}
    assert set(by_name) == {
        "declined-card",
        "dunning",
        "live-dress-rehearsal",
        "partial-refunds",
        "paymongo",
        "paymongo-dunning",
        "rehearsal",
    }
    assert "goes past_due" in by_name["dunning"]
    assert "A charge on a card that is declined ends as payment.failed" in by_name["declined-card"]
    assert "Refund a charge in two parts" in by_name["partial-refunds"]
    assert "template" in listed.stdout
    # The printed copy command works as printed, and the copy runs.
    (copy_line,) = [line.strip() for line in lines if line.strip().startswith("cp ")]
    cp, rest = copy_line.split(" && ")
    subprocess.run(shlex.split(cp), cwd=tmp_path, check=True)
    assert rest == "rehearsal run my-plan.yaml"
    ran = rehearsal(*shlex.split(rest)[1:], state=tmp_path / "s", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "plan 'rehearsal'" in ran.stdout
    assert os.path.exists(tmp_path / "my-plan.yaml")


def test_help_stays_quick_no_heavy_import(tmp_path: Path) -> None:
    """`rehearsal --help` and `-h` import none of the heavy libraries, nor the standard
    library's slow ones (asyncio, sqlite3, ssl) (bench/bench_run.py times it): they load
    inside the commands."""
    probe = (
        "import sys\n"
        "from rehearsal.cli.app import app\n"
        "for flag in ('--help', '-h', '--version'):\n"
        "    try:\n"
        "        app([flag], prog_name='rehearsal')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pydantic', 'httpx', 'uvicorn', 'starlette', 'rich', 'yaml', 'asyncio',\n"
        "         'sqlite3', 'ssl', 'tenacity', 'httpcore', 'h11', 'pygments', 'segno')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"
