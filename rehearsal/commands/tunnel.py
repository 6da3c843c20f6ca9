"""`rehearsal tunnel`: the receiver and a tunnel alone, for a team clicking through a
provider's dashboard. It prints the public webhook URL (and ngrok's inspection page), proves
the path with the signed probe, shows each delivery as it arrives (verified when the
provider's webhook secret is in the environment; the body is never parsed before that),
and ends the tunnel on Ctrl-C or SIGTERM with exit 0. It moves no money and stores nothing.

It answers as a correct endpoint would, so the provider's dashboard tells the truth: 4xx
for an unsigned, forged, stale, malformed or other-environment delivery, 2xx for a valid
one (a repeated event id too: acknowledged, shown as a duplicate). Without the webhook
secret it cannot tell a forgery from an event, says so once, and acknowledges each.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal

from rehearsal.errors import UsageError
from rehearsal.receiver.endpoint import MAX_BODY, WebhookEndpoint

if TYPE_CHECKING:
    from rehearsal.audit.forward import Forwarded, Forwarder
    from rehearsal.providers.base import NormalizedEvent

WATCH_EVERY = 15.0  # seconds between checks that the tunnel still forwards


@dataclass(frozen=True)
class TunnelArgs:
    tunnel: str | None = None
    public_url: str | None = None
    listen: str | None = None
    ngrok_domain: str | None = None
    provider: str = "mintcash"
    live: bool = False  # check deliveries as live-mode events (a live webhook secret)
    state_dir: Path | None = None
    forward_to: str | None = None  # also deliver each verified event there (forward.py)


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Verdict:
    """What a delivery gets (the HTTP status) and what the terminal shows of it."""

    status: int
    text: str
    event: NormalizedEvent | None = None  # verified and new: what --forward-to sends

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


Judge = Callable[[Mapping[str, str], bytes], Verdict]


class DeliveryLog(WebhookEndpoint):
    """A receiver that shows what arrives and answers as a correct endpoint would: same
    unguessable path, same probe."""

    def __init__(
        self, judge: Judge, forward: Callable[[NormalizedEvent], None] | None = None
    ) -> None:
        super().__init__(MAX_BODY)
        self.judge = judge
        self.forward = forward
        self.count = 0

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Mapping[str, object]]:
        self.count += 1
        verdict = self.judge(headers, body)
        _say(f"[{_now()}] delivery {self.count}: {verdict.text} -> {verdict.status}")
        if verdict.event is not None and self.forward is not None:
            self.forward(verdict.event)
        if verdict.accepted:
            return verdict.status, {"received": True}
        return verdict.status, {"error": "rejected"}

    def too_large(self) -> tuple[int, Mapping[str, object]]:
        _say(f"[{_now()}] delivery refused: body over {MAX_BODY} bytes -> 413")
        return 413, {"error": "body too large"}


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _judge(provider: str, live: bool) -> Judge:
    """How each delivery is judged: verified with the provider's webhook secret when it is
    in the environment, in the mode given; without it, acknowledged unchecked."""
    from rehearsal import providers
    from rehearsal.providers import env_names
    from rehearsal.providers.base import MalformedEvent
    from rehearsal.providers.config import TargetConfig, parse_webhook_secrets
    from rehearsal.providers.signatures import SignatureError

    providers.require(provider)
    secret_var = env_names(provider)[2]
    secret = os.environ.get(secret_var)
    if not secret:
        _say(f"deliveries are not verified (set {secret_var}): each one is acknowledged")
        return lambda h, b: Verdict(200, f"{len(b)} bytes, signature not checked")
    mode: Literal["test", "live"] = "live" if live else "test"
    secrets = parse_webhook_secrets(secret_var, secret)
    config = TargetConfig(provider, "http://127.0.0.1:9", "", secrets, mode)
    adapter = providers.create(provider, config)
    seen: set[str] = set()
    lock = threading.Lock()

    def judge(headers: Mapping[str, str], body: bytes) -> Verdict:
        try:
            event = adapter.verify_webhook(headers, body)
        except (SignatureError, MalformedEvent) as exc:  # say which, never the body
            return Verdict(400, f"{len(body)} bytes, REJECTED: {exc}")
        except Exception as exc:  # an event the adapter cannot read is not acknowledged
            return Verdict(400, f"{len(body)} bytes, REJECTED: unreadable ({type(exc).__name__})")
        if event.environment != mode:  # as the receiver of a run refuses it
            return Verdict(
                400, f"{len(body)} bytes, REJECTED: a {event.environment} event, not {mode}"
            )
        with lock:
            again = event.event_id in seen
            seen.add(event.event_id)
        obj = f" {event.object.id}" if event.object is not None else ""
        note = ", a duplicate: acknowledged again" if again else ""
        return Verdict(
            200,
            f"{event.type} {event.event_id}{obj}, signature ok ({event.environment}){note}",
            None if again else event,
        )

    return judge


def _forwarder(args: TunnelArgs) -> Forwarder | None:
    """--forward-to: verified events go on to the merchant's handler; each answer shown."""
    if not args.forward_to:
        return None
    from rehearsal.audit.forward import Forwarder, check_settings
    from rehearsal.audit.report import shown_url
    from rehearsal.providers import env_names

    check_settings(args.forward_to)
    shown = shown_url(args.forward_to)  # a token in its path is a secret
    secret_var = env_names(args.provider)[2]
    if not os.environ.get(secret_var):
        raise UsageError(
            "--forward-to forwards verified events only",
            hint=f"set {secret_var} so deliveries are verified first",
        )

    def show(done: Forwarded) -> None:
        answer = f"HTTP {done.status}" if done.status is not None else "no answer"
        verdict = "ok" if done.problem is None else f"FAILED: {done.problem}"
        _say(
            f"[{_now()}] forwarded {done.event_id} to {shown}: {answer} in "
            f"{done.duration_ms:.0f} ms, {verdict}"
        )

    forwarder = Forwarder(
        args.forward_to,
        provider=args.provider,
        environment="live" if args.live else "test",
        store=None,
        on_done=show,
    )
    forwarder.start()
    return forwarder


def serve(args: TunnelArgs) -> int:
    from rehearsal.tunnels import choose
    from rehearsal.tunnels.base import TunnelError
    from rehearsal.tunnels.public_path import TunnelSession

    spec = choose(
        args.tunnel, public_url=args.public_url, listen=args.listen, domain=args.ngrok_domain
    )
    if spec is None:
        raise UsageError(
            "which tunnel? none was chosen",
            hint="--tunnel ngrok|cloudflared (or REHEARSAL_TUNNEL), or --public-url URL "
            "--listen HOST:PORT",
        )
    forwarder = _forwarder(args)
    log = DeliveryLog(
        _judge(args.provider, args.live), forwarder.submit if forwarder is not None else None
    )
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    from rehearsal.ledger.db import state_dir

    session = TunnelSession(
        spec,
        log,
        register=lambda url: False,
        say=_say,
        state_dir=state_dir(args.state_dir),  # an agent a killed `tunnel` left is ended
    )
    try:
        session.open()
        _say(f"webhook URL: {session.url_to_register}")  # a fixed token stays out of it
        session.prove()
        _say("waiting for deliveries; Ctrl-C to stop")
        while not stop.wait(WATCH_EVERY):
            assert session.tunnel is not None
            if not session.tunnel.alive():
                raise TunnelError(f"the {spec.mode} process has ended: the URL is dead")
        _say(f"stopping: {log.count} deliveries received")
        return 0
    finally:
        session.close()
        log.stop()
        if forwarder is not None:
            forwarder.close()
        for s, h in previous.items():
            signal.signal(s, h)
        sys.stdout.flush()
