"""Signals while a run settles: a further Ctrl-C, SIGTERM or SIGHUP during cleanup is
noted, not obeyed, so a refund or a cancel is never cut halfway. It never defers anything
outside the main thread (signal handlers can only be set there) and never swallows a signal
silently."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rehearsal.streams import say

# What interrupts a run (each then settles it): Ctrl-C, SIGTERM, and SIGHUP where the
# platform has one (a closed terminal, a dropped SSH session).
INTERRUPTS: tuple[signal.Signals, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()),
)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """While cleanup runs, a further Ctrl-C, SIGTERM or SIGHUP is noted, not obeyed: each
    refund or cancel is short, bounded by HTTP timeouts, and written to the ledger before it
    is sent."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: FrameType | None) -> None:
        say(  # after a hangup nobody may read it: never a reason to stop settling
            "cleanup in progress: refunding and cancelling what this run created; it "
            "stops by itself (`rehearsal cleanup RUN` can finish it later)",
            sys.stderr,
        )

    previous = {s: signal.signal(s, note) for s in INTERRUPTS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
