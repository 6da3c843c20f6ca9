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

Checkpoints (copying the WAL back into the database file, with an fsync) are not a
commit's: SQLite's automatic one, every 1,000 WAL pages, fell on whichever commit crossed
the mark, 5-10 ms every few hundred deliveries, and set the receiver's p99. Here every
CHECKPOINT_EVERY commits a thread of its own checkpoints on a connection of its own, most
of it while commits go on (see _checkpoint).

A thread that must never wait for the connection (the receiver's event loop: every
delivery would stall behind another thread's fsync) writes `without_waiting()`: alone and
at once while the connection is free, else Busy is raised and nothing is written.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar, cast

T = TypeVar("T")
CHECKPOINT_EVERY = 500  # commits between checkpoints: a few pages each, ~SQLite's 1,000 pages
WAL_RESTART_FRAMES = 8192  # pages (32 MiB at 4 KiB) past which the WAL is made to start over


class Busy(Exception):
    """Another thread holds the connection; a `without_waiting()` write was not made."""


_this_thread = threading.local()


@contextlib.contextmanager
def without_waiting() -> Iterator[None]:
    """Within it, this thread's writes commit at once and alone if the connection is free,
    and raise Busy (writing nothing) if it is not, instead of waiting for it; they do not
    commit the writes other threads have queued (those may carry an fsync)."""
    _this_thread.no_wait = True
    try:
        yield
    finally:
        _this_thread.no_wait = False


class _Write:
    __slots__ = ("done", "durable", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], object], durable: bool) -> None:
        self.work, self.durable = work, durable
        self.result: object = None  # what `work` returned: its writer knows the type
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
        self.checkpoints = 0  # made on their own thread (tests)
        self._since_checkpoint = 0
        self._checkpointing: threading.Thread | None = None
        self._file = _wal_file(db)
        if self._file is not None:
            db.execute("PRAGMA wal_autocheckpoint=0")  # not in a commit: see _checkpoint

    def write(self, work: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run `work` on the connection inside a transaction shared with the writes queued
        alongside; return its result once that transaction has committed (fsynced when
        `durable`, else in the WAL, on disk at the next durable commit). Raises what
        `work` raised (its changes undone), or the commit's error."""
        op = _Write(work, durable)
        if getattr(_this_thread, "no_wait", False):
            if not self.lock.acquire(blocking=False):
                raise Busy
            try:  # the threads queued meanwhile wait on the lock and commit their own
                self._commit_queued(op, [op])
            finally:
                self.lock.release()
            return cast(T, self._outcome(op))
        with self._queued:
            self._queue.append(op)
        with self.lock:
            if not op.done:
                self._commit_queued(op)
        return cast(T, self._outcome(op))

    @staticmethod
    def _outcome(op: _Write) -> object:
        if op.error is not None:
            raise op.error
        return op.result

    def _commit_queued(self, mine: _Write, batch: list[_Write] | None = None) -> None:
        """Commit `batch`, by default every write queued so far."""
        if batch is None:
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
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY and self._file is not None:
            running = self._checkpointing
            if running is None or not running.is_alive():
                self._since_checkpoint = 0
                self._checkpointing = threading.Thread(
                    target=self._checkpoint, args=(self._file,), name="checkpoint", daemon=True
                )
                self._checkpointing.start()

    def wait_checkpoint(self, timeout: float) -> bool:
        """Wait for the checkpoint under way, if any; False if it is still running."""
        running = self._checkpointing
        if running is not None:
            running.join(timeout)
            return not running.is_alive()
        return True

    def _checkpoint(self, file: str) -> None:
        """Copy the WAL's committed pages into the database file, on a connection of this
        thread's own, while commits go on. Under steady writes such a checkpoint never
        quite catches up, and the WAL only starts over after a complete one: past
        WAL_RESTART_FRAMES, the few pages committed meanwhile are copied again holding the
        connection's lock (no commit in between), and the next commit starts the WAL over
        (without that, 276 MB of WAL after 60k deliveries). The receiver's loop does not
        wait for that lock (without_waiting: its batch goes to the writer thread). A
        failure loses nothing (the WAL keeps the pages): the next one retries."""
        try:
            with contextlib.closing(sqlite3.connect(file, isolation_level=None)) as db:
                _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames >= WAL_RESTART_FRAMES:
                    with self.lock:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except sqlite3.Error:
            pass

    def _one(self, op: _Write) -> None:
        self.db.execute("SAVEPOINT write")
        try:
            op.result = op.work(self.db)
        except Exception as exc:
            self.db.execute("ROLLBACK TO write")
            op.error = exc
        self.db.execute("RELEASE write")


def _wal_file(db: sqlite3.Connection) -> str | None:
    """The database file behind `db` when it is in WAL mode (a checkpoint is then due
    now and then), else None."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return None
    for _, name, file in db.execute("PRAGMA database_list"):
        if name == "main" and file:
            return str(file)
    return None
