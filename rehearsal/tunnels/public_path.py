"""A run's public path: receiver + tunnel + registration + probe, opened before money moves,
watched during long waits, always closed.

`TunnelSession.open()` starts the receiver (on --listen or a free loopback port), opens the
tunnel in front of it, and registers `public URL + receiver path` where the target can;
`prove()` sends the signed probe; `watch()` is the runner's callback during long waits: a
dead tunnel is reported as such, reopened once (re-registered, re-probed), or the run
stops with a TunnelError (exit 3) and compensation runs as for any error. `close()` ends
the tunnel process whatever happened.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rehearsal.errors import UsageError
from rehearsal.tunnels import TunnelSpec, leftovers, open_tunnel
from rehearsal.tunnels.base import Tunnel, TunnelError
from rehearsal.tunnels.probe import ProbeBox, send_probe

TOKEN_ENV = "REHEARSAL_WEBHOOK_TOKEN"
PROBE_WITHIN = 10.0  # seconds for a probe to reach the receiver

Register = Callable[[str], bool]  # public webhook URL -> False when it is registered by hand


class Listener(Protocol):
    """What the session needs of a receiver (rehearsal.receiver.endpoint.Receiver, or the delivery
    log of `rehearsal tunnel`)."""

    token: str
    probes: ProbeBox

    @property
    def path(self) -> str: ...

    @property
    def url(self) -> str: ...

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str: ...


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class TunnelSession:
    def __init__(
        self,
        spec: TunnelSpec,
        receiver: Listener,
        *,
        register: Register,
        say: Callable[[str], None] = _stderr,
        probe_within: float = PROBE_WITHIN,
        state_dir: Path | None = None,  # where open tunnels are recorded (leftovers.py)
        remote: bool = False,  # a real provider: it delivers to https URLs only
    ) -> None:
        self.spec = spec
        self.receiver = receiver
        self.register = register
        self.say = say
        self.probe_within = probe_within
        self.state_dir = state_dir
        self.remote = remote
        self.tunnel: Tunnel | None = None
        self.registered = False
        self.reconnected = False
        self.fixed_token = False

    @property
    def probes(self) -> ProbeBox:
        return self.receiver.probes

    @property
    def webhook_url(self) -> str:
        assert self.tunnel is not None
        return f"{self.tunnel.public_url}{self.receiver.path}"

    @property
    def shown_url(self) -> str:
        """The webhook URL as messages show it: the secret path token left out."""
        assert self.tunnel is not None
        return f"{self.tunnel.public_url}/webhooks/…"

    def open(self) -> str:
        fixed = fixed_token()
        if fixed is not None:  # a URL registered once by hand stays valid across runs
            self.receiver.token = fixed
        self.fixed_token = fixed is not None
        host, port = self.spec.listen or ("127.0.0.1", 0)
        local = self.receiver.start(host=host, port=port)
        local_base = local[: -len(self.receiver.path)]
        if self.state_dir is not None:
            leftovers.reap(self.state_dir, self.say)
        self.tunnel = open_tunnel(self.spec, local_base)
        self._record()
        t = self.tunnel
        if t.mode != "none":
            self.say(f"tunnel: {t.mode} {t.public_url} → receiver {local_base}")
        if t.inspect_url:
            self.say(f"tunnel: inspect deliveries at {t.inspect_url}")
        if self.remote and not t.public_url.startswith("https://"):
            self.say(
                f"tunnel: warning: {t.public_url} is not https; providers deliver webhooks "
                "to https URLs with a publicly trusted certificate"
            )
        self.registered = self.register(self.webhook_url)
        return self.webhook_url

    @property
    def url_to_register(self) -> str:
        """The URL an operator registers by hand; a token from the environment stays out of
        the output (it is a secret: whoever knows it can post to the receiver)."""
        if self.fixed_token:
            return f"{self.tunnel.public_url if self.tunnel else ''}/webhooks/${TOKEN_ENV}"
        return self.webhook_url

    def prove(self) -> float:
        seconds = send_probe(
            self.webhook_url, self.probes, within=self.probe_within, shown=self.shown_url
        )
        if self.tunnel is not None and self.tunnel.mode != "none":
            self.say(f"tunnel: probe reached the receiver in {seconds * 1000:.0f} ms")
        return seconds

    def watch(self) -> None:
        """Called during long waits: is the path still there? Reconnect once, else stop."""
        t = self.tunnel
        assert t is not None
        problem = None if t.alive() else f"the {t.mode} process (pid {t.pid}) has ended"
        if problem is None:
            try:
                send_probe(
                    self.webhook_url, self.probes, within=self.probe_within, shown=self.shown_url
                )
                return
            except TunnelError as exc:
                problem = exc.message
        self.say(f"tunnel: DEAD: {problem}")
        if self.reconnected or t.mode in ("none", "public-url"):
            raise TunnelError(
                f"the tunnel ({self.spec.describe}) stopped forwarding webhooks: {problem}; "
                "this is a tunnel failure, not a payment failure",
                hint="what the run created is compensated through the API; fix the tunnel "
                "and run again",
            )
        self.reconnected = True
        old = t.public_url
        t.close()
        self._forget(t)
        self.say(f"tunnel: reconnecting {t.mode} once")
        local_base = self.receiver.url[: -len(self.receiver.path)]
        try:
            self.tunnel = open_tunnel(self.spec, local_base)
        except TunnelError as exc:
            self.tunnel = t  # closed; close() again is harmless
            raise TunnelError(
                f"the tunnel ({self.spec.describe}) died and could not be reopened: "
                f"{exc.message}; this is a tunnel failure, not a payment failure"
            ) from None
        self._record()
        if self.tunnel.public_url != old and not self.register(self.webhook_url):
            raise TunnelError(
                f"the tunnel came back at a new URL ({self.tunnel.public_url}) and this "
                "provider's webhook URL is registered by hand",
                hint="use a stable URL (--tunnel ngrok with NGROK_DOMAIN, or --public-url)",
            )
        try:
            self.prove()
        except TunnelError as exc:
            raise TunnelError(
                f"the tunnel ({self.spec.describe}) was reopened but does not forward: "
                f"{exc.message}; this is a tunnel failure, not a payment failure",
                hint="what the run created is compensated through the API; fix the tunnel "
                "and run again",
            ) from None
        self.say(f"tunnel: reconnected at {self.tunnel.public_url}")

    def close(self) -> None:
        if self.tunnel is not None:
            self.tunnel.close()
            self._forget(self.tunnel)

    def _record(self) -> None:
        if self.state_dir is not None and self.tunnel is not None:
            private = getattr(self.tunnel, "workdir", None)
            leftovers.record(self.state_dir, self.tunnel.pid, self.tunnel.mode, private)

    def _forget(self, tunnel: Tunnel) -> None:
        if self.state_dir is not None:
            leftovers.forget(self.state_dir, tunnel.pid)


def fixed_token() -> str | None:
    """$REHEARSAL_WEBHOOK_TOKEN: a stable path token for a URL registered by hand (MintCash's
    account manager registers one URL); it must be as unguessable as the random one."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        return None
    if len(token) < 24 or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        raise UsageError(
            f"${TOKEN_ENV} must be at least 24 characters of A-Z a-z 0-9 _ -",
            hint='e.g. python3 -c "import secrets; print(secrets.token_urlsafe(24))"',
        )
    return token


def unstable_for_hand_registration(spec: TunnelSpec) -> list[str]:
    """What keeps the webhook URL from being the same every run. A provider whose URL is
    registered by hand (MintCash's account manager) can only reach a URL that never
    changes; a random one would lose every webhook while the probe, sent to our own URL,
    still passed."""
    fixes = []
    if fixed_token() is None:
        fixes.append(f"set ${TOKEN_ENV} (a stable path token of 24+ characters)")
    if spec.mode == "cloudflared":
        fixes.append("a quick tunnel's URL changes every run: use --public-url or ngrok")
    if spec.mode == "ngrok" and not spec.domain:
        fixes.append("reserve an ngrok domain and pass --ngrok-domain (or NGROK_DOMAIN)")
    return fixes


def probe_deadline(timeout_scale: float) -> float:
    """The probe's deadline follows --timeout-scale (like every step's), within reason."""
    return min(30.0, max(0.5, PROBE_WITHIN * timeout_scale))


def resolve(spec: TunnelSpec | None, *, simulated: bool, provider: str) -> TunnelSpec:
    """The default when nothing chose a tunnel: none for a simulator, else a clear refusal."""
    if spec is not None:
        if spec.mode == "none" and not simulated:
            raise UsageError(
                f"--tunnel none cannot work with {provider}: it cannot reach 127.0.0.1",
                hint=NEED_TUNNEL,
            )
        return spec
    if simulated:
        return TunnelSpec("none")
    raise UsageError(
        f"{provider} needs a public webhook URL to reach the receiver", hint=NEED_TUNNEL
    )


NEED_TUNNEL = (
    "choose one with --tunnel ngrok|cloudflared (or REHEARSAL_TUNNEL, or `tunnel:` in the "
    "plan), or --public-url URL --listen HOST:PORT for your own proxy"
)
