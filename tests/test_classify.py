"""One judge of an incoming webhook (rehearsal/receiver/classify.py) for a run's receiver, the
matrix's router and `rehearsal tunnel`: an exception no one expects of a verify (a bug in an
adapter's parsing) is a refusal in each of them, the same one: 400 with only its kind in the
answer, never a 500, a traceback or the exception's message (it may quote a secret); the
server goes on answering. Real servers on 127.0.0.1; the verify is the MintCash adapter's,
failing after verification for one event id, as a parsing bug would."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from rehearsal.commands.tunnel import DeliveryLog, judging
from rehearsal.ledger.db import StateDB
from rehearsal.providers.base import NormalizedEvent
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver import classify
from rehearsal.receiver.endpoint import Receiver, WebhookEndpoint
from rehearsal.receiver.router import Router
from tests.conftest import WEBHOOK_SECRET, event_body, signed_headers

BUG = "evt_parser_bug"
LEAK = f"a parser bug near {WEBHOOK_SECRET}"  # what the exception's message would give away


@pytest.fixture
def buggy_verify() -> Iterator[classify.Verify]:
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )

    def verify(headers: Mapping[str, str], body: bytes) -> NormalizedEvent:
        event = adapter.verify_webhook(headers, body)
        if event.event_id == BUG:
            raise KeyError(LEAK)
        return event

    yield verify
    adapter.close()


def _receiver(verify: classify.Verify, store: StateDB) -> tuple[WebhookEndpoint, str]:
    return Receiver(verify, environment="test", store=store, run_id="run-c"), "run-c"


def _router(verify: classify.Verify, store: StateDB) -> tuple[WebhookEndpoint, str]:
    router = Router(verify, environment="test", store=store, matrix_id="matrix-c")
    router.add_run("run-c")
    router.claim("run-c", "pay_fixture")  # the good event goes straight to its run
    return router, "matrix-c"


def _tunnel(verify: classify.Verify, store: StateDB) -> tuple[WebhookEndpoint, str]:
    return DeliveryLog(judging(verify, "test")), ""


PATHS: dict[str, Callable[[classify.Verify, StateDB], tuple[WebhookEndpoint, str]]] = {
    "receiver": _receiver,
    "router": _router,
    "tunnel": _tunnel,
}


def _rows(db: Path, run_id: str) -> list[tuple[str | None, str, str | None]]:
    with sqlite3.connect(db) as con:  # another connection: what is on disk
        query = "SELECT event_id, verdict, reason FROM deliveries WHERE run_id = ? ORDER BY seq"
        return list(con.execute(query, (run_id,)))


@pytest.mark.parametrize("path", PATHS)
def test_an_unexpected_error_in_verify_is_the_same_refusal_on_every_path(
    path: str, buggy_verify: classify.Verify, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "rehearsal.sqlite"
    store = StateDB(db)
    endpoint, run_id = PATHS[path](buggy_verify, store)
    url = endpoint.start()
    try:
        bug = event_body(event_id=BUG)
        refused = httpx.post(url, content=bug, headers=signed_headers(bug), timeout=10)
        good = event_body(event_id="evt_after_the_bug")
        after = httpx.post(url, content=good, headers=signed_headers(good), timeout=10)
    finally:
        endpoint.stop()
        store.close()

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() in ({"error": "unreadable"}, {"error": "rejected"})  # the tunnel's
    for leak in (WEBHOOK_SECRET, "KeyError", "Traceback", "parser bug"):
        assert leak not in refused.text
    assert after.status_code == 200  # the server goes on
    out = capsys.readouterr()
    assert WEBHOOK_SECRET not in out.out + out.err and "Traceback" not in out.out + out.err
    if path == "tunnel":
        assert "REJECTED: unreadable: KeyError -> 400" in out.out
        assert "evt_after_the_bug pay_fixture, signature ok (test) -> 200" in out.out
        return
    rows = _rows(db, run_id)
    assert rows[0] == (None, "rejected", "unreadable: KeyError")  # the type, not the message
    if path == "router":
        rows = _rows(db, "run-c")
    assert rows[-1] == ("evt_after_the_bug", "accepted", None)
