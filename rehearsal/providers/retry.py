"""The one retry policy of every adapter: 429, 5xx and network errors are retried with
exponential backoff and jitter (tenacity), re-sending the same idempotency key, so a retry
can never charge twice. Anything else is answered at once.

The first try is made directly: most calls are answered at once, and building tenacity's
`Retrying` for each of them was 3-5% of a matrix's runner time (bench/README.md). Only
after a transient failure does tenacity take over, counting that failure as its first
attempt, so the waits and the number of tries are its policy's exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Transient(Exception):
    """A failure worth another try: a 429, a 5xx, or no answer at all."""

    def __init__(self, status: int | None, what: str, request_id: str | None = None) -> None:
        super().__init__(what)
        self.status = status
        self.request_id = request_id


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """`call()` until it returns, or raise the last Transient after `attempts` tries.
    `sleep`: how to pause between tries (tests record the pauses instead)."""
    try:
        return call()
    except Transient as exc:
        if attempts <= 1:
            raise
        failed: Transient | None = exc
    import time

    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
        wait_random,
    )

    def attempt() -> T:
        nonlocal failed
        if failed is not None:  # the try made above: tenacity counts it, then waits
            first, failed = failed, None
            raise first
        return call()

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff, max=8 * backoff) + wait_random(0, backoff),
        retry=retry_if_exception_type(Transient),
        reraise=True,
        sleep=sleep or time.sleep,  # a backoff between tries, not a wait for a state
    )
    return retrying(attempt)
