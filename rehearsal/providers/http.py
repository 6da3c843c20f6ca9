"""The one HTTP core of every adapter: send, observe, retry, and turn a refusal into one line.

Each adapter declares how its provider speaks (a `Wire`: its name in messages, its
idempotency, request-id and replay headers, how its error bodies read) and inherits
`HttpCore`. The core tells its observer before each attempt is sent (`sending`: it bounds
when a lost call can land), reports every exchange (`called`: method, route, status, request id,
time, replay), retries 429, 5xx and network errors with the same idempotency key
(providers/retry.py), and never puts a header, a key or a raw body into a message.

What carries the bytes is a `Transport` handed in at construction (rehearsal/net/transport.py
chooses it: plain http to the simulator on this machine, httpx elsewhere); the core only
sends through it and never asks which one it is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rehearsal.errors import ProviderError
from rehearsal.net.transport import NetworkError, Transport
from rehearsal.providers.base import ApiCall, ProviderObserver
from rehearsal.providers.jsonwire import Body
from rehearsal.providers.retry import Transient, with_retries

# (method, route, status, parsed body or None, request id or None) -> the refusal to raise
Refusal = Callable[[str, str, int, object, "str | None"], ProviderError]


@dataclass(frozen=True)
class Wire:
    """How one provider speaks HTTP, as far as the core needs to know."""

    provider: str  # its name in messages: "MintCash", "PayMongo"
    refusal: Refusal  # its error body as one line for the operator
    retry_hint: str  # why a later retry is safe (what keeps it from acting twice)
    idempotency_header: str | None = None  # where a call's key goes, if in a header
    request_id_header: str | None = None
    replay_header: str | None = None  # answers "true" when the answer is a saved one
    # The longest idempotency key the provider keeps; a longer derived key is sent as its
    # SHA-256 (still deterministic, so a retry or a resumed run sends the same one).
    max_key: int | None = None


@dataclass(frozen=True)
class Answer:
    data: Body
    request_id: str | None


def route(path: str) -> str:
    """A path without its query string: what messages and the ledger name."""
    return path.split("?", 1)[0]


class HttpCore:
    """Inherited by each adapter; `observer` (given when the adapter is built) is told of
    each attempt before it is sent and of every exchange."""

    def __init__(
        self,
        wire: Wire,
        transport: Transport,
        *,
        attempts: int = 4,
        backoff: float = 0.25,
        observer: ProviderObserver | None = None,
    ) -> None:
        self.observer = observer
        self._wire = wire
        self._attempts = attempts
        self._backoff = backoff
        self._transport = transport

    def exchange(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        form: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Answer:
        """One call, retried while it is transient; a refusal raises ProviderError."""
        try:
            return with_retries(
                lambda: self._once(method, path, json, form, key),
                attempts=self._attempts,
                backoff=self._backoff,
            )
        except Transient as exc:
            raise ProviderError(
                f"{self._wire.provider} {method} {route(path)} failed after "
                f"{self._attempts} attempts: {exc}",
                hint=self._wire.retry_hint,
                status=exc.status,
                request_id=exc.request_id,
            ) from None

    def close(self) -> None:
        self._transport.close()

    def _once(
        self,
        method: str,
        path: str,
        json: object,
        form: Mapping[str, str] | None,
        key: str | None,
    ) -> Answer:
        wire = self._wire
        if key and wire.max_key is not None and len(key) > wire.max_key:
            key = hashlib.sha256(key.encode()).hexdigest()
        headers = {wire.idempotency_header: key} if key and wire.idempotency_header else {}
        if self.observer is not None:
            self.observer.sending(method, route(path))
        started = time.perf_counter()
        try:
            reply = self._transport.request(
                method, path, json_body=json, form=form, headers=headers
            )
        except NetworkError as exc:
            self._observe(method, path, None, None, started)
            raise Transient(None, f"network error ({exc.what})") from None
        status = reply.status
        request_id = reply.header(wire.request_id_header)
        replay = reply.header(wire.replay_header) == "true"
        self._observe(method, path, status, request_id, started, replay)
        if status == 429 or status >= 500:
            raise Transient(status, f"HTTP {status}", request_id)
        data = reply.json()
        if status >= 400 or not isinstance(data, dict):
            raise wire.refusal(method, route(path), status, data, request_id)
        return Answer(data, request_id)

    def _observe(
        self,
        method: str,
        path: str,
        status: int | None,
        request_id: str | None,
        started: float,
        replay: bool = False,
    ) -> None:
        if self.observer is not None:
            elapsed = (time.perf_counter() - started) * 1000
            self.observer.called(ApiCall(method, route(path), status, request_id, elapsed, replay))
