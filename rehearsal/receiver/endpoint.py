"""The webhook receiver: a real ASGI server (uvicorn) on 127.0.0.1, in a background thread.

It never parses before verifying: the raw bytes are read (413 past the size limit), and only
then judged (classify.py: the signature checked in constant time with the timestamp
tolerance, then the body parsed, then the environment; an unexpected error refuses the
delivery, never a 500). Every accepted event is stored before the answer, and duplicates
(same event id) are counted, not processed twice. It answers 2xx at once, also for event
types the rehearsal does not use, and publishes what the run uses to its hub (hub.py). The
endpoint owns the unguessable path, the size limit and the tunnel probe; it knows nothing
of the engine that waits on the hub.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypedDict

from rehearsal.ledger.db import Delivery, StateDB
from rehearsal.providers.base import NormalizedEvent
from rehearsal.receiver import classify
from rehearsal.receiver.batch import GroupCommit
from rehearsal.receiver.classify import ACCEPTED, RECEIVED, REJECTED, Answer, Verify
from rehearsal.receiver.hub import EventHub
from rehearsal.tunnels.probe import PROBE_HEADER, ProbeBox

if TYPE_CHECKING:
    from rehearsal.net.server import ServerThread

MAX_BODY = 256 * 1024  # bytes; provider events are a few KiB
_RECEIVED_BODY = b'{"received":true}'


class Scope(TypedDict):
    """What the route reads of ASGI's connection scope (uvicorn's has more)."""

    type: str
    path: str
    method: str
    headers: Iterable[tuple[bytes, bytes]]


class Message(TypedDict, total=False):
    """An ASGI message received: http.request (body, more_body) or http.disconnect."""

    type: str
    body: bytes
    more_body: bool


Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Mapping[str, object]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class WebhookEndpoint:
    """A POST route on an unguessable path, served on 127.0.0.1: the path check, the tunnel
    probe and the body limit, shared by the run's Receiver and `rehearsal tunnel`'s log.
    Subclasses say what a delivery gets (`handle`) and what an oversized one gets."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self.token = secrets.token_urlsafe(24)  # the path is unguessable
        self.probes = ProbeBox()  # the tunnel probe: answered, never stored or published
        self._server: ServerThread | None = None

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    def too_large(self) -> Answer:
        return 413, {"error": "body too large"}

    @property
    def path(self) -> str:
        return f"/webhooks/{self.token}"

    @property
    def url(self) -> str:
        assert self._server is not None, "receiver not started"
        return f"{self._server.url}{self.path}"

    async def handle_async(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """`handle`, on the server's event loop; a subclass may wait here without blocking it."""
        return self.handle(headers, body)

    def app(self) -> App:
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
        on_new: Callable[[NormalizedEvent], None] | None = None,
        hub: EventHub | None = None,
    ) -> None:
        super().__init__(max_body)
        self.verify = verify
        self.environment = environment
        self.store = store
        self.run_id = run_id
        self.wanted = wanted  # None: every type the provider normalizes is used
        self.hub = EventHub() if hub is None else hub
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "ignored": 0}
        self._commits: GroupCommit | None = None
        # Told of each new verified event of the run, before it is published (forward.py).
        self.on_new = on_new

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
        return classify.webhook(
            self.verify,
            headers,
            body,
            run_id=self.run_id,
            environment=self.environment,
            wanted=self.wanted,
        )

    def _check(self, event: NormalizedEvent, via: str, raw: bytes | None = None) -> Delivery:
        return classify.checked(
            event,
            run_id=self.run_id,
            environment=self.environment,
            wanted=self.wanted,
            via=via,
            raw=raw,
        )

    def _answer(self, delivery: Delivery, new: bool, status: int = 400) -> Answer:
        """Count and publish a stored delivery; its HTTP answer."""
        if delivery.verdict == REJECTED:
            self.counts[REJECTED] += 1
        elif not new:
            self.counts["duplicate"] += 1
        else:
            self.counts[delivery.verdict] += 1
            if delivery.event is not None and self.on_new is not None:
                self.on_new(delivery.event)  # --forward-to: the merchant's handler gets it too
            if delivery.verdict == ACCEPTED and delivery.event is not None:
                self.hub.publish(delivery.event)
        return classify.answer(delivery, new, status)

    def _reject(self, reason: str, status: int) -> Answer:
        delivery = Delivery(self.run_id, None, REJECTED, reason)
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


async def _json(send: Send, status: int, answer: Mapping[str, object]) -> None:
    if answer is RECEIVED:  # nearly every answer: encoded once
        body = _RECEIVED_BODY
    else:
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    await _respond(send, status, body, b"application/json")
