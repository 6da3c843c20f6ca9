"""What the Stripe simulator tests share: the simulator, Stripe's official client pointed at
it (`StripeClient(..., base_addresses={"api": url})`, nothing else changed), a webhook
receiver on 127.0.0.1 that verifies each delivery with `stripe.Webhook.construct_event`,
and waiting on a condition with a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe  # PyPI stripe, the dev extra: Stripe's official Python library
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rehearsal.net.server import ServerThread
from rehearsal.simulator.server import Simulator


@pytest.fixture
def st_sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "stripe.sqlite", dialect="stripe", time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


def client(sim: Simulator, key: str | None = None, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key or sim.keys.test_secret,
        base_addresses={"api": f"http://127.0.0.1:{sim.port}"},
        max_network_retries=retries,
    )


@pytest.fixture
def st(st_sim: Simulator) -> stripe.StripeClient:
    return client(st_sim)


def wait_until(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while True:
        if result := check():
            return result
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        event.wait(0.02)


class StripeInbox:
    """A webhook endpoint that verifies each delivery with Stripe's library and keeps the
    events (and the refusals, if any)."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.events: list[stripe.Event] = []
        self.refused: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._cond = threading.Condition()

        async def hook(request: Request) -> Response:
            body = await request.body()
            signature = request.headers.get("Stripe-Signature", "")
            try:
                event = stripe.Webhook.construct_event(body, signature, self.secret)
            except (stripe.SignatureVerificationError, ValueError) as exc:
                with self._cond:
                    self.refused.append(str(exc))
                    self._cond.notify_all()
                return Response(status_code=400)
            with self._cond:
                self.events.append(event)
                self.headers.append(dict(request.headers))
                self._cond.notify_all()
            return Response(status_code=200)

        self.server = ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"

    def wait_for(self, kind: str, object_id: str | None = None, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.type == kind and object_id in (None, event.data.object["id"]):
                        return event
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {kind} for {object_id} within {timeout}s"
                self._cond.wait(remaining)

    def types(self) -> list[str]:
        with self._cond:
            return [e.type for e in self.events]


@pytest.fixture
def inbox() -> Iterator[StripeInbox]:
    box = StripeInbox()
    box.server.start()
    yield box
    box.server.stop()
