"""Tunnel processes a killed run left behind, found and ended by the next run.

Nothing runs after SIGKILL, so a killed `rehearsal` cannot end its tunnel, and an ngrok
agent left running makes the next start fail with "already online". Each open tunnel is
recorded in the state folder (`tunnels/<pid>.json`: its pid and start time, and those of
the process that owns it). At the next open, a record whose owner is gone and whose tunnel
still runs (same pid, same start time, so never a recycled pid) is ended. Another live
run's tunnels are left alone. Without /proc (not Linux), nothing is ever killed: a record
is only dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _folder(state_dir: Path) -> Path:
    return state_dir / "tunnels"


def record(state_dir: Path, pid: int | None, mode: str, private: str | None = None) -> None:
    """`private`: a folder of ours holding a secret (ngrok's config with the auth token),
    removed with the tunnel."""
    if pid is None or (started := _started(pid)) is None:
        return
    folder = _folder(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    owner = os.getpid()
    data = {"pid": pid, "started": started, "mode": mode, "owner": owner, "private": private}
    data["owner_started"] = _started(owner) or ""
    (folder / f"{pid}.json").write_text(json.dumps(data))


def forget(state_dir: Path, pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(OSError):
            (_folder(state_dir) / f"{pid}.json").unlink()


def reap(state_dir: Path, say: Callable[[str], None]) -> list[int]:
    """End the tunnels of runs that are gone; the pids ended."""
    ended = []
    for path in sorted(_folder(state_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            pid, owner = int(data["pid"]), int(data["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if _started(owner) == data.get("owner_started"):
            continue  # its run is still going: its tunnel is not ours to end
        if _started(pid) == data.get("started"):
            _end(pid)
            ended.append(pid)
            mode = data.get("mode", "tunnel")
            say(f"tunnel: ended a {mode} process (pid {pid}) left by a killed run")
        _remove_private(data.get("private"))
        path.unlink(missing_ok=True)
    return ended


def _remove_private(folder: object) -> None:
    """Only a folder we made: rehearsal-* directly in the temporary directory."""
    if not isinstance(folder, str):
        return
    p = Path(folder)
    if p.parent == Path(tempfile.gettempdir()) and p.name.startswith("rehearsal-"):
        shutil.rmtree(p, ignore_errors=True)


def _end(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, AttributeError, OSError):
        fd = None
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if fd is None:
            break
        if select.select([fd], [], [], wait)[0]:
            break
    if fd is not None:
        os.close(fd)
