"""The ledger's two connections and its three ways in: a durable write, a note, a read.

Writes go through one connection and the group commit (commit.py); reads use a connection
of their own (WAL: they see every committed write), so a read never waits behind another
thread's fsync. The query modules (runs.py, deliveries.py, compensations.py) build on this
class and write nothing but through `_exec` and `_note`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rehearsal.ledger.commit import Committer
from rehearsal.ledger.rows import UntypedRow
from rehearsal.ledger.schema import connect, migrate

# What a column holds: SQLite's types as Python gives them (a StrEnum is a str).
SqlValue = str | int | float | bytes | None


class Connection:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = connect(path)
        # FULL: each commit is on disk (fsync) before it returns, so an intent written
        # before a money call survives a power loss too, not only a crash. Writes of many
        # threads share a commit (commit.py). Deliveries alone commit at NORMAL
        # (record_deliveries), and ride on the next FULL commit's fsync.
        migrate(self._db)
        self._commits = Committer(self._db)
        # Reads on a connection of their own (WAL: they see every committed write), so a
        # read never waits behind another thread's fsync.
        self._reader = connect(path)
        self._read_lock = threading.Lock()

    def close(self) -> None:
        with self._commits.lock, self._read_lock:
            self._db.close()
            self._reader.close()

    def _exec(self, sql: str, *args: SqlValue) -> int | None:
        """One durable write; the row id it inserted, if any."""
        return self._commits.write(lambda db: db.execute(sql, args).lastrowid)

    def _note(self, sql: str, *args: SqlValue) -> None:
        """A record of what already happened outside the ledger (an answer, what the API
        showed), committed at NORMAL: safe from a crash of rehearsal at once, on disk with
        the next durable write. The WAL keeps order, so a power loss leaves a prefix of the
        ledger: every intent before a money call (durable) is in it, and what it lost is
        read again from the provider on resume, as after a crash."""
        self._commits.write(lambda db: db.execute(sql, args), durable=False)

    def _rows(self, sql: str, *args: SqlValue) -> list[UntypedRow]:
        with self._read_lock:
            return [dict(r) for r in self._reader.execute(sql, args).fetchall()]
