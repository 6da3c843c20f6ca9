"""`--tunnel cloudflared`: a Cloudflare quick tunnel (no account), `cloudflared` on PATH.

cloudflared logs on stderr; the URL is printed inside an ASCII box after the line "Your
quick Tunnel has been created!" (cloudflare/cloudflared cmd/cloudflared/tunnel/
quick_tunnel.go), and "Registered tunnel connection" follows once the edge can forward
(connection/observer.go). We wait for both, with our own deadline, keep draining stderr so
the pipe never fills, and end the whole process group on close.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import threading

from rehearsal.tunnels.base import TunnelError
from rehearsal.tunnels.binaries import agent_env, find_binary

INSTALL = (
    "install cloudflared (https://developers.cloudflare.com/cloudflare-one/connections/"
    "connect-networks/downloads/)"
)
BANNER = "Your quick Tunnel has been created"
REGISTERED = "Registered tunnel connection"
URL = re.compile(r"https?://[^\s|]+")


class CloudflaredTunnel:
    mode = "cloudflared"
    inspect_url: str | None = None

    def __init__(self, proc: subprocess.Popen[str], lines: collections.deque[str]) -> None:
        self._proc = proc
        self.pid: int | None = proc.pid
        self.lines = lines
        self.public_url = ""

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)
            try:
                self._proc.wait(timeout=3)
                return
            except subprocess.TimeoutExpired:
                continue


def open_cloudflared(upstream: str, *, deadline: float) -> CloudflaredTunnel:
    binary = find_binary("cloudflared", "REHEARSAL_CLOUDFLARED_BIN", install=INSTALL)
    proc = subprocess.Popen(
        [binary, "tunnel", "--no-autoupdate", "--url", upstream],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: close() ends it and anything it spawned
        env=agent_env(),  # no provider key or webhook secret in the agent's environment
    )
    lines: collections.deque[str] = collections.deque(maxlen=40)
    tunnel = CloudflaredTunnel(proc, lines)
    ready = threading.Event()
    found: dict[str, str] = {}

    def read() -> None:
        assert proc.stderr is not None
        banner = False
        for line in proc.stderr:
            lines.append(line.rstrip())
            if BANNER in line:
                banner = True
            elif banner and "url" not in found and (m := URL.search(line)):
                found["url"] = m.group(0)
            if REGISTERED in line and "url" in found:
                ready.set()
        ready.set()  # the process ended: wake the waiter

    threading.Thread(target=read, name="cloudflared-log", daemon=True).start()
    try:
        ready.wait(deadline)
    except BaseException:
        tunnel.close()
        raise
    code = proc.poll()
    if code is not None or "url" not in found or not ready.is_set():
        tunnel.close()
        last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        what = (
            f"exited with code {code}"
            if code is not None
            else f"gave no URL and connection within {deadline:g}s; it was ended (pid {proc.pid})"
        )
        raise TunnelError(
            f"cloudflared {what}; its last line: {last[-200:]}",
            hint="check that this machine reaches Cloudflare (region1.v2.argotunnel.com:7844) "
            "and that `cloudflared tunnel --url http://127.0.0.1:8000` works by hand",
        )
    tunnel.public_url = found["url"].rstrip("/")
    return tunnel
