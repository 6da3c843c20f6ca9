"""The one retry policy of every adapter: 429, 5xx and network errors are retried with
exponential backoff and jitter (tenacity), re-sending the same idempotency key, so a retry
can never charge twice. Anything else is answered at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

T = TypeVar("T")


class Transient(Exception):
    """A failure worth another try: a 429, a 5xx, or no answer at all."""

    def __init__(self, status: int | None, what: str, request_id: str | None = None) -> None:
        super().__init__(what)
        self.status = status
        self.request_id = request_id


def with_retries(call: Callable[[], T], *, attempts: int, backoff: float) -> T:
    """`call()` until it returns, or raise the last Transient after `attempts` tries."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff, max=8 * backoff) + wait_random(0, backoff),
        retry=retry_if_exception_type(Transient),
        reraise=True,
    )
    return retrying(call)
