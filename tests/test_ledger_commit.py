"""The ledger's group commit: writes of many threads share a transaction, each still
committed before it returns, and a failing write is its caller's error alone."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from rehearsal.ledger import commit as ledger_commit
from rehearsal.ledger.commit import CHECKPOINT_EVERY, Busy, Committer, _Write, without_waiting
from rehearsal.ledger.db import StateDB


def _committer(tmp_path: Path) -> Committer:
    db = sqlite3.connect(tmp_path / "c.sqlite", check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    return Committer(db)


def test_writers_that_queue_during_a_commit_share_the_next(tmp_path: Path) -> None:
    c = _committer(tmp_path)
    inside, release = threading.Event(), threading.Event()

    def slow(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('first')")
        inside.set()
        assert release.wait(10)

    first = threading.Thread(target=c.write, args=(slow,))
    first.start()
    assert inside.wait(10)
    others = [
        threading.Thread(
            target=c.write,
            args=(lambda db, i=i: db.execute("INSERT INTO t VALUES (?)", (f"k{i}",)),),
        )
        for i in range(8)
    ]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while len(c._queue) < 8 and time.monotonic() < deadline:  # all queued behind the first
        time.sleep(0.001)
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert c.written == 9
    assert c.transactions == 2  # the first alone, then the eight together
    rows = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT COUNT(*) FROM t").fetchone()
    assert rows[0] == 9


def test_a_failing_write_fails_alone(tmp_path: Path) -> None:
    c = _committer(tmp_path)
    c.write(lambda db: db.execute("INSERT INTO t VALUES ('dup')"))
    results: dict[str, object] = {}
    go = threading.Barrier(3)

    def write(key: str) -> None:
        go.wait()
        try:
            c.write(lambda db: db.execute("INSERT INTO t VALUES (?)", (key,)))
            results[key] = "ok"
        except sqlite3.IntegrityError as exc:
            results[key] = exc

    threads = [threading.Thread(target=write, args=(k,)) for k in ("dup", "new1", "new2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert isinstance(results["dup"], sqlite3.IntegrityError)
    assert results["new1"] == results["new2"] == "ok"
    keys = {r[0] for r in sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT k FROM t")}
    assert keys == {"dup", "new1", "new2"}


def test_a_write_without_waiting_never_waits_nor_carries_the_queue(tmp_path: Path) -> None:
    """The receiver's event loop writes this way: while another thread holds the connection
    it is told Busy (nothing written); when free, it commits its own write alone, leaving
    what other threads queued (it may carry an fsync) to them."""
    c = _committer(tmp_path)
    inside, release = threading.Event(), threading.Event()

    def slow(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('slow')")
        inside.set()
        assert release.wait(10)

    holder = threading.Thread(target=c.write, args=(slow,))
    holder.start()
    assert inside.wait(10)
    with without_waiting(), pytest.raises(Busy):
        c.write(lambda db: db.execute("INSERT INTO t VALUES ('busy')"), durable=False)
    release.set()
    holder.join(10)
    queued = _Write(lambda db: db.execute("INSERT INTO t VALUES ('queued')"), True)
    c._queue.append(queued)  # as a thread does before it waits for the lock
    with without_waiting():
        c.write(lambda db: db.execute("INSERT INTO t VALUES ('mine')"), durable=False)
    assert not queued.done and c._queue == [queued]
    keys = {r[0] for r in sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT k FROM t")}
    assert keys == {"slow", "mine"}
    c.write(lambda db: db.execute("INSERT INTO t VALUES ('next')"))  # commits the queued too
    assert queued.done and queued.error is None


def test_checkpoints_are_made_on_their_own_thread_and_the_wal_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No commit checkpoints (SQLite's automatic checkpoint is off on the connection);
    every CHECKPOINT_EVERY commits a thread of its own does, past WAL_RESTART_FRAMES (here
    always) its second pass holding the lock, and the WAL starts over instead of growing
    with every commit. (Here nothing commits during a checkpoint; under steady writes only
    that second pass completes one: measured, not tested, 44 MB against 233 MB of WAL.)"""
    monkeypatch.setattr(ledger_commit, "WAL_RESTART_FRAMES", 1)
    c = _committer(tmp_path)
    assert c.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    wal = tmp_path / "c.sqlite-wal"
    rounds = 5
    for r in range(rounds):
        for i in range(CHECKPOINT_EVERY):
            c.write(
                lambda db, k=f"{r}-{i}": db.execute("INSERT INTO t VALUES (?)", (k,)),
                durable=False,  # no fsync a commit: the test stays quick
            )
        assert c.wait_checkpoint(10)
    assert c.checkpoints == rounds
    one_round = CHECKPOINT_EVERY * 2 * (4096 + 24)  # a commit appends two pages to the WAL
    assert wal.stat().st_size < 2 * one_round  # started over: without, it held all five
    with sqlite3.connect(tmp_path / "c.sqlite") as other:
        assert other.execute("SELECT COUNT(*) FROM t").fetchone()[0] == rounds * CHECKPOINT_EVERY


def test_a_write_is_visible_to_the_ledgers_reads_once_it_returns(tmp_path: Path) -> None:
    store = StateDB(tmp_path / "rehearsal.sqlite")
    try:
        store.create_run(
            "r1", plan="p", plan_path="p.yaml", provider="mintcash", environment="test",
            target="sim", steps=[("charge", "charge")],
        )  # fmt: skip
        store.update_step("r1", "charge", state="calling", idempotency_key="k")
        assert store.step("r1", "charge")["idempotency_key"] == "k"
        seq = store.compensation_intent("r1", "charge", "refund", "pay_1", 500, "k2")
        assert seq > 0 and store.compensations("r1")[0]["seq"] == seq
        with pytest.raises(sqlite3.IntegrityError):  # the same run twice: refused, nothing half
            store.create_run(
                "r1", plan="p", plan_path="p.yaml", provider="mintcash", environment="test",
                target="sim", steps=[("charge", "charge")],
            )  # fmt: skip
        assert len(store.steps("r1")) == 1
    finally:
        store.close()
