"""The one retry policy of every adapter: 429, 5xx and network errors are retried with
exponential backoff and jitter, re-sending the same idempotency key, so a retry can never
charge twice. Anything else is answered at once.

The waits are tenacity's `wait_exponential(multiplier=backoff, max=8 * backoff) +
wait_random(0, backoff)`, which this used to call: written out, a call that succeeds at
once no longer builds a Retrying object (3-5% of a matrix's runner time).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from time import sleep
from typing import TypeVar

T = TypeVar("T")


class Transient(Exception):
    """A failure worth another try: a 429, a 5xx, or no answer at all."""

    def __init__(self, status: int | None, what: str, request_id: str | None = None) -> None:
        super().__init__(what)
        self.status = status
        self.request_id = request_id


def with_retries(call: Callable[[], T], *, attempts: int, backoff: float) -> T:
    """`call()` until it returns, or raise the last Transient after `attempts` tries."""
    attempt = 1
    while True:
        try:
            return call()
        except Transient:
            if attempt >= attempts:
                raise
        sleep(pause(attempt, backoff))  # a backoff between tries, not a wait for a state
        attempt += 1


def pause(attempt: int, backoff: float) -> float:
    """Seconds to wait after failed try number `attempt` (1-based)."""
    return min(backoff * 2.0 ** (attempt - 1), 8 * backoff) + random.uniform(0, backoff)
