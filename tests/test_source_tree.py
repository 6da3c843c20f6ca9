"""The tests run the source tree, never a copy installed in the venv.

README installs the package without `-e`, so `python -m rehearsal` in a subprocess started
from a temporary folder would import site-packages' copy: a change to rehearsal/ would then
leave every end-to-end test green. conftest puts the source root first on PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import rehearsal

ROOT = Path(__file__).resolve().parent.parent


def test_in_process_imports_come_from_the_source_tree() -> None:
    assert Path(rehearsal.__file__).resolve().parent == ROOT / "rehearsal"


def test_a_cli_subprocess_runs_the_source_tree(tmp_path: Path) -> None:
    # From another folder, as the end-to-end tests start the CLI (cwd=tmp_path).
    out = subprocess.run(
        [sys.executable, "-c", "import rehearsal.cli.app, sys; print(rehearsal.cli.app.__file__)"],
        cwd=tmp_path,
        env={**os.environ},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()).resolve() == ROOT / "rehearsal" / "cli" / "app.py"
