"""Group commit for the ledger: many threads' writes, one transaction, one fsync.

Every ledger write is on disk (synchronous=FULL) before it returns: an intent written before
a money call survives a power loss. One fsync a write, one write at a time behind the one
connection, was the wall of a matrix: 16 runner threads, ~80 writes a rehearsal, each
waiting for the fsyncs of the others (bench/README.md, issue 15). Here a write is queued,
then its thread takes the connection's lock; whoever holds it commits every write queued
so far in one transaction, each write in a savepoint of its own (a failing write is its
caller's error alone), and only after that COMMIT are the writers told. So a write still
returns once it is durable; a lone write commits at once, waiting for no company; writers
that queued during an fsync share the next one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Write:
    __slots__ = ("done", "durable", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], Any], durable: bool) -> None:
        self.work, self.durable = work, durable
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class Committer:
    """The write side of one SQLite connection (autocommit mode, WAL)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.lock = threading.Lock()  # the connection's: held by the thread committing
        self.transactions = 0  # committed, and the writes in them (tests, bench)
        self.written = 0
        self._queue: list[_Write] = []
        self._queued = threading.Lock()
        self._sync = ""

    def write(self, work: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run `work` on the connection inside a transaction shared with the writes queued
        alongside; return its result once that transaction has committed (fsynced when
        `durable`, else in the WAL, on disk at the next durable commit). Raises what
        `work` raised (its changes undone), or the commit's error."""
        op = _Write(work, durable)
        with self._queued:
            self._queue.append(op)
        with self.lock:
            if not op.done:
                self._commit_queued(op)
        if op.error is not None:
            raise op.error
        result: T = op.result
        return result

    def _commit_queued(self, mine: _Write) -> None:
        with self._queued:
            batch, self._queue = self._queue, []
        sync = "FULL" if any(op.durable for op in batch) else "NORMAL"
        phase = "begin"
        try:
            if sync != self._sync:
                self.db.execute(f"PRAGMA synchronous={sync}")
                self._sync = sync
            self.db.execute("BEGIN IMMEDIATE")
            if len(batch) == 1:
                batch[0].result = batch[0].work(self.db)
            else:
                for op in batch:
                    self._one(op)
            phase = "commit"
            self.db.execute("COMMIT")
        except BaseException as exc:
            # Out of the transaction after COMMIT was sent: it committed (an interrupt
            # landed after it). Otherwise nothing of the batch is in the ledger.
            if phase == "commit" and not self.db.in_transaction:
                self._done(batch)
                raise
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(exc, Exception):
                for op in batch:
                    op.error = op.error or exc
                    op.done = True
                return
            # KeyboardInterrupt in this thread: its own write fails; the others go back
            # to the queue, for the next holder of the lock to commit.
            mine.error, mine.done = exc, True
            with self._queued:
                self._queue[:0] = [op for op in batch if op is not mine]
            return
        self._done(batch)

    def _done(self, batch: list[_Write]) -> None:
        self.transactions += 1
        self.written += len(batch)
        for op in batch:
            op.done = True

    def _one(self, op: _Write) -> None:
        self.db.execute("SAVEPOINT write")
        try:
            op.result = op.work(self.db)
        except Exception as exc:
            self.db.execute("ROLLBACK TO write")
            op.error = exc
        self.db.execute("RELEASE write")
