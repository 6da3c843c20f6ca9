"""Group commit: the receiver's concurrent deliveries stored together, one commit a batch.

A durable SQLite commit costs an fsync (milliseconds on a virtual disk), and a commit per
event made that the receiver's ceiling. Here each delivery waits on a future, and the
deliveries that the server's event loop handles in one turn are stored together, in one
transaction (StateDB.record_deliveries), after that turn; only after that commit are their
futures resolved. A delivery is answered 2xx when its future resolves, so every
acknowledged event is committed first; a lone delivery is written at once, without waiting
for company.

The loop stores the batch itself when the ledger's connection is free (a write of a few
rows in the WAL, without an fsync: less than handing it to a thread and back, ~13% of
the receiver's CPU an event measured). When another thread holds the connection (a
runner's durable commit, fsync and all), the loop does not wait for it: the batch goes to
a writer thread, which stores whatever has queued up in one transaction, while the loop
goes on reading and verifying the next requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence

from rehearsal.ledger.commit import Busy, without_waiting
from rehearsal.ledger.db import Delivery

# Stores a batch in one transaction, returning for each whether its event is new
# (StateDB.record_deliveries, looked up at each write: a test may swap the store).
WriteBatch = Callable[[Sequence[Delivery]], list[bool]]
Batch = list[tuple[Delivery, "asyncio.Future[bool]"]]
MAX_BATCH = 1024  # deliveries a transaction, at most


class GroupCommit:
    def __init__(self, write: WriteBatch) -> None:
        self.write = write
        self.batches = 0  # transactions committed, and the deliveries in them (bench)
        self.written = 0
        self._pending: Batch = []
        self._queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, Batch] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    async def store(self, delivery: Delivery) -> bool:
        """Store `delivery` with the others of this loop turn: True when its event is new.
        Returns once the transaction holding it has committed; raises if it could not."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[bool] = loop.create_future()
        self._pending.append((delivery, stored))
        if len(self._pending) == 1:  # the first of this turn: hand the lot over after it
            loop.call_soon(self._hand_over, loop)
        return await stored

    def close(self) -> None:
        """Store what is queued, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """This turn's deliveries: stored here if the ledger is free, else by the writer."""
        batch, self._pending = self._pending, []
        try:
            with without_waiting():
                fresh = self.write([d for d, _ in batch])
        except Busy:
            self._queue.put((loop, batch))
            return
        except Exception as exc:
            _resolve(batch, [], exc)
            return
        self.batches += 1
        self.written += len(batch)
        _resolve(batch, fresh, None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            parts, stop = [item], False
            while sum(len(b) for _, b in parts) < MAX_BATCH:
                try:  # what queued up during the last commit joins this one
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                parts.append(more)
            self._commit(parts)
            if stop:
                return

    def _commit(self, parts: list[tuple[asyncio.AbstractEventLoop, Batch]]) -> None:
        deliveries = [d for _, batch in parts for d, _ in batch]
        fresh: list[bool] = []
        error: Exception | None = None
        try:
            fresh = self.write(deliveries)
            self.batches += 1
            self.written += len(deliveries)
        except Exception as exc:
            error = exc
        at = 0
        for loop, batch in parts:
            # RuntimeError: the server's loop has closed, and nobody waits for an answer
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, batch, fresh[at : at + len(batch)], error)
            at += len(batch)


def _resolve(batch: Batch, fresh: list[bool], error: Exception | None) -> None:
    for i, (_, stored) in enumerate(batch):
        if stored.cancelled():  # the client went away; the delivery is stored all the same
            continue
        if error is not None:
            stored.set_exception(error)
        else:
            stored.set_result(fresh[i])
