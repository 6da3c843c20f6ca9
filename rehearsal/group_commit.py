"""Group commit: one writer thread stores the receiver's concurrent deliveries together.

A durable SQLite commit costs an fsync (milliseconds on a virtual disk), and a commit per
event made that the receiver's ceiling. Here each delivery is queued with a future; the
writer takes whatever has queued up (while it was committing the previous batch), stores
it in one transaction (StateDB.record_deliveries), and only after that commit resolves the
futures. A caller answers 2xx when its future resolves, so every acknowledged event is on
disk first, as before; a lone delivery is written at once, without waiting for company.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from rehearsal.state import Delivery

MAX_BATCH = 256  # deliveries per transaction
# Stores a batch in one transaction, returning for each whether its event is new
# (StateDB.record_deliveries, looked up at each write: a test may swap the store).
WriteBatch = Callable[[Sequence[Delivery]], list[bool]]


class GroupCommit:
    def __init__(self, write: WriteBatch) -> None:
        self.write = write
        self._queue: queue.SimpleQueue[tuple[Delivery, Future[bool]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery) -> Future[bool]:
        """Queue `delivery`; the future resolves to True (new event) or False once it is
        committed, or holds the error if the batch could not be stored."""
        done: Future[bool] = Future()
        self._queue.put((delivery, done))
        return done

    def close(self) -> None:
        """Store what is queued, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = [first], False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[Delivery, Future[bool]]]) -> None:
        try:
            fresh = self.write([d for d, _ in batch])
        except Exception as exc:
            for _, done in batch:
                done.set_exception(exc)
            return
        for (_, done), new in zip(batch, fresh, strict=True):
            done.set_result(new)
