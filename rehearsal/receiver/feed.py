"""The events API as a delivery path: where no public URL can reach the receiver, the run
reads its events from the provider's own list of them (Stripe's GET /v1/events).

A background thread asks for the events created since the run began, every `every` seconds,
and hands each to the receiver's `take`: the same environment check, de-duplication, storage
and wake-up as a webhook, marked `events-api` in the ledger and the reports. Events from the
API come over the provider's authenticated TLS connection with the secret key, so there is
no signature to check; what is not proven is the merchant's webhook path, and the report says
so. A failed poll is retried at the next tick (the adapter's HTTP core already retried it);
the wait for an event has its own deadline in the runner.
"""

from __future__ import annotations

import threading

from rehearsal.errors import ProviderError
from rehearsal.providers.base import EventFeed
from rehearsal.receiver.classify import EVENTS_API
from rehearsal.receiver.endpoint import Receiver

SINCE_MARGIN = 60.0  # seconds before the run's start: clocks differ; duplicates are counted


class EventPoller:
    def __init__(self, feed: EventFeed, receiver: Receiver, *, since: float, every: float) -> None:
        self.feed = feed
        self.receiver = receiver
        self.since = since - SINCE_MARGIN
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """One read of the events API; each event goes through the receiver's checks (a
        repeat is counted as a duplicate there). A failed read waits for the next tick."""
        try:
            events = self.feed.events(self.since, self.receiver.run_id)
        except ProviderError:
            return
        for event in events:
            self.receiver.take(event, via=EVENTS_API)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="event-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.every)
