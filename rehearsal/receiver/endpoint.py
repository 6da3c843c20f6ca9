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
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any

from rehearsal.ledger.db import Delivery, StateDB
from rehearsal.providers.base import MalformedEvent, NormalizedEvent
from rehearsal.providers.signatures import SignatureError
from rehearsal.receiver.batch import GroupCommit
from rehearsal.tunnels.probe import PROBE_HEADER, ProbeBox

MAX_BODY = 256 * 1024  # bytes; provider events are a few KiB
# How an event reached the run (deliveries.via): a signed POST to the receiver, or read from
# the provider's own events API where there is no public path (rehearsal/receiver/feed.py).
WEBHOOK = "webhook"
EVENTS_API = "events-api"

Verify = Callable[[Mapping[str, str], bytes], NormalizedEvent]
Answer = tuple[int, Mapping[str, Any]]  # an HTTP status and its JSON body
Scope = MutableMapping[str, Any]  # ASGI's, as starlette.types spells them
RECEIVED: Mapping[str, Any] = MappingProxyType({"received": True})  # a new event's answer
_RECEIVED_BODY = b'{"received":true}'
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


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

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Mapping[str, Any]]:
        raise NotImplementedError

    def too_large(self) -> tuple[int, Mapping[str, Any]]:
        return 413, {"error": "body too large"}

    @property
    def path(self) -> str:
        return f"/webhooks/{self.token}"

    @property
    def url(self) -> str:
        assert self._server is not None, "receiver not started"
        return f"{self._server.url}{self.path}"

    async def handle_async(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, Any]]:
        """`handle`, on the server's event loop; a subclass may wait here without blocking it."""
        return self.handle(headers, body)

    def app(self) -> Any:
        """The one route as a plain ASGI callable: Starlette's router and Request objects
        cost more per request than the receiver's own work (bench/README.md)."""
        route = b"/webhooks/"
        token = self.token.encode()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return  # lifespan is off; nothing else is served
            path = scope["path"].encode("utf-8", "replace")
            given = path[len(route) :] if path.startswith(route) else b"/"
            if b"/" in given or not given:
                return await _respond(send, 404, b"Not Found", b"text/plain; charset=utf-8")
            if scope["method"] != "POST":
                return await _respond(
                    send, 405, b"Method Not Allowed", b"text/plain; charset=utf-8", b"POST"
                )
            # bytes: compare_digest refuses non-ASCII str, and any path may come in
            if not hmac.compare_digest(given, token):
                return await _json(send, 404, {"error": "not found"})
            headers = _headers(scope)
            if PROBE_HEADER.lower() in headers:
                status, answer = self.probes.answer(headers)
                return await _json(send, status, answer)
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                return await _json(send, *self.too_large())
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > self.max_body:
                    return await _json(send, *self.too_large())
                if not message.get("more_body", False):
                    break
            await _json(send, *await self.handle_async(headers, bytes(body)))

        return app

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        from rehearsal.net.server import ServerThread

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
        self._commits: GroupCommit | None = None
        # Told of each new verified event of the run, before it is published (forward.py).
        self.on_new: Callable[[NormalizedEvent], None] | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._commits = GroupCommit(lambda batch: self.store.record_deliveries(batch))
        return super().start(host, port)

    def stop(self) -> None:
        super().stop()
        if self._commits is not None:
            self._commits.close()
            self._commits = None

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        return self.accept(headers, body)

    async def handle_async(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """`accept` on the server's loop: the store write joins the group commit, and the
        answer waits for that commit without blocking other deliveries."""
        delivery = self._judge(headers, body)
        if self._commits is None:  # not started by start(): write here
            return self._answer(delivery, self.store.record_deliveries([delivery])[0])
        new = await self._commits.store(delivery)
        return self._answer(delivery, new)

    def too_large(self) -> Answer:
        return self._reject("body too large", 413)

    def accept(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """Verify, check, de-duplicate, store, publish. Returns the HTTP answer."""
        delivery = self._judge(headers, body)
        return self._answer(delivery, self.store.record_deliveries([delivery])[0])

    def take(self, event: NormalizedEvent, *, via: str) -> Answer:
        """An authenticated event (a verified webhook, or one read from the provider's
        events API over its authenticated TLS connection): check its environment,
        de-duplicate, store, publish."""
        delivery = self._check(event, via)
        return self._answer(delivery, self.store.record_deliveries([delivery])[0])

    def _judge(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """What to store for a webhook: verified on the raw bytes first, then checked."""
        try:
            event = self.verify(headers, body)
        except SignatureError as exc:
            return Delivery(self.run_id, None, "rejected", f"signature: {exc}")
        except MalformedEvent as exc:
            return Delivery(self.run_id, None, "rejected", f"malformed: {exc}")
        return self._check(event, WEBHOOK, body)

    def _check(self, event: NormalizedEvent, via: str, raw: bytes | None = None) -> Delivery:
        if event.environment != self.environment:
            reason = f"environment {event.environment!r} does not match this {self.environment} run"
            return Delivery(self.run_id, event, "rejected", reason, via, raw)
        used = event.object is not None and (self.wanted is None or event.type in self.wanted)
        return Delivery(self.run_id, event, "accepted" if used else "ignored", None, via, raw)

    def _answer(self, delivery: Delivery, new: bool, status: int = 400) -> Answer:
        """Count and publish a stored delivery; its HTTP answer."""
        if delivery.verdict == "rejected":
            self.counts["rejected"] += 1
            if delivery.event is not None:
                return status, {"error": "environment mismatch"}
            return status, {"error": (delivery.reason or "").split(":")[0]}
        if not new:
            self.counts["duplicate"] += 1
            return 200, {"received": True, "duplicate": True}
        self.counts[delivery.verdict] += 1
        if delivery.event is not None and self.on_new is not None:
            self.on_new(delivery.event)  # --forward-to: the merchant's handler gets it too
        if delivery.verdict == "accepted" and delivery.event is not None:
            self.hub.publish(delivery.event)
        return 200, RECEIVED

    def _reject(self, reason: str, status: int) -> Answer:
        delivery = Delivery(self.run_id, None, "rejected", reason)
        return self._answer(delivery, self.store.record_deliveries([delivery])[0], status)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (ASGI sends them lower-case, as bytes); of a
    repeated header, the first, as Starlette's `Headers.get` gives it. Its own 13 ms import
    was most of what the route still took from Starlette."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, allow: bytes | None = None
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, answer: Mapping[str, Any]) -> None:
    if answer is RECEIVED:  # nearly every answer: encoded once
        body = _RECEIVED_BODY
    else:
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    await _respond(send, status, body, b"application/json")
