"""The webhook receiver: a real ASGI server (uvicorn) on 127.0.0.1, in a background thread.

It never parses before verifying: the raw bytes are read (413 past the size limit), the
signature is checked in constant time with the timestamp tolerance, and only then is the
body parsed. Events from the other environment are refused. Every accepted event is stored
before the answer, and duplicates (same event id) are counted, not processed twice. It
answers 2xx at once, also for event types the rehearsal does not use. Waiters sleep on a
condition and wake when an event arrives: no polling.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from rehearsal.providers.base import MalformedEvent, NormalizedEvent
from rehearsal.signatures import SignatureError
from rehearsal.state import StateDB
from rehearsal.tunnels.probe import PROBE_HEADER, ProbeBox

MAX_BODY = 256 * 1024  # bytes; provider events are a few KiB
# How an event reached the run (deliveries.via): a signed POST to the receiver, or read from
# the provider's own events API where there is no public path (rehearsal/event_feed.py).
WEBHOOK = "webhook"
EVENTS_API = "events-api"

Verify = Callable[[Mapping[str, str], bytes], NormalizedEvent]


class EventHub:
    """Accepted events of this run, and a way to wait for one with a deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[tuple[float, NormalizedEvent]] = []

    def publish(self, event: NormalizedEvent) -> None:
        with self._cond:
            self._events.append((time.time(), event))
            self._cond.notify_all()

    def wait_for(
        self, match: Callable[[NormalizedEvent], bool], deadline: float
    ) -> tuple[float, NormalizedEvent] | None:
        """The first event (arrival time, event) that matches, or None at the deadline.

        `deadline` is on the time.monotonic() clock. Events that arrived before the wait
        began count too: a webhook may beat the API answer that caused it.
        """
        with self._cond:
            seen = 0
            while True:
                for arrived, event in self._events[seen:]:
                    if match(event):
                        return arrived, event
                seen = len(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def events(self) -> list[NormalizedEvent]:
        with self._cond:
            return [e for _, e in self._events]


class WebhookEndpoint:
    """A POST route on an unguessable path, served on 127.0.0.1: the path check, the tunnel
    probe and the body limit, shared by the run's Receiver and `rehearsal tunnel`'s log.
    Subclasses say what a delivery gets (`handle`) and what an oversized one gets."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self.token = secrets.token_urlsafe(24)  # the path is unguessable
        self.probes = ProbeBox()  # the tunnel probe: answered, never stored or published
        self._server: Any = None

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def too_large(self) -> tuple[int, dict[str, Any]]:
        return 413, {"error": "body too large"}

    @property
    def path(self) -> str:
        return f"/webhooks/{self.token}"

    @property
    def url(self) -> str:
        assert self._server is not None, "receiver not started"
        return f"{self._server.url}{self.path}"

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def receive(request: Request) -> JSONResponse:
            # bytes: compare_digest refuses non-ASCII str, and any path may come in
            if not hmac.compare_digest(request.path_params["token"].encode(), self.token.encode()):
                return JSONResponse({"error": "not found"}, 404)
            if PROBE_HEADER.lower() in request.headers:
                status, answer = self.probes.answer(request.headers)
                return JSONResponse(answer, status)
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                status, answer = self.too_large()
                return JSONResponse(answer, status)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_body:
                    status, answer = self.too_large()
                    return JSONResponse(answer, status)
            status, answer = self.handle(request.headers, bytes(body))
            return JSONResponse(answer, status)

        return Starlette(routes=[Route("/webhooks/{token}", receive, methods=["POST"])])

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        from rehearsal.httpserver import ServerThread

        self._server = ServerThread(self.app(), host=host, port=port, name="receiver").start()
        return self.url

    def request_stop(self) -> None:
        if self._server is not None:
            self._server.request_stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class Receiver(WebhookEndpoint):
    def __init__(
        self,
        verify: Verify,
        *,
        environment: str,
        store: StateDB,
        run_id: str,
        wanted: set[str] | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(max_body)
        self.verify = verify
        self.environment = environment
        self.store = store
        self.run_id = run_id
        self.wanted = wanted  # None: every type the provider normalizes is used
        self.hub = EventHub()
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "ignored": 0}

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        return self.accept(headers, body)

    def too_large(self) -> tuple[int, dict[str, Any]]:
        return self._reject("body too large", 413)

    def accept(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, check, de-duplicate, store, publish. Returns the HTTP answer."""
        try:
            event = self.verify(headers, body)
        except SignatureError as exc:
            return self._reject(f"signature: {exc}", 400)
        except MalformedEvent as exc:
            return self._reject(f"malformed: {exc}", 400)
        return self.take(event, via=WEBHOOK)

    def take(self, event: NormalizedEvent, *, via: str) -> tuple[int, dict[str, Any]]:
        """An authenticated event (a verified webhook, or one read from the provider's
        events API over its authenticated TLS connection): check its environment,
        de-duplicate, store, publish."""
        if event.environment != self.environment:
            self.counts["rejected"] += 1
            self.store.record_delivery(
                self.run_id,
                event,
                verdict="rejected",
                reason=f"environment {event.environment!r} does not match this "
                f"{self.environment} run",
                via=via,
            )
            return 400, {"error": "environment mismatch"}
        used = event.object is not None and (self.wanted is None or event.type in self.wanted)
        verdict = "accepted" if used else "ignored"
        if not self.store.record_delivery(self.run_id, event, verdict=verdict, via=via):
            self.counts["duplicate"] += 1
            return 200, {"received": True, "duplicate": True}
        self.counts[verdict] += 1
        if used:
            self.hub.publish(event)
        return 200, {"received": True}

    def _reject(self, reason: str, status: int) -> tuple[int, dict[str, Any]]:
        self.counts["rejected"] += 1
        self.store.record_delivery(self.run_id, None, verdict="rejected", reason=reason)
        return status, {"error": reason.split(":")[0]}
