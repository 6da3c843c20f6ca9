"""How long the settle engine waits on the provider: for a call with no answer that may
still land (the landing window), and for a refund the provider still shows pending.

Both are read from the provider's books, never assumed: a call may land after its client
gave up, and a pending refund may still fail. Nothing here moves money; it only reads.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from rehearsal.errors import UsageError
from rehearsal.providers.base import Provider, ProviderObject

DEFAULT_LANDING_WINDOW = 300.0  # seconds; an assumption: no provider documents a bound
DEFAULT_REFUND_WAIT = 60.0  # seconds a pending refund is waited for (REHEARSAL_REFUND_WAIT)
REFUND_POLL = (0.05, 2.0)  # the first pause between reads of a pending refund, the longest


@dataclass(frozen=True)
class Landing:
    """When a call with no answer can no longer land at the provider.

    `window`: seconds after its last attempt was sent (None: it may always still land, as
    while the embedded simulator that received it is still running). `wait`: poll the
    lookup until then (cleanup) rather than look once (compensation inside a run).
    """

    window: float | None
    wait: bool = False

    def until(self, sent: float | None) -> float | None:
        if self.window is None:
            return None
        return (sent or time.time()) + self.window


def landing_window(*, embedded: bool, http_timeout: float, in_process: bool) -> float | None:
    """Seconds after its last attempt was sent that a call with no answer may still land.

    The embedded simulator runs in the process that sent the call: while it runs (the run's
    own compensation) the call may still finish (None); once that process is gone (cleanup
    from another process) nothing in flight can land. A remote provider may finish a request
    after the client's timeout: the client's timeout plus REHEARSAL_LANDING_WINDOW.
    """
    if embedded:
        return None if in_process else 0.0
    return http_timeout + _seconds("REHEARSAL_LANDING_WINDOW", DEFAULT_LANDING_WINDOW)


def refund_wait() -> float:
    """Seconds a refund the provider shows pending is waited for (REHEARSAL_REFUND_WAIT)."""
    return _seconds("REHEARSAL_REFUND_WAIT", DEFAULT_REFUND_WAIT)


def until_refunds_final(
    provider: Provider, payment_id: str, current: ProviderObject
) -> ProviderObject:
    """`current` read again until none of its refunds is pending at the provider, or
    as it stands when REHEARSAL_REFUND_WAIT has passed. The provider's books are the
    condition; reading them with a growing pause is the only way to wait on them here
    (cleanup runs with no receiver for the refund's webhook)."""
    deadline = time.monotonic() + refund_wait()
    pause, longest = REFUND_POLL
    while current.amount_refund_pending and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(pause, left))
        pause = min(pause * 2, longest)
        current = provider.retrieve("payment", payment_id)
    return current


def _seconds(variable: str, default: float) -> float:
    """A number of seconds, 0 or more, from `variable` (unset: `default`); anything else is
    a usage error naming the variable."""
    raw = os.environ.get(variable, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise UsageError(
            f"{variable} must be a number of seconds, 0 or more",
            hint=f"unset it for the default ({default:g} s)",
        )
    return value
