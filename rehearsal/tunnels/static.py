"""The tunnels with no process of ours: `none` (the receiver's own loopback URL, for a
simulator on this machine) and `public-url` (the user's reverse proxy or tunnel, forwarding
to `--listen`). Nothing to start or end; only the probe says whether they forward."""

from __future__ import annotations


class StaticTunnel:
    inspect_url: str | None = None
    pid: int | None = None

    def __init__(self, mode: str, public_url: str) -> None:
        self.mode = mode
        self.public_url = public_url

    def alive(self) -> bool:
        return True  # no process to watch: the probe decides

    def close(self) -> None:
        pass
