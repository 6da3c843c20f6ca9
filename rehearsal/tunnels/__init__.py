"""Tunnels: a public URL in front of the webhook receiver on 127.0.0.1.

Each mode is one module implementing the `Tunnel` protocol (open → public URL, `alive()`,
`close()`, `inspect_url` where the tool has one); `open_tunnel` maps a mode's name to it.
A tunnel never moves money and never outlives the run that opened it: `close()` ends its
process. "A URL was printed" proves nothing: the signed probe (probe.py) is the only proof
that a tunnel forwards, and it runs before any money moves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rehearsal.errors import UsageError
from rehearsal.tunnels.base import Tunnel

MODES = ("none", "ngrok", "cloudflared", "public-url", "events-api")
# Not a tunnel: no receiver path at all; the run reads the provider's events API instead
# (rehearsal/receiver/feed.py), where the provider has one (Stripe).
EVENTS_API = "events-api"
ENV_TUNNEL = "REHEARSAL_TUNNEL"
START_DEADLINE = 20.0  # seconds for a tunnel process to come up, our own deadline


@dataclass(frozen=True)
class TunnelSpec:
    mode: str
    public_url: str | None = None
    listen: tuple[str, int] | None = None  # where the receiver binds (--listen)
    domain: str | None = None  # ngrok: a reserved or dev domain, for a stable URL
    start_deadline: float = START_DEADLINE

    @property
    def describe(self) -> str:
        return "--public-url" if self.mode == "public-url" else f"--tunnel {self.mode}"


def choose(
    flag: str | None = None,
    *,
    public_url: str | None = None,
    listen: str | None = None,
    plan: str | None = None,
    domain: str | None = None,
    start_deadline: float = START_DEADLINE,
) -> TunnelSpec | None:
    """The tunnel a run uses: --tunnel > --public-url > $REHEARSAL_TUNNEL > the plan's
    `tunnel:`; None when nothing is set (the caller decides: none for a simulator)."""
    env = os.environ.get(ENV_TUNNEL) or None
    mode = flag or ("public-url" if public_url else None) or env or plan
    if mode is None:
        if listen:
            raise UsageError("--listen needs --public-url", hint=_PUBLIC_HINT)
        return None
    if mode not in MODES:
        source = "--tunnel" if flag else (ENV_TUNNEL if env == mode else "the plan's tunnel")
        raise UsageError(
            f"{source}: unknown tunnel {mode!r}", hint=f"expected one of: {', '.join(MODES)}"
        )
    if mode == "public-url":
        if not public_url:
            raise UsageError("--tunnel public-url needs --public-url URL", hint=_PUBLIC_HINT)
        if not public_url.startswith(("http://", "https://")):
            raise UsageError(f"--public-url {public_url!r} is not an http(s) URL")
        if not listen:
            raise UsageError(
                "--public-url needs --listen HOST:PORT, the address your proxy forwards to",
                hint=_PUBLIC_HINT,
            )
    elif public_url and flag:
        raise UsageError(f"--public-url and --tunnel {mode} exclude each other")
    return TunnelSpec(
        mode,
        public_url=public_url.rstrip("/") if public_url and mode == "public-url" else None,
        listen=parse_listen(listen) if listen else None,
        domain=domain or os.environ.get("NGROK_DOMAIN") or None,
        start_deadline=start_deadline,
    )


_PUBLIC_HINT = (
    "e.g. --public-url https://hooks.example.com --listen 127.0.0.1:8765; the receiver "
    "listens there and your proxy forwards the public URL to it"
)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {value!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host, int(port)


def open_tunnel(spec: TunnelSpec, receiver_url: str) -> Tunnel:
    """Open the tunnel of `spec` in front of `receiver_url` (scheme://host:port)."""
    if spec.mode == "ngrok":
        from rehearsal.tunnels import ngrok

        return ngrok.open_ngrok(receiver_url, domain=spec.domain, deadline=spec.start_deadline)
    if spec.mode == "cloudflared":
        from rehearsal.tunnels import cloudflared

        return cloudflared.open_cloudflared(receiver_url, deadline=spec.start_deadline)
    from rehearsal.tunnels.static import StaticTunnel

    if spec.mode == "public-url":
        assert spec.public_url is not None
        return StaticTunnel("public-url", spec.public_url)
    return StaticTunnel("none", receiver_url)
