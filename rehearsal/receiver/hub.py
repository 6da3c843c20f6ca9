"""The wait-for-event hub: a run's accepted events, and a wait for one with a deadline.

The receiver publishes each accepted event here; the engine waits on it (`wait_for`). Waiters
sleep on a condition and wake when an event arrives: no polling. A matrix's runs each have a
`RunHub`, whose waits also end when the matrix is interrupted. It holds events in memory
only (the ledger has them first) and imports nothing of the engine that waits on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rehearsal.providers.base import NormalizedEvent

INTERRUPT_CHECK = 0.2  # seconds: how soon a waiting run notices Ctrl-C on the matrix


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


class RunHub(EventHub):
    """A run's hub whose waits end with KeyboardInterrupt once the matrix is interrupted:
    worker threads never see the signal, so this is how a Ctrl-C reaches them (and the
    runner compensates, as it does after a Ctrl-C in a single run)."""

    def __init__(self) -> None:
        super().__init__()
        self._interrupted = threading.Event()

    def interrupt(self) -> None:
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def wait_for(
        self, match: Callable[[NormalizedEvent], bool], deadline: float
    ) -> tuple[float, NormalizedEvent] | None:
        while True:
            if self._interrupted.is_set():
                raise KeyboardInterrupt
            got = super().wait_for(match, min(deadline, time.monotonic() + INTERRUPT_CHECK))
            if got is not None or time.monotonic() >= deadline:
                return got
