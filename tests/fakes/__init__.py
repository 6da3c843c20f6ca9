"""Fake tunnel binaries (ngrok, cloudflared) and helpers to install them and check that
none of their processes outlives a test."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def install(folder: Path) -> Path:
    """Write `ngrok` and `cloudflared` into `folder` (a bin dir to put first on PATH).

    Each is a shell script that `exec`s the fake with this interpreter, so the pid pyngrok
    or our code holds is the fake's own (no wrapper left behind to kill).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ngrok", "cloudflared"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / f"fake_{name}.py"}" "$@"\n')
        script.chmod(0o755)
    return folder


def pids(pidfile: Path) -> list[int]:
    if not pidfile.exists():
        return []
    return [int(line) for line in pidfile.read_text().split()]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pid_list: list[int], within: float = 5.0) -> list[int]:
    """The pids still running after `within` seconds. Waits on each process's pidfd (Linux),
    which becomes readable when the process ends, whoever its parent is."""
    deadline = time.monotonic() + within
    left = []
    for pid in pid_list:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
        if not ready and alive(pid):
            left.append(pid)
    return left


def tunnel_env(tmp_path: Path) -> dict[str, str]:
    """PATH with the fakes first, a pid file, and a fake auth token."""
    bin_dir = install(tmp_path / "fakebin")
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_TUNNEL_PIDFILE": str(tmp_path / "tunnel.pids"),
        "NGROK_AUTHTOKEN": "2fakeNgrokAuthToken_do_not_leak_0123456789",
    }
