"""The process around a command (rehearsal/cli/launch.py): exit codes and output kept through
the fast exit, `atexit` handlers still run, a live thread still joined, the collector held
only during start-up, and httpx without its command line. Each case is its own process."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from rehearsal.cli import launch


def python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "REHEARSAL_STATE_DIR": str(tmp_path / "s"), "NO_COLOR": "1"},
    )


def test_exit_code_output_and_atexit_handlers_survive_the_fast_exit(tmp_path: Path) -> None:
    marker, teardown = tmp_path / "atexit-ran", tmp_path / "torn-down"
    code = (
        "import atexit, sys\n"
        # Registered before the command, so it runs after every handler the command adds.
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        # Finalized only in Python's module teardown, which the fast exit skips.
        "class Torn:\n"
        f"    def __del__(self, open=open): open({str(teardown)!r}, 'w').write('x')\n"
        "torn = Torn()\n"
        "sys.argv = ['rehearsal', 'status', 'no-such-run']\n"
        "from rehearsal.cli.launch import main\n"
        "main()\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: no runs yet" in done.stderr  # flushed before os._exit
    assert marker.read_text() == "ran"
    assert not teardown.exists()  # the fast exit was taken


def test_a_live_thread_gets_pythons_own_shutdown(tmp_path: Path) -> None:
    marker = tmp_path / "thread-finished"
    code = (
        "import threading\n"
        "from rehearsal.cli import launch\n"
        "release = threading.Event()\n"
        "def work():\n"
        "    release.wait(30)\n"
        f"    open({str(marker)!r}, 'w').write('done')\n"
        "threading.Thread(target=work, daemon=False).start()\n"
        "threading.Timer(0.05, release.set).start()\n"
        "launch._end(3)\n"  # os._exit here would leave the marker unwritten
    )
    done = python(code, tmp_path)
    assert done.returncode == 3, done.stderr
    assert marker.read_text() == "done"


def test_collector_is_held_during_start_up_and_restored_when_serving(tmp_path: Path) -> None:
    code = (
        "import gc\n"
        "from rehearsal.cli import launch\n"
        "default = gc.get_threshold()\n"
        "launch._hold_collector()\n"
        "held = gc.get_threshold()\n"
        "from rehearsal.net.server import ServerThread\n"
        "async def app(scope, receive, send): pass\n"
        "ServerThread(app, name='t').start().stop()\n"
        "print(held[0] > default[0], gc.get_threshold() == default, gc.get_freeze_count() > 0)\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_started_changes_nothing_outside_the_command() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    launch.started()
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_httpx_works_without_its_command_line(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from rehearsal.cli import launch\n"
        "launch._without_httpx_cli()\n"
        "import httpx\n"
        "assert httpx.URL('http://127.0.0.1:1/x').port == 1\n"
        "print(sorted({'pygments', 'click', 'rich'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pydantic_plugins_are_off_unless_the_caller_chose(tmp_path: Path) -> None:
    code = (
        "import atexit, os, sys\n"
        "atexit.register(lambda: print(os.environ.get('PYDANTIC_DISABLE_PLUGINS')))\n"
        "{preset}"
        "sys.argv = ['rehearsal', '--version']\n"
        "from rehearsal.cli.launch import main\n"
        "main()\n"
    )
    off = python(code.format(preset=""), tmp_path)
    chosen = python(code.format(preset="os.environ['PYDANTIC_DISABLE_PLUGINS'] = '0'\n"), tmp_path)
    assert off.returncode == chosen.returncode == 0, off.stderr + chosen.stderr
    assert off.stdout.split()[-1] == "__all__"
    assert chosen.stdout.split()[-1] == "0"


def test_pydantic_finds_no_plugins_without_importlib_metadata_and_the_real_loader_otherwise(
    tmp_path: Path,
) -> None:
    """Plugins off: models build and validate, and `importlib.metadata` (pydantic's loader
    imports it to read entry points) is never imported. Plugins on: the real loader runs."""
    code = (
        "import os, sys\n"
        "{preset}"
        "from rehearsal.cli import launch\n"
        "launch.prepare()\n"
        "import pydantic\n"
        "class M(pydantic.BaseModel):\n"
        "    n: int\n"
        "assert M.model_validate({{'n': '3'}}).n == 3\n"
        "from pydantic.plugin import _loader\n"
        "print('metadata' if 'importlib.metadata' in sys.modules else 'none',\n"
        "      'real' if hasattr(_loader, 'PYDANTIC_ENTRY_POINT_GROUP') else 'stand-in')\n"
    )
    off = python(code.format(preset=""), tmp_path)
    on = python(code.format(preset="os.environ['PYDANTIC_DISABLE_PLUGINS'] = ''\n"), tmp_path)
    assert off.returncode == on.returncode == 0, off.stderr + on.stderr
    assert off.stdout.split() == ["none", "stand-in"]
    assert on.stdout.split() == ["metadata", "real"]
