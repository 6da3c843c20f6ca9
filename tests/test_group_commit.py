"""Group commit (rehearsal/receiver/batch.py): concurrent deliveries share a transaction, and
each is committed before its answer. Real uvicorn on 127.0.0.1, real SQLite files; every
acknowledged event is looked up through a second connection of its own, which sees only
what was committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from rehearsal.ledger.db import Delivery, StateDB
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver.batch import GroupCommit
from rehearsal.receiver.endpoint import Receiver
from tests.conftest import WEBHOOK_SECRET, event_body, signed_headers

RUN_ID = "run_group_commit"


@pytest.fixture
def receiver(store: StateDB) -> Iterator[Receiver]:
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )
    rec = Receiver(adapter.verify_webhook, environment="test", store=store, run_id=RUN_ID)
    rec.start()
    yield rec
    rec.stop()
    adapter.close()


def _committed(path: Path, event_id: str) -> tuple[str, int] | None:
    """The delivery's verdict and duplicates, as another connection sees it."""
    with sqlite3.connect(path) as other:
        row = other.execute(
            "SELECT verdict, duplicates FROM deliveries WHERE run_id = ? AND event_id = ?",
            (RUN_ID, event_id),
        ).fetchone()
    return None if row is None else (row[0], row[1])


def test_concurrent_deliveries_are_each_committed_before_their_answer(
    receiver: Receiver, store: StateDB
) -> None:
    senders, each = 8, 12
    problems: list[str] = []

    def send(k: int) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(each):
                event_id = f"evt_gc_{k}_{i}"
                body = event_body(event_id=event_id, obj=None)
                for attempt in ("first", "again") if i % 4 == 0 else ("first",):
                    answer = client.post(receiver.url, content=body, headers=signed_headers(body))
                    if answer.status_code != 200:
                        problems.append(f"{event_id} {attempt}: {answer.status_code}")
                    elif _committed(store.path, event_id) is None:
                        problems.append(f"{event_id} {attempt}: answered before its commit")
                    if attempt == "again" and answer.json().get("duplicate") is not True:
                        problems.append(f"{event_id}: a repeat not answered as a duplicate")

    threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert problems == []
    repeats = senders * len(range(0, each, 4))
    assert receiver.counts == {
        "accepted": senders * each,
        "duplicate": repeats,
        "rejected": 0,
        "ignored": 0,
    }
    rows = store.deliveries(RUN_ID)
    assert len(rows) == senders * each
    assert sum(r["duplicates"] for r in rows) == repeats
    assert len(receiver.hub.events()) == senders * each  # published once each


def test_the_event_loop_never_waits_for_the_ledger(receiver: Receiver, store: StateDB) -> None:
    """While another thread holds the ledger (a runner's durable commit), a delivery goes
    to the writer thread; the server's loop goes on answering meanwhile, and the delivery
    is answered once its row is committed."""
    body = event_body(event_id="evt_gc_ledger_busy")
    answers: list[httpx.Response] = []
    with store._commits.lock:  # the ledger is another thread's
        sender = threading.Thread(
            target=lambda: answers.append(
                httpx.post(receiver.url, content=body, headers=signed_headers(body), timeout=10)
            )
        )
        sender.start()
        deadline = time.monotonic() + 10  # until its write waits for the ledger's lock
        while not store._commits._queue and time.monotonic() < deadline:
            time.sleep(0.001)
        assert store._commits._queue
        # the loop is free: another request is answered while the delivery waits
        other = httpx.post(receiver.url + "x", content=b"{}", timeout=5)
        assert other.status_code == 404
        assert answers == [] and _committed(store.path, "evt_gc_ledger_busy") is None
    sender.join(10)
    assert [a.status_code for a in answers] == [200]
    assert _committed(store.path, "evt_gc_ledger_busy") == ("accepted", 0)


class _FailingWrites:
    """A state file that cannot be written (a full disk, say): every batch fails."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, batch: Sequence[Delivery]) -> list[bool]:
        self.calls += 1
        raise sqlite3.OperationalError("database or disk is full")


def test_a_batch_that_cannot_be_committed_is_not_acknowledged(receiver: Receiver) -> None:
    assert receiver._commits is not None
    receiver._commits.write = _FailingWrites()
    body = event_body(event_id="evt_gc_disk_full")
    answer = httpx.post(receiver.url, content=body, headers=signed_headers(body), timeout=10)
    assert answer.status_code == 500  # the provider retries it later
    assert WEBHOOK_SECRET not in answer.text
    assert receiver.counts["accepted"] == 0
    assert receiver.hub.events() == []


def test_one_loop_turn_of_deliveries_is_one_transaction(store: StateDB) -> None:
    """Deliveries handed in during the same loop turn share one commit; a repeat within
    the batch counts as a duplicate of the first."""
    transactions: list[int] = []

    def write(batch: Sequence[Delivery]) -> list[bool]:
        transactions.append(len(batch))
        return store.record_deliveries(batch)

    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )
    events = [adapter.parse_event(event_body(event_id=f"evt_gc_turn_{i % 20}")) for i in range(21)]
    commits = GroupCommit(write)

    async def deliver() -> list[bool]:
        return await asyncio.gather(
            *(commits.store(Delivery(RUN_ID, e, "accepted")) for e in events)
        )

    try:
        fresh = asyncio.run(deliver())
    finally:
        commits.close()
        adapter.close()
    assert fresh == [True] * 20 + [False]
    assert transactions == [21]
    assert len(store.deliveries(RUN_ID)) == 20
