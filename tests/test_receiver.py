"""The webhook receiver through real HTTP: uvicorn on 127.0.0.1, httpx as the provider.

Verification is the MintCash adapter's `verify_webhook` (no MintCash server needed for it).
Nothing here sleeps: the receiver stores and publishes before it answers, and waits use
`EventHub.wait_for` with a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rehearsal.ledger.db import StateDB
from rehearsal.providers import signatures
from rehearsal.providers.base import NormalizedEvent
from rehearsal.providers.mintcash import contract
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver.endpoint import Receiver
from rehearsal.receiver.hub import EventHub
from tests.conftest import WEBHOOK_SECRET, event_body, signed_headers

RUN_ID = "run_receiver_test"
MAX_BODY = 1024


def _verifier() -> MintCash:
    return MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )


@pytest.fixture
def verifier() -> Iterator[MintCash]:
    adapter = _verifier()
    yield adapter
    adapter.close()


@pytest.fixture(scope="module")
def shared_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """One real server for the module: starting and stopping uvicorn costs ~0.3 s a test."""
    adapter = _verifier()
    first_store = StateDB(tmp_path_factory.mktemp("receiver") / "first.sqlite")
    rec = Receiver(
        adapter.verify_webhook,
        environment="test",
        store=first_store,
        run_id=RUN_ID,
        max_body=MAX_BODY,
    )
    url = rec.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith(rec.path)
        yield rec
    finally:
        rec.stop()
        first_store.close()
        adapter.close()


@pytest.fixture
def receiver(shared_receiver: Receiver, store: StateDB) -> Receiver:
    """The shared receiver with this test's own state file, event hub and counters."""
    shared_receiver.store = store
    shared_receiver.run_id = RUN_ID
    shared_receiver.hub = EventHub()
    shared_receiver.counts = dict.fromkeys(shared_receiver.counts, 0)
    return shared_receiver


@pytest.fixture
def client(receiver: Receiver) -> Iterator[httpx.Client]:
    # Depends on `receiver` so it is closed before the server stops.
    with httpx.Client(timeout=5.0) as c:
        yield c


def _post(
    client: httpx.Client,
    receiver: Receiver,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST `body` to the receiver, signed with the webhook secret unless headers are given."""
    if headers is None:
        headers = signed_headers(body)
    return client.post(receiver.url, content=body, headers=headers)


def _deliveries(store: StateDB) -> list[dict[str, object]]:
    return store.deliveries(RUN_ID)


def _by_id(event_id: str) -> Callable[[NormalizedEvent], bool]:
    return lambda e: e.event_id == event_id


def _pay(pid: str, environment: str = "test") -> dict[str, object]:
    return {
        "id": pid,
        "object": "payment",
        "amount": 500,
        "currency": "USD",
        "status": "succeeded",
        "amountRefunded": 0,
        "refunds": [],
        "environment": environment,
    }


def _padded(size: int, event_id: str = "evt_padded") -> bytes:
    """A valid event body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = event_body(event_id=event_id)
    assert len(body) <= size
    return body + b" " * (size - len(body))


def _chunks(data: bytes, size: int = 256) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# --- the happy path -------------------------------------------------------------------------


def test_valid_event_is_accepted_stored_and_published(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = event_body(event_id="evt_ok_1", obj=_pay("pay_ok_1"))
    response = _post(client, receiver, body)

    assert response.status_code == 200
    assert response.json() == {"received": True}

    rows = _deliveries(store)
    assert len(rows) == 1
    row = rows[0]
    assert row["event_id"] == "evt_ok_1"
    assert row["verdict"] == "accepted"
    assert row["type"] == "payment.succeeded"
    assert row["object_id"] == "pay_ok_1"
    assert row["environment"] == "test"
    assert row["duplicates"] == 0
    assert json.loads(str(row["payload"]))["eventId"] == "evt_ok_1"

    got = receiver.hub.wait_for(_by_id("evt_ok_1"), time.monotonic() + 5)
    assert got is not None
    arrived, event = got
    assert isinstance(event, NormalizedEvent)
    assert event.type == "payment.succeeded"
    assert event.object is not None and event.object.id == "pay_ok_1"
    assert arrived <= time.time()
    assert receiver.counts == {"accepted": 1, "duplicate": 0, "rejected": 0, "ignored": 0}


def test_body_of_exactly_max_body_is_accepted(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = _padded(MAX_BODY, "evt_exact")
    assert len(body) == MAX_BODY
    response = _post(client, receiver, body)
    assert response.status_code == 200
    assert [r["verdict"] for r in _deliveries(store)] == ["accepted"]


def test_chunked_body_of_exactly_max_body_is_accepted(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = _padded(MAX_BODY, "evt_exact_chunked")
    response = client.post(receiver.url, content=_chunks(body), headers=signed_headers(body))
    assert "content-length" not in response.request.headers
    assert response.status_code == 200
    assert [r["event_id"] for r in _deliveries(store)] == ["evt_exact_chunked"]


def test_event_types_outside_wanted_are_ignored_and_stop_closes_the_port(
    verifier: MintCash, store: StateDB
) -> None:
    rec = Receiver(
        verifier.verify_webhook,
        environment="test",
        store=store,
        run_id=RUN_ID,
        wanted={"payment.refunded"},
    )
    url = rec.start()
    try:
        with httpx.Client(timeout=5.0) as c:
            body = event_body(event_id="evt_unwanted")
            response = c.post(url, content=body, headers=signed_headers(body))
    finally:
        rec.stop()
    assert response.status_code == 200
    with pytest.raises(httpx.TransportError):  # stop() really closed the port
        httpx.post(url, content=body, headers=signed_headers(body), timeout=2.0)
    assert rec.hub.events() == []
    assert [r["verdict"] for r in _deliveries(store)] == ["ignored"]
    assert rec.counts["ignored"] == 1


# --- refusals -------------------------------------------------------------------------------


def _tampered() -> tuple[bytes, dict[str, str]]:
    signed = event_body(event_id="evt_tamper")
    sent = signed.replace(b'"amount":500', b'"amount":50000')
    assert sent != signed
    return sent, signed_headers(signed)


def _refusal_cases() -> list[tuple[str, bytes, dict[str, str]]]:
    body = event_body(event_id="evt_refused")
    now = int(time.time())
    sig = signatures.compute(WEBHOOK_SECRET, now, body)
    json_ct = {"Content-Type": "application/json"}
    return [
        ("tampered-body", *_tampered()),
        ("wrong-secret", body, signed_headers(body, secret="whsec_not_the_receivers_secret")),
        ("stale-timestamp", body, signed_headers(body, timestamp=now - 600)),
        ("future-timestamp", body, signed_headers(body, timestamp=now + 600)),
        ("missing-header", body, json_ct),
        ("no-v1", body, {contract.SIGNATURE_HEADER: f"t={now}", **json_ct}),
        ("no-t", body, {contract.SIGNATURE_HEADER: f"v1={sig}", **json_ct}),
        ("malformed-t", body, {contract.SIGNATURE_HEADER: f"t=now,v1={sig}", **json_ct}),
    ]


# Built when the test runs, not when tests are collected: a timestamp "600 s ahead" taken
# at collection is already in the past in a long, loaded run.
@pytest.mark.parametrize("case", [c[0] for c in _refusal_cases()])
def test_bad_signature_is_refused_and_nothing_published(
    receiver: Receiver,
    client: httpx.Client,
    store: StateDB,
    case: str,
) -> None:
    body, headers = next(c[1:] for c in _refusal_cases() if c[0] == case)
    response = _post(client, receiver, body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"error": "signature"}
    assert WEBHOOK_SECRET not in response.text
    assert receiver.hub.events() == []
    assert receiver.hub.wait_for(lambda e: True, time.monotonic() + 0.05) is None
    rows = _deliveries(store)
    assert len(rows) == 1
    assert rows[0]["verdict"] == "rejected"
    assert rows[0]["event_id"] is None
    assert str(rows[0]["reason"]).startswith("signature:")
    assert receiver.counts["rejected"] == 1
    assert receiver.counts["accepted"] == 0


def test_non_ascii_signature_header_is_a_400(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = event_body(event_id="evt_non_ascii")
    header = f"t={int(time.time())},v1=".encode() + b"\xe9"
    response = client.post(receiver.url, content=body, headers={contract.SIGNATURE_HEADER: header})
    assert response.status_code == 400
    assert [r["verdict"] for r in _deliveries(store)] == ["rejected"]


def test_of_a_repeated_signature_header_the_first_is_verified(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    """A second `MintCash-Signature` cannot rescue a bad first one, nor spoil a good one."""
    name = contract.SIGNATURE_HEADER
    good_body = event_body(event_id="evt_first_good")
    good = signed_headers(good_body)[name]
    forged = signatures.sign("whsec_someone_else", good_body)
    first_forged = client.post(
        receiver.url, content=good_body, headers=[(name, forged), (name, good)]
    )
    first_good = client.post(
        receiver.url, content=good_body, headers=[(name, good), (name, forged)]
    )
    assert (first_forged.status_code, first_good.status_code) == (400, 200)
    assert [r["verdict"] for r in _deliveries(store)] == ["rejected", "accepted"]


def test_environment_mismatch_is_refused_and_stored_rejected(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = event_body(event_id="evt_live", environment="live", obj=_pay("pay_live", "live"))
    response = _post(client, receiver, body)

    assert response.status_code == 400
    assert response.json() == {"error": "environment mismatch"}
    assert receiver.hub.events() == []
    rows = _deliveries(store)
    assert len(rows) == 1
    assert rows[0]["verdict"] == "rejected"
    assert rows[0]["event_id"] == "evt_live"
    assert rows[0]["environment"] == "live"
    assert "live" in str(rows[0]["reason"])
    assert receiver.counts["rejected"] == 1


def test_duplicate_delivery_is_answered_but_processed_once(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = event_body(event_id="evt_dup", obj=_pay("pay_dup"))
    first = _post(client, receiver, body)
    # A provider retry: same event, signed again (a later timestamp).
    second = _post(
        client, receiver, body, headers=signed_headers(body, timestamp=int(time.time()) + 1)
    )

    assert first.status_code == 200
    assert second.status_code == 200
    assert first.json() == {"received": True}
    assert second.json() == {"received": True, "duplicate": True}
    assert [e.event_id for e in receiver.hub.events()] == ["evt_dup"]
    rows = _deliveries(store)
    assert len(rows) == 1
    assert rows[0]["duplicates"] == 1
    assert rows[0]["verdict"] == "accepted"
    assert receiver.counts["duplicate"] == 1
    assert receiver.counts["accepted"] == 1


def test_unknown_event_type_is_acknowledged_and_ignored(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    payout = {"id": "po_1", "object": "payout", "amount": 500, "status": "paid"}
    body = event_body("payout.paid", event_id="evt_payout", obj=payout)
    response = _post(client, receiver, body)

    assert response.status_code == 200
    assert receiver.hub.events() == []
    assert receiver.hub.wait_for(_by_id("evt_payout"), time.monotonic() + 0.05) is None
    rows = _deliveries(store)
    assert len(rows) == 1
    assert rows[0]["verdict"] == "ignored"
    assert rows[0]["type"] == "payout.paid"
    assert receiver.counts["ignored"] == 1
    assert receiver.counts["accepted"] == 0


def test_oversized_body_with_content_length_is_413(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = _padded(MAX_BODY + 1, "evt_big")
    response = _post(client, receiver, body)

    assert response.request.headers["content-length"] == str(MAX_BODY + 1)
    assert response.status_code == 413
    assert receiver.hub.events() == []
    rows = _deliveries(store)
    assert [(r["verdict"], r["reason"]) for r in rows] == [("rejected", "body too large")]


def test_oversized_chunked_body_is_413(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = _padded(4 * MAX_BODY, "evt_big_chunked")
    response = client.post(receiver.url, content=_chunks(body), headers=signed_headers(body))

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert receiver.hub.events() == []
    rows = _deliveries(store)
    assert [(r["verdict"], r["reason"]) for r in rows] == [("rejected", "body too large")]


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventId": "evt_broken", "type": ',
        b"[1, 2, 3]",
        b'{"eventId": "evt_no_data", "type": "payment.succeeded", "environment": "test"}',
    ],
    ids=["truncated-json", "json-array", "missing-fields"],
)
def test_malformed_but_correctly_signed_body_is_400(
    receiver: Receiver, client: httpx.Client, store: StateDB, body: bytes
) -> None:
    response = _post(client, receiver, body)

    assert response.status_code == 400
    assert response.json() == {"error": "malformed"}
    assert receiver.hub.events() == []
    rows = _deliveries(store)
    assert len(rows) == 1
    assert rows[0]["verdict"] == "rejected"
    assert str(rows[0]["reason"]).startswith("malformed:")


def test_known_type_without_a_valid_object_is_400(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    body = event_body(event_id="evt_no_obj", obj={"id": "pay_x", "object": "payment"})
    response = _post(client, receiver, body)
    assert response.status_code == 400
    assert receiver.hub.events() == []


def test_wrong_url_token_is_404(receiver: Receiver, client: httpx.Client, store: StateDB) -> None:
    body = event_body(event_id="evt_wrong_token")
    wrong = receiver.url.rsplit("/", 1)[0] + "/" + "x" * len(receiver.token)
    assert wrong != receiver.url
    response = client.post(wrong, content=body, headers=signed_headers(body))

    assert response.status_code == 404
    assert receiver.hub.events() == []
    assert _deliveries(store) == []
    assert receiver.counts == {"accepted": 0, "duplicate": 0, "rejected": 0, "ignored": 0}


@pytest.mark.parametrize("token", ["%C3%A9" * 8, "%00", "%F0%9F%92%B8"])
def test_a_non_ascii_token_from_the_internet_is_a_plain_404(
    receiver: Receiver, client: httpx.Client, token: str
) -> None:
    """Anyone can reach a tunnel's URL: an odd path must not raise inside the receiver (a
    500 and a traceback in the operator's log), just miss."""
    base = receiver.url.split("/webhooks/")[0]
    response = client.post(f"{base}/webhooks/{token}", content=event_body())
    assert response.status_code == 404


def test_other_paths_are_404(receiver: Receiver, client: httpx.Client) -> None:
    base = receiver.url.split("/webhooks/")[0]
    body = event_body()
    assert client.post(base + "/webhooks", content=body).status_code == 404
    assert client.post(base + "/", content=body).status_code == 404


# --- waiting --------------------------------------------------------------------------------


def test_wait_for_returns_none_at_the_deadline(receiver: Receiver) -> None:
    started = time.monotonic()
    got = receiver.hub.wait_for(lambda e: True, started + 0.2)
    elapsed = time.monotonic() - started
    assert got is None
    assert 0.15 <= elapsed < 2.0


def test_wait_for_ignores_events_that_do_not_match(
    receiver: Receiver, client: httpx.Client
) -> None:
    body = event_body(event_id="evt_other", obj=_pay("pay_other"))
    assert _post(client, receiver, body).status_code == 200
    got = receiver.hub.wait_for(_by_id("evt_never_sent"), time.monotonic() + 0.2)
    assert got is None


def test_wait_for_returns_an_event_that_arrived_before_the_wait(
    receiver: Receiver, client: httpx.Client
) -> None:
    for i in (1, 2, 3):
        body = event_body(event_id=f"evt_early_{i}", obj=_pay(f"pay_early_{i}"))
        assert _post(client, receiver, body).status_code == 200
    wait_began = time.time()
    started = time.monotonic()

    got = receiver.hub.wait_for(
        lambda e: e.object is not None and e.object.id == "pay_early_2", started + 5
    )

    assert got is not None
    arrived, event = got
    assert event.event_id == "evt_early_2"
    assert arrived <= wait_began
    assert time.monotonic() - started < 1.0


def test_wait_for_wakes_when_a_matching_event_arrives(
    receiver: Receiver, client: httpx.Client
) -> None:
    results: list[tuple[float, NormalizedEvent] | None] = []
    deadline = time.monotonic() + 5
    waiter = threading.Thread(
        target=lambda: results.append(receiver.hub.wait_for(_by_id("evt_later"), deadline))
    )
    waiter.start()
    body = event_body(event_id="evt_later", obj=_pay("pay_later"))
    assert _post(client, receiver, body).status_code == 200
    waiter.join(timeout=5)

    assert not waiter.is_alive()
    assert len(results) == 1 and results[0] is not None
    assert results[0][1].event_id == "evt_later"
    assert time.monotonic() < deadline  # woken by the event, not by the deadline


# --- no secret at rest ----------------------------------------------------------------------


def test_webhook_secret_never_reaches_the_state_database(
    receiver: Receiver, client: httpx.Client, store: StateDB
) -> None:
    now = int(time.time())
    good = event_body(event_id="evt_at_rest", obj=_pay("pay_at_rest"))
    deliveries: list[tuple[bytes, dict[str, str]]] = [
        (good, signed_headers(good)),
        (good, signed_headers(good)),  # duplicate
        (_tampered()),
        (good, signed_headers(good, secret="whsec_other_secret")),
        (good, signed_headers(good, timestamp=now - 3600)),
        (good, {"Content-Type": "application/json"}),
        (event_body(event_id="evt_live_rest", environment="live"), {}),
        (b"not json", signed_headers(b"not json")),
        (_padded(2 * MAX_BODY, "evt_big_rest"), {}),
        (event_body("payout.paid", event_id="evt_payout_rest"), {}),
    ]
    statuses = []
    for body, headers in deliveries:
        statuses.append(_post(client, receiver, body, headers or None).status_code)
    assert statuses == [200, 200, 400, 400, 400, 400, 400, 400, 413, 200]

    files = sorted(p for p in Path(store.path).parent.iterdir() if p.is_file())
    assert Path(store.path) in files
    data = b"".join(p.read_bytes() for p in files)
    assert b"evt_at_rest" in data  # the deliveries are in these bytes
    assert WEBHOOK_SECRET.encode() not in data
    assert WEBHOOK_SECRET.removeprefix("whsec_").encode() not in data
    expected_sig = signatures.compute(WEBHOOK_SECRET, now, good).encode()
    assert expected_sig not in data
