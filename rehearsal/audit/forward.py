"""`--forward-to URL`: the rehearsal exercises the merchant's own webhook handler too.

Each new verified event of the run is delivered to the merchant's handler, re-signed with
the merchant's webhook secret (`REHEARSAL_FORWARD_SECRET`, from the environment only) as
the provider signs it (the audit's signing: rehearsal/audit/dialects/<provider>.py), from a
background thread so the provider's own delivery is acknowledged at once. Each answer is
recorded (`forwards` table: status, time, problem), and the runner fails a step whose event
the handler refused (not 2xx) or answered later than the provider waits (MintCash 10 s,
PayMongo 30 s, from the seeds). Stripe's `stripe listen --forward-to` and paymongo-cli
forward too, but assert nothing; this asserts.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rehearsal.errors import UsageError

if TYPE_CHECKING:
    import httpx

from rehearsal.ledger.db import StateDB
from rehearsal.providers.base import NormalizedEvent

SECRET_VARIABLE = "REHEARSAL_FORWARD_SECRET"


@dataclass(frozen=True)
class Forwarded:
    event_id: str
    status: int | None
    duration_ms: float
    problem: str | None  # None: acknowledged in time


def check_settings(url: str) -> str:
    """The URL and the secret, checked before anything is recorded; the secret."""
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            "--forward-to expects an http(s) URL", hint="your webhook handler's full URL"
        )
    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        raise UsageError(
            f"--forward-to needs {SECRET_VARIABLE}",
            hint="the webhook secret your handler verifies with; from the environment only",
        )
    return secret


class Forwarder:
    def __init__(
        self,
        url: str,
        *,
        provider: str,
        environment: str,
        store: StateDB | None,
        run_id: str = "",
        limit: float | None = None,
        on_done: Callable[[Forwarded], None] | None = None,
    ) -> None:
        """`store` None: nothing recorded (`rehearsal tunnel`); `on_done` is told each
        answer."""
        from rehearsal.audit.dialect import dialect_of
        from rehearsal.audit.endpoint import time_scale

        secret = check_settings(url)
        self.url = url
        self.dialect = dialect_of(provider)  # refused for a provider the audit cannot sign as
        self.environment = environment
        self.store = store
        self.run_id = run_id
        self.limit = limit if limit is not None else self.dialect.limit * time_scale()
        self.on_done = on_done
        self._secret = secret
        self._queue: queue.Queue[NormalizedEvent | None] = queue.Queue()
        self._done: dict[str, Forwarded] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="forward-to", daemon=True)
        self._thread.start()

    def submit(self, event: NormalizedEvent) -> None:
        """Queue a verified event for the merchant's handler (the receiver's `on_new`)."""
        self._queue.put(event)

    def outcome(self, event_id: str, deadline: float) -> Forwarded | None:
        """What the handler answered to `event_id`; None if it is not known by `deadline`
        (time.monotonic())."""
        with self._cond:
            while event_id not in self._done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._done[event_id]

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.limit + 10)
            self._thread = None

    def _loop(self) -> None:
        import httpx

        from rehearsal.net import tls

        with httpx.Client(timeout=self.limit + 5, verify=tls.context()) as client:
            while (event := self._queue.get()) is not None:
                self._forward(client, event)

    def _forward(self, client: httpx.Client, event: NormalizedEvent) -> None:
        import httpx

        body = json.dumps(dict(event.payload)).encode()
        headers = {
            "Content-Type": "application/json",
            **self.dialect.sign(self._secret, body, self.environment, int(time.time())),
        }
        started = time.perf_counter()
        status: int | None = None
        try:
            status = client.post(self.url, content=body, headers=headers).status_code
            problem = None if 200 <= status < 300 else f"answered HTTP {status}"
        except httpx.HTTPError as exc:
            problem = f"no answer ({exc.__class__.__name__})"
        ms = (time.perf_counter() - started) * 1000
        if problem is None and ms > self.limit * 1000:
            problem = (
                f"answered after {ms / 1000:.1f} s, past the {self.limit:g} s "
                f"{self.dialect.provider} waits"
            )
        if self.store is not None:
            self.store.record_forward(self.run_id, event.event_id, event.type, status, ms, problem)
        done = Forwarded(event.event_id, status, ms, problem)
        with self._cond:
            self._done[event.event_id] = done
            self._cond.notify_all()
        if self.on_done is not None:
            self.on_done(done)
