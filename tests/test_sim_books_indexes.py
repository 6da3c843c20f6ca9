"""The simulator's books answer their hot queries through indexes (issue 28).

The SQL the books actually run (caught with SQLite's trace callback, parameters bound) on
the delivery path, the idempotent lookups, the refunds and payments of an object, the
event log, the renewals and PayMongo's pending refunds is asked `EXPLAIN QUERY PLAN`: none
may scan a table and each must go through the indexes named for it, so dropping any of
`records.INDEXES` fails here. A books file written before the indexes existed gains them
when it is opened. Nothing here is timed (bench/bench_books.py is).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rehearsal.simulator.books import Books
from rehearsal.simulator.paymongo.store import Store
from rehearsal.simulator.records import INDEXES


def _render(event_id: str, kind: str, obj: dict[str, object], env: str, at: float) -> bytes:
    return f'{{"id": "{event_id}", "type": "{kind}"}}'.encode()


def _filled(path: Path | str) -> tuple[Books, dict[str, str]]:
    books = Books(path, _render)
    endpoint = books.add_endpoint("http://127.0.0.1:9/hooks", ["*"], None)
    with books.tx() as db:
        payment = books.create_payment(
            db, "test", external_id="pay-1", amount=500, currency="PHP", card_token="pm_card_visa"
        )
        books.create_refund(
            db, "test", external_id="ref-1", payment_id=payment["id"], amount=200, reason=None
        )
        sub = books.create_subscription(
            db,
            "test",
            external_id="sub-1",
            amount=300,
            currency="PHP",
            interval="month",
            card_token="pm_card_visa",
        )
    ids = {"endpoint": endpoint["id"], "payment": payment["id"], "subscription": sub["id"]}
    return books, ids


def _traced(books: Books, work: Callable[[], object]) -> list[str]:
    seen: list[str] = []
    books._db.set_trace_callback(seen.append)
    try:
        work()
    finally:
        books._db.set_trace_callback(None)
    return [s for s in seen if s.split()[0].upper() in ("SELECT", "UPDATE", "DELETE")]


def _hot_paths(books: Books, ids: dict[str, str]) -> dict[str, Callable[[], object]]:
    def deliver() -> None:
        due, _ = books.due_deliveries(time.time())
        assert due, "the books queued deliveries"
        books.newer_pending(due[0])
        books.outbox_row(due[0]["seq"])
        books.mark_delivery(
            due[0]["seq"], state="delivered", attempts=1, next_at=time.time(), last_status=200
        )
        books.endpoint_url(ids["endpoint"])

    paymongo = Store(books)  # its tables, created before anything is traced
    return {
        "delivery": deliver,
        "lookups": lambda: [
            books.by_external_id("test", kind, f"{kind[:3]}-1")
            for kind in ("payment", "refund", "subscription")
        ],
        "children": lambda: (
            books.refund_ids(ids["payment"]),
            books.subscription_payments("test", ids["subscription"]),
        ),
        "events": lambda: books.events_after("test", None, 10),
        # the timed work the PayMongo dialect hands the deliverer's every pass
        "paymongo pending refunds": lambda: paymongo.finish_pending_refunds(time.time(), 1.0),
        "renewals": lambda: (books.next_renewal_at(), books.run_due_renewals()),
        "endpoints": lambda: (
            books.repoint_endpoint(ids["endpoint"], "http://127.0.0.1:9/other"),
            books.remove_endpoint(ids["endpoint"]),
        ),
    }


# The indexes each path's queries must be answered through.
EXPECTED = {
    "delivery": {"outbox_due", "outbox_endpoint"},
    "lookups": {"payments_external", "refunds_external", "subscriptions_external"},
    "children": {"refunds_payment", "payments_subscription"},
    "events": {"events_env"},
    "paymongo pending refunds": {"refunds_status"},
    "renewals": {"subscriptions_due"},
    "endpoints": {"outbox_endpoint"},
}


def _plan(books: Books, sql: str) -> list[str]:
    return [str(r[3]) for r in books._db.execute("EXPLAIN QUERY PLAN " + sql)]


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_hot_queries_use_their_indexes(tmp_path: Path, path: str) -> None:
    books, ids = _filled(tmp_path / "books.db")
    try:
        statements = _traced(books, _hot_paths(books, ids)[path])
        assert statements, "the path ran queries"
        plans = {sql: _plan(books, sql) for sql in statements}
        scans = {sql: p for sql, p in plans.items() if any(s.startswith("SCAN") for s in p)}
        assert scans == {}
        used = {name for p in plans.values() for step in p for name in INDEXES if name in step}
        assert EXPECTED[path] <= used, plans
    finally:
        books.close()


def test_every_index_serves_a_hot_query() -> None:
    assert set().union(*EXPECTED.values()) == set(INDEXES)


@pytest.mark.parametrize("name", ["outbox_due", "outbox_endpoint"])
def test_without_an_outbox_index_the_delivery_path_loses_it(tmp_path: Path, name: str) -> None:
    books, ids = _filled(tmp_path / "books.db")
    try:
        books._db.execute(f"DROP INDEX {name}")
        statements = _traced(books, _hot_paths(books, ids)["delivery"])
        assert not any(name in step for sql in statements for step in _plan(books, sql))
    finally:
        books.close()


def test_an_existing_books_file_gains_the_indexes(tmp_path: Path) -> None:
    path = tmp_path / "books.db"
    books, _ = _filled(path)
    books.close()
    with sqlite3.connect(path) as db:
        for name in INDEXES:
            db.execute(f"DROP INDEX {name}")
    reopened = Books(path, _render)
    try:
        names = {
            r["name"] for r in reopened.all("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert set(INDEXES) <= names
    finally:
        reopened.close()
