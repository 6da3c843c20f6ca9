"""The simulator's books with many rehearsals of history: the hot queries with and without
their indexes (issue 28).

A books file is filled through the real `Books` API with N rehearsals' worth of rows, each
the default MintCash loop as the simulator books it: a webhook endpoint registered, a
charge and its refund, a subscription, its renewal, its cancellation and the refunds of
its two payments (9 events, so 9 outbox rows a rehearsal), every delivery taken by the
deliverer's own calls (`due_deliveries`, `newer_pending`, `mark_delivery`) and the
endpoint removed at the end, as a finished run leaves it. The last rehearsal's deliveries
are left pending, as a live run's are. The file is then copied and, on the copy, the
indexes of `records.INDEXES` dropped: the baseline, in the same process.

Each query is timed on both files, interleaved, as the median of many calls:

    python bench/bench_books.py [--rehearsals 2000] [--calls 300]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's rehearsal

from rehearsal.simulator.books import Books
from rehearsal.simulator.records import INDEXES


def _render(event_id: str, kind: str, obj: dict[str, object], env: str, at: float) -> bytes:
    return (f'{{"id": "{event_id}", "type": "{kind}", "object": "{obj["id"]}"}}').encode()


def _deliver(books: Books) -> None:
    """What the deliverer does with each due row that has no newer one pending."""
    due, _ = books.due_deliveries(time.time())
    for row in due:
        books.newer_pending(row)
        books.mark_delivery(
            row["seq"], state="delivered", attempts=1, next_at=time.time(), last_status=200
        )


def rehearse(books: Books, n: int, *, finish: bool = True) -> dict[str, str]:
    """One rehearsal's rows; the ids a later query looks up."""
    endpoint = books.add_endpoint(f"http://127.0.0.1:9/hooks/{n}", ["*"], "test")
    with books.tx() as db:
        pay = books.create_payment(
            db,
            "test",
            external_id=f"pay-{n}",
            amount=500,
            currency="PHP",
            card_token="pm_card_visa",
        )
        books.create_refund(
            db, "test", external_id=f"ref-{n}", payment_id=pay["id"], amount=500, reason=None
        )
        sub = books.create_subscription(
            db,
            "test",
            external_id=f"sub-{n}",
            amount=300,
            currency="PHP",
            interval="month",
            card_token="pm_card_visa",
        )
    books.advance_to_renewal("test", sub["id"])
    books.cancel_subscription("test", sub["id"], None)
    with books.tx() as db:
        for i, payment in enumerate(books.subscription_payments("test", sub["id"])):
            books.create_refund(
                db,
                "test",
                external_id=f"sub-ref-{n}-{i}",
                payment_id=payment["id"],
                amount=None,
                reason=None,
            )
    if finish:
        _deliver(books)
        books.remove_endpoint(endpoint["id"])
    return {
        "endpoint": endpoint["id"],
        "payment": pay["id"],
        "subscription": sub["id"],
        "n": str(n),
    }


def queries(books: Books, ids: dict[str, str]) -> dict[str, Callable[[], object]]:
    n = ids["n"]
    pending, _ = books.due_deliveries(time.time())
    first = pending[0]
    return {
        "due_deliveries (the deliverer's every pass)": lambda: books.due_deliveries(time.time()),
        "newer_pending (every delivery)": lambda: books.newer_pending(first),
        "repoint_endpoint (an outbox UPDATE by endpoint)": lambda: books.repoint_endpoint(
            ids["endpoint"], f"http://127.0.0.1:9/hooks/{n}"
        ),
        "by_external_id (an idempotent replay)": lambda: books.by_external_id(
            "test", "payment", f"pay-{n}"
        ),
        "refund_ids (a payment's refunds)": lambda: books.refund_ids(ids["payment"]),
        "subscription_payments": lambda: books.subscription_payments("test", ids["subscription"]),
        "next_renewal_at (the deliverer's every pass)": books.next_renewal_at,
    }


def median_ms(work: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rehearsals", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=300, help="calls a query a round; the median")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, both files interleaved")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-books-") as tmp:
        indexed_path, bare_path = Path(tmp, "indexed.db"), Path(tmp, "bare.db")
        books = Books(indexed_path, _render)
        started = time.perf_counter()
        for n in range(args.rehearsals - 1):
            rehearse(books, n)
        live = rehearse(books, args.rehearsals - 1, finish=False)  # a live run's pending rows
        filled = time.perf_counter() - started
        counts = {
            r["state"]: r["n"]
            for r in books.all("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        }
        books.close()
        shutil.copy(indexed_path, bare_path)
        bare = Books(bare_path, _render)  # opening creates the indexes: drop them after
        for name in INDEXES:
            bare._db.execute(f"DROP INDEX {name}")
        indexed = Books(indexed_path, _render)
        print(
            f"{args.rehearsals} rehearsals filled in {filled:.1f} s; outbox "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f"; {sum(counts.values())} rows; SQLite {sqlite3.sqlite_version}"
        )
        with_ix: dict[str, list[float]] = {}
        without: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, work in queries(indexed, live).items():
                with_ix.setdefault(name, []).append(median_ms(work, args.calls))
            for name, work in queries(bare, live).items():
                without.setdefault(name, []).append(median_ms(work, args.calls))
        print(f"\n{'query':<50} {'no indexes':>11} {'indexes':>9} {'ratio':>7}")
        for name in with_ix:
            a, b = statistics.median(without[name]), statistics.median(with_ix[name])
            print(f"{name:<50} {a:>8.3f} ms {b:>6.3f} ms {a / b:>6.1f}x")
        indexed.close()
        bare.close()


if __name__ == "__main__":
    main()
