"""The matrix's router through real HTTP: an event about an object no run has claimed yet is
on disk (under the matrix's id, reason "parked") before it is acknowledged, goes to its run
once claimed (the parked row says where), and stays recorded, saying so, if no run claims
it. Real uvicorn on 127.0.0.1, a real SQLite ledger read through its own connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rehearsal.ledger.db import StateDB
from rehearsal.providers.base import ProviderObject
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver.router import Router
from tests.conftest import WEBHOOK_SECRET, event_body, signed_headers

MATRIX = "matrix-test"
RUN = "run-a"


@pytest.fixture
def router(tmp_path: Path) -> Iterator[tuple[Router, Path]]:
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )
    db = tmp_path / "rehearsal.sqlite"
    store = StateDB(db)
    router = Router(adapter.verify_webhook, environment="test", store=store, matrix_id=MATRIX)
    router.add_run(RUN)
    router.start()
    yield router, db
    router.stop()
    adapter.close()
    store.close()


def rows(db: Path, run_id: str) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(db) as con:  # another connection: what is on disk, not in memory
        return list(
            con.execute(
                "SELECT event_id, verdict, reason FROM deliveries WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            )
        )


def post(router: Router, event_id: str, payment_id: str) -> int:
    obj = {"id": payment_id, "object": "payment", "amount": 500, "currency": "USD",
           "status": "succeeded"}  # fmt: skip
    body = event_body(event_id=event_id, obj=obj)
    return httpx.post(
        router.url, content=body, headers=signed_headers(body), timeout=10
    ).status_code


def payment(object_id: str) -> ProviderObject:
    return ProviderObject("payment", object_id, "succeeded", 500, "USD", "test")


def test_an_early_event_is_stored_before_its_200_then_routed_to_its_run(
    router: tuple[Router, Path],
) -> None:
    r, db = router
    assert post(r, "evt_early", "pay_early") == 200
    # Acknowledged: so already on disk, before any run claimed pay_early.
    [(event_id, verdict, reason)] = rows(db, MATRIX)
    assert (event_id, verdict) == ("evt_early", "ignored")
    assert reason == "parked: no run of this matrix had claimed pay_early yet"
    assert rows(db, RUN) == []

    r.claim_object(RUN, payment("pay_early"))
    assert [(e, v) for e, v, _ in rows(db, RUN)] == [("evt_early", "accepted")]
    assert rows(db, MATRIX)[0][2] == f"parked; routed to {RUN}"
    got = r.runs[RUN].hub.wait_for(lambda e: e.event_id == "evt_early", time.monotonic() + 5)
    assert got is not None


def test_an_event_no_run_claims_keeps_its_row_saying_so(router: tuple[Router, Path]) -> None:
    r, db = router
    assert post(r, "evt_stray", "pay_stray") == 200
    assert post(r, "evt_stray", "pay_stray") == 200  # the provider's retry: one row still
    assert r.unrouted() == 1
    [(event_id, verdict, reason)] = rows(db, MATRIX)
    assert (event_id, verdict, reason) == (
        "evt_stray",
        "ignored",
        "no run of this matrix owns pay_stray",
    )
    assert rows(db, RUN) == []


def test_an_event_about_a_claimed_object_goes_straight_to_its_run(
    router: tuple[Router, Path],
) -> None:
    r, db = router
    r.claim_object(RUN, payment("pay_mine"))
    assert post(r, "evt_mine", "pay_mine") == 200
    assert rows(db, MATRIX) == []
    assert [(e, v) for e, v, _ in rows(db, RUN)] == [("evt_mine", "accepted")]
