"""What every tunnel mode implements, and the error each raises: the modes' modules import
this, never the registry (tunnels/__init__.py), which imports them."""

from __future__ import annotations

from typing import Protocol

from rehearsal.errors import ProviderError


class TunnelError(ProviderError):
    """The path from the internet to the receiver is broken: not a payment failure (exit 3)."""


class Tunnel(Protocol):
    mode: str
    public_url: str  # scheme://host[:port], no path
    inspect_url: str | None  # a local page showing what went through, where there is one
    pid: int | None  # the tunnel's own process, where there is one

    def alive(self) -> bool: ...

    def close(self) -> None: ...
