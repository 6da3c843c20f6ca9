"""One judge of an incoming webhook, shared by a run's receiver, the matrix's router and
`rehearsal tunnel`: the signature is verified on the raw bytes (the adapter's verify parses
only what it has proven), then the event's environment (test or live) is checked against
the run's, then whether the run uses its type; de-duplication is the caller's store (the
ledger for a run, `Seen` in memory for the tunnel), and `answer` turns the verdict and
whether the event was new into the HTTP answer. Judging never raises: an exception no one
expects of a verify (a bug in an adapter's parsing) refuses the delivery as "unreadable"
(400, like a malformed one), naming only the exception's type, for its message could quote
the body or a header and no traceback may reach the answer. A delivery that cannot be
stored is not judged here and is never acknowledged. It stores and publishes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType

from rehearsal.ledger.db import Delivery
from rehearsal.providers.base import MalformedEvent, NormalizedEvent
from rehearsal.providers.signatures import SignatureError

# How an event reached the run (deliveries.via): a signed POST to the receiver, or read from
# the provider's own events API where there is no public path (rehearsal/receiver/feed.py).
WEBHOOK = "webhook"
EVENTS_API = "events-api"
# A delivery's verdict (deliveries.verdict): used by the run, acknowledged but of a type
# (or without an object) the run does not use, or refused with a reason.
ACCEPTED = "accepted"
IGNORED = "ignored"
REJECTED = "rejected"

Verify = Callable[[Mapping[str, str], bytes], NormalizedEvent]
Answer = tuple[int, Mapping[str, object]]  # an HTTP status and its JSON body
RECEIVED: Mapping[str, object] = MappingProxyType({"received": True})  # a new event's answer
ACKNOWLEDGED: Answer = (200, RECEIVED)  # nearly every answer: built once


def verified(verify: Verify, headers: Mapping[str, str], body: bytes) -> NormalizedEvent | str:
    """The event `verify` proves and parses from the raw bytes, or why it is refused."""
    try:
        return verify(headers, body)
    except SignatureError as exc:
        return f"signature: {exc}"
    except MalformedEvent as exc:
        return f"malformed: {exc}"
    except Exception as exc:  # refused, not a 500: the type alone, never its message
        return f"unreadable: {type(exc).__name__}"


def webhook(
    verify: Verify,
    headers: Mapping[str, str],
    body: bytes,
    *,
    run_id: str,
    environment: str,
    wanted: set[str] | None,
) -> Delivery:
    """What to store of a webhook for `run_id`: verified first, then `checked`."""
    event = verified(verify, headers, body)
    if isinstance(event, str):
        return Delivery(run_id, None, REJECTED, event)
    return checked(event, run_id=run_id, environment=environment, wanted=wanted, raw=body)


def checked(
    event: NormalizedEvent,
    *,
    run_id: str,
    environment: str,
    wanted: set[str] | None,
    via: str = WEBHOOK,
    raw: bytes | None = None,
) -> Delivery:
    """What to store of an authenticated event (a verified webhook, or one read from the
    provider's events API): refused from the other environment; ignored when the run does
    not use its type (`wanted` None: every type the provider normalizes is used)."""
    if event.environment != environment:
        reason = f"environment {event.environment!r} does not match this {environment} run"
        return Delivery(run_id, event, REJECTED, reason, via, raw)
    used = event.object is not None and (wanted is None or event.type in wanted)
    return Delivery(run_id, event, ACCEPTED if used else IGNORED, None, via, raw)


def answer(delivery: Delivery, new: bool, status: int = 400) -> Answer:
    """The HTTP answer to a judged delivery, once the store has said whether its event is
    new: a refusal says only its kind (`status`), a repeat is acknowledged as one."""
    if delivery.verdict == REJECTED:
        if delivery.event is not None:
            return status, {"error": "environment mismatch"}
        return status, {"error": (delivery.reason or "").split(":")[0]}
    if not new:
        return 200, {"received": True, "duplicate": True}
    return ACKNOWLEDGED


class Seen:
    """De-duplication in memory, for a judge that stores nothing (`rehearsal tunnel`)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def first(self, event_id: str) -> bool:
        """Whether `event_id` is new; from now on it is not."""
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids.add(event_id)
            return True
