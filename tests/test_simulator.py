"""The MintCash simulator through real HTTP on 127.0.0.1.

Request ids, externalId idempotency, test cards, refunds, subscriptions, signed webhook
delivery with retries, the fault switches, event paging, and the standalone process.
Nothing here sleeps: background work is awaited on a Condition with a deadline, and a
"barrier" event (a later delivery on the same single delivery thread) proves that
everything queued before it has been handled.

Tests that only read and write their own objects share one simulator per module (each
embedded simulator costs ~0.3 s to start and stop); tests that touch global state (fault
switches, webhook endpoints, the clock, subscriptions that renew, whole-book counts) get
a fresh one from conftest's `sim`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rehearsal.net.server import ServerThread
from rehearsal.providers import signatures
from rehearsal.providers.mintcash import contract
from rehearsal.simulator.server import Simulator

WAIT = 5.0  # seconds: the deadline for anything the simulator does in the background


# --- a webhook endpoint of our own -----------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]  # lower-cased names, as Starlette gives them
    body: bytes
    arrived: float  # time.monotonic()

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def signature(self) -> str | None:
        return self.headers.get(contract.SIGNATURE_HEADER.lower())


class Collector:
    """Records every delivery; answers with the scripted statuses first, then 200."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self._answers = list(answers or [])
        self._cond = threading.Condition()
        app = Starlette(routes=[Route("/hook", self._receive, methods=["POST"])])
        self._server = ServerThread(app, name="test-webhooks")

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        with self._cond:
            self.deliveries.append(Delivery(dict(request.headers), body, time.monotonic()))
            status = self._answers.pop(0) if self._answers else 200
            self._cond.notify_all()
        return Response(status_code=status)

    @property
    def url(self) -> str:
        return f"{self._server.url}/hook"

    def start(self) -> Collector:
        self._server.start()
        return self

    def request_stop(self) -> None:
        self._server.request_stop()

    def stop(self) -> None:
        self._server.stop()

    def wait_until(
        self, done: Callable[[list[Delivery]], bool], timeout: float = WAIT
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [d.event["type"] for d in self.deliveries]
                    raise AssertionError(f"no such delivery within {timeout}s; got {got}")
                self._cond.wait(remaining)
            return list(self.deliveries)

    def wait_for_count(self, count: int) -> list[Delivery]:
        return self.wait_until(lambda ds: len(ds) >= count)

    def wait_for_object(self, object_id: str, event_type: str | None = None) -> Delivery:
        def match(d: Delivery) -> bool:
            ev = d.event
            return ev["data"]["object"]["id"] == object_id and event_type in (None, ev["type"])

        delivered = self.wait_until(lambda ds: any(match(d) for d in ds))
        return next(d for d in delivered if match(d))

    def types(self) -> list[str]:
        with self._cond:
            return [d.event["type"] for d in self.deliveries]


# --- fixtures and helpers --------------------------------------------------------------------


def auth(key: str) -> dict[str, str]:
    return {contract.AUTH_HEADER: f"Bearer {key}"}


def xid() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def api(sim: Simulator, sim_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim_url, headers=auth(sim.keys.test_secret), timeout=10) as c:
        yield c


@pytest.fixture
def live_api(sim: Simulator, sim_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim_url, headers=auth(sim.keys.live_secret), timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """One simulator for the tests that only look at their own objects."""
    simulator = Simulator(tmp_path_factory.mktemp("shared") / "books.sqlite", time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


def own_client(simulator: Simulator) -> httpx.Client:
    url = f"http://127.0.0.1:{simulator.port}"
    return httpx.Client(base_url=url, headers=auth(simulator.keys.test_secret), timeout=10)


@pytest.fixture
def quiet_errors() -> Iterator[None]:
    """Logging off while a test provokes an unhandled error in the simulator.

    On CPython 3.11 the traceback module calls ast.parse, and two threads parsing at once
    can fail with "SystemError: AST constructor recursion depth mismatch": uvicorn logging
    the error's traceback on its thread while pytest rendered the (expected) failure of the
    same test crashed the whole session (INTERNALERROR) about one run in four.
    """
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def settle(simulator: Simulator) -> None:
    """One more round trip on a fresh connection: the server has finished the previous one."""
    with own_client(simulator) as c:
        assert c.get("/_sim/info").status_code == 200


@pytest.fixture(scope="module")
def shared_api(shared_sim: Simulator) -> Iterator[httpx.Client]:
    url = f"http://127.0.0.1:{shared_sim.port}"
    with httpx.Client(base_url=url, headers=auth(shared_sim.keys.test_secret), timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def shared_live_api(shared_sim: Simulator) -> Iterator[httpx.Client]:
    url = f"http://127.0.0.1:{shared_sim.port}"
    with httpx.Client(base_url=url, headers=auth(shared_sim.keys.live_secret), timeout=10) as c:
        yield c


@pytest.fixture(autouse=True)
def _collectors() -> Iterator[list[Collector]]:
    """Collectors to join last: autouse, so set up before the simulator and torn down after
    it; they wind down while the simulator stops."""
    started: list[Collector] = []
    yield started
    for collector in started:
        collector.stop()


@pytest.fixture
def make_hooks(
    _collectors: list[Collector], api: httpx.Client
) -> Iterator[Callable[..., Collector]]:
    """Start a Collector and register it with the simulator."""
    started = _collectors

    def make(
        answers: list[int] | None = None,
        events: list[str] | None = None,
        environment: str | None = "test",
    ) -> Collector:
        collector = Collector(answers).start()
        started.append(collector)
        r = api.post(
            "/_sim/webhook_endpoints",
            json={"url": collector.url, "events": events or ["*"], "environment": environment},
        )
        assert r.status_code == 201, r.text
        assert r.json()["id"].startswith("we_")
        return collector

    yield make
    for collector in started:
        collector.request_stop()  # winds down while the simulator stops; joined later


@pytest.fixture
def hooks(make_hooks: Callable[..., Collector]) -> Collector:
    return make_hooks()


def pay(
    client: httpx.Client,
    *,
    amount: int = 1000,
    card: str = "pm_card_visa",
    external_id: str | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {
        "externalId": external_id or xid(),
        "amount": amount,
        "currency": "USD",
        "paymentMethod": card,
        **extra,
    }
    return client.post(contract.PAYMENTS, json=body)


def paid(client: httpx.Client, **kwargs: Any) -> dict[str, Any]:
    r = pay(client, **kwargs)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def refund(
    client: httpx.Client, payment_id: str, amount: int | None = None, external_id: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"externalId": external_id or xid(), "paymentId": payment_id}
    if amount is not None:
        body["amount"] = amount
    return client.post(contract.REFUND, json=body)


def subscribe(
    client: httpx.Client, *, interval: Any = "month", card: str = "pm_card_visa"
) -> httpx.Response:
    body = {
        "externalId": xid(),
        "amount": 900,
        "currency": "USD",
        "interval": interval,
        "paymentMethod": card,
    }
    return client.post(contract.SUBSCRIPTIONS, json=body)


def books(client: httpx.Client) -> dict[str, Any]:
    r = client.get("/_sim/books")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def set_faults(client: httpx.Client, *specs: str) -> None:
    r = client.put("/_sim/faults", json={"faults": list(specs)})
    assert r.status_code == 200, r.text
    assert r.json()["faults"] == list(specs)


def events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = client.get(contract.EVENTS, params=params)
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def wait_outbox(client: httpx.Client, expected: dict[str, int]) -> None:
    """Read the outbox until it matches, within the deadline.

    The delivery thread records an attempt just after the receiver answers, so a test that
    has seen the delivery may look a moment too early. Each read is a real HTTP round trip;
    there is no sleep, and the window is microseconds wide.
    """
    deadline = time.monotonic() + WAIT
    while (outbox := books(client)["outbox"]) != expected:
        assert time.monotonic() < deadline, f"outbox {outbox}, expected {expected}"


def all_events(client: httpx.Client) -> list[dict[str, Any]]:
    """Every event of the key's environment, page by page."""
    found: list[dict[str, Any]] = []
    while page := events(client, **({"after": found[-1]["eventId"]} if found else {})):
        found += page
    return found


def events_of(client: httpx.Client, object_id: str) -> list[str]:
    return [e["type"] for e in all_events(client) if e["data"]["object"]["id"] == object_id]


def rows(client: httpx.Client, table: str, **match: Any) -> list[dict[str, Any]]:
    """Rows of one table of the books whose columns have the given values."""
    return [
        row
        for row in books(client)[table]
        if all(row[column] == value for column, value in match.items())
    ]


def barrier(client: httpx.Client, hooks: Collector) -> None:
    """Queue a payment.failed and wait for it: everything queued earlier has been handled.

    The simulator has one delivery thread working its outbox in order, so once this later
    event has arrived, earlier ones were delivered, dropped or rescheduled.
    """
    declined = paid(client, card="pm_card_declined")
    hooks.wait_for_object(declined["id"], contract.PAYMENT_FAILED)


def assert_request_id(r: httpx.Response) -> str:
    header = r.headers.get(contract.REQUEST_ID_HEADER)
    assert header and header.startswith("req_"), r.headers
    assert r.json()["requestId"] == header
    return header


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# --- request ids -----------------------------------------------------------------------------


def test_every_success_has_its_own_request_id(shared_api: httpx.Client) -> None:
    first = pay(shared_api)
    second = shared_api.get(contract.PAYMENT.format(id=first.json()["id"]))
    assert first.status_code == 201 and second.status_code == 200
    assert assert_request_id(first) != assert_request_id(second)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no key", 401, "invalid_api_key"),
        ("unknown key", 401, "invalid_api_key"),
        ("unknown object", 404, "resource_missing"),
        ("validation", 400, "parameter_invalid"),
        ("not json", 400, "body_invalid"),
    ],
)
def test_error_responses_carry_a_request_id(
    shared_sim: Simulator, case: str, status: int, code: str
) -> None:
    key = auth(shared_sim.keys.test_secret)
    with httpx.Client(base_url=f"http://127.0.0.1:{shared_sim.port}", timeout=10) as c:
        if case == "no key":
            r = c.get(contract.PAYMENT.format(id="pay_x"))
        elif case == "unknown key":
            r = c.get(contract.PAYMENT.format(id="pay_x"), headers=auth("sk_test_nope"))
        elif case == "unknown object":
            r = c.get(contract.PAYMENT.format(id="pay_does_not_exist"), headers=key)
        elif case == "validation":
            body = {"externalId": xid(), "amount": -5, "currency": "USD"}
            r = c.post(
                contract.PAYMENTS, json={**body, "paymentMethod": "pm_card_visa"}, headers=key
            )
        else:
            r = c.post(contract.PAYMENTS, content=b"{nope", headers=key)
    assert r.status_code == status
    assert error_code(r) == code
    assert r.json()["error"]["message"]
    assert_request_id(r)


@pytest.mark.parametrize(("method", "path"), [("GET", "/no_such_route"), ("DELETE", "/payments")])
def test_unrouted_requests_carry_a_request_id(
    shared_api: httpx.Client, method: str, path: str
) -> None:
    r = shared_api.request(method, path)
    assert r.status_code in (404, 405)
    assert r.headers.get(contract.REQUEST_ID_HEADER, "").startswith("req_")


def test_events_with_a_non_numeric_limit_is_a_400(
    shared_sim: Simulator, quiet_errors: None
) -> None:
    with own_client(shared_sim) as c:  # an unhandled error may reset its connection
        r = c.get(contract.EVENTS, params={"limit": "abc"})
    settle(shared_sim)
    assert r.status_code == 400
    assert_request_id(r)


# --- externalId idempotency ------------------------------------------------------------------


def test_same_external_id_and_body_replays_the_original(shared_api: httpx.Client) -> None:
    key = xid()
    first = pay(shared_api, external_id=key)
    again = pay(shared_api, external_id=key)
    assert first.status_code == 201 and again.status_code == 201
    assert contract.IDEMPOTENT_REPLAY_HEADER not in first.headers
    assert again.headers[contract.IDEMPOTENT_REPLAY_HEADER] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert assert_request_id(again) != assert_request_id(first)
    assert [p["id"] for p in rows(shared_api, "payments", external_id=key)] == [first.json()["id"]]


def test_same_external_id_with_another_body_is_a_409(shared_api: httpx.Client) -> None:
    key = xid()
    first = paid(shared_api, external_id=key, amount=1000)
    r = pay(shared_api, external_id=key, amount=2000)
    assert r.status_code == 409
    assert error_code(r) == "external_id_reused"
    assert_request_id(r)
    payments = rows(shared_api, "payments", external_id=key)
    assert [(p["id"], p["amount"]) for p in payments] == [(first["id"], 1000)]


@pytest.mark.parametrize("external_id", [None, "", 42])
def test_missing_external_id_is_a_400(shared_api: httpx.Client, external_id: Any) -> None:
    before = len(books(shared_api)["payments"])
    body: dict[str, Any] = {"amount": 1000, "currency": "USD", "paymentMethod": "pm_card_visa"}
    if external_id is not None:
        body["externalId"] = external_id
    r = shared_api.post(contract.PAYMENTS, json=body)
    assert r.status_code == 400
    assert error_code(r) == "parameter_missing"
    assert len(books(shared_api)["payments"]) == before


def test_idempotency_keys_are_separate_per_environment(
    shared_api: httpx.Client, shared_live_api: httpx.Client
) -> None:
    key = xid()
    test = pay(shared_api, external_id=key)
    live = pay(shared_live_api, external_id=key)
    assert test.status_code == 201 and live.status_code == 201
    assert contract.IDEMPOTENT_REPLAY_HEADER not in live.headers
    assert live.json()["id"] != test.json()["id"]
    assert (test.json()["environment"], live.json()["environment"]) == ("test", "live")
    replay = pay(shared_api, external_id=key)
    assert replay.json()["id"] == test.json()["id"]
    payments = rows(shared_api, "payments", external_id=key)
    assert sorted((p["env"], p["id"]) for p in payments) == [
        ("live", live.json()["id"]),
        ("test", test.json()["id"]),
    ]
    # and each key sees only its own environment's objects
    assert shared_live_api.get(contract.PAYMENT.format(id=test.json()["id"])).status_code == 404


# --- test cards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "status", "failure", "last4"),
    [
        ("pm_card_visa", "succeeded", None, "4242"),
        ("pm_card_mastercard", "succeeded", None, "4444"),
        ("pm_card_declined", "failed", "card_declined", "0002"),
        ("pm_card_insufficient_funds", "failed", "insufficient_funds", "9995"),
    ],
)
def test_test_cards(
    shared_api: httpx.Client, card: str, status: str, failure: str | None, last4: str
) -> None:
    payment = paid(shared_api, card=card)
    assert (payment["status"], payment["failureCode"]) == (status, failure)
    assert payment["card"]["last4"] == last4
    fetched = shared_api.get(contract.PAYMENT.format(id=payment["id"])).json()
    assert (fetched["status"], fetched["failureCode"]) == (status, failure)
    kind = contract.PAYMENT_FAILED if failure else contract.PAYMENT_SUCCEEDED
    assert events_of(shared_api, payment["id"]) == [kind]


def test_unknown_payment_method_is_a_400(shared_api: httpx.Client) -> None:
    key = xid()
    r = pay(shared_api, card="pm_card_nonexistent", external_id=key)
    assert r.status_code == 400
    assert error_code(r) == "payment_method_invalid"
    assert rows(shared_api, "payments", external_id=key) == []
    # nothing was remembered under the externalId: a corrected retry is a new payment
    retry = pay(shared_api, external_id=key)
    assert retry.status_code == 201
    assert contract.IDEMPOTENT_REPLAY_HEADER not in retry.headers


# --- refunds ---------------------------------------------------------------------------------


def test_two_partial_refunds_up_to_the_original_amount(shared_api: httpx.Client) -> None:
    api = shared_api
    payment = paid(api, amount=1000)
    first = refund(api, payment["id"], 400)
    assert first.status_code == 201, first.text
    assert (first.json()["object"], first.json()["paymentId"]) == ("refund", payment["id"])
    assert first.json()["amount"] == 400
    after_one = api.get(contract.PAYMENT.format(id=payment["id"])).json()
    assert after_one["status"] == "partially_refunded"
    assert after_one["amountRefunded"] == 400
    assert after_one["refunds"] == [first.json()["id"]]

    second = refund(api, payment["id"], 600)
    assert second.status_code == 201, second.text
    after_two = api.get(contract.PAYMENT.format(id=payment["id"])).json()
    assert after_two["status"] == "refunded"
    assert after_two["amountRefunded"] == 1000
    assert after_two["refunds"] == [first.json()["id"], second.json()["id"]]
    fetched = api.get(contract.REFUND_ONE.format(id=second.json()["id"])).json()
    assert (fetched["amount"], fetched["paymentId"]) == (600, payment["id"])
    assert events_of(api, payment["id"]) == [
        contract.PAYMENT_SUCCEEDED,
        contract.PAYMENT_REFUNDED,
        contract.PAYMENT_REFUNDED,
    ]


def test_refund_beyond_what_is_left_is_refused_and_books_unchanged(
    shared_api: httpx.Client,
) -> None:
    api = shared_api
    payment = paid(api, amount=1000)
    assert refund(api, payment["id"], 700).status_code == 201
    before = rows(api, "refunds", payment_id=payment["id"]), rows(api, "payments", id=payment["id"])
    r = refund(api, payment["id"], 400)
    assert r.status_code == 400
    assert error_code(r) == "amount_exceeds_refundable"
    assert_request_id(r)
    after = rows(api, "refunds", payment_id=payment["id"]), rows(api, "payments", id=payment["id"])
    assert after == before
    assert len(after[0]) == 1
    assert after[1][0]["amount_refunded"] == 700


def test_refund_of_a_failed_payment_is_a_400(shared_api: httpx.Client) -> None:
    payment = paid(shared_api, card="pm_card_declined")
    r = refund(shared_api, payment["id"])
    assert r.status_code == 400
    assert error_code(r) == "payment_not_refundable"
    assert rows(shared_api, "refunds", payment_id=payment["id"]) == []


def test_full_refund_without_amount(shared_api: httpx.Client) -> None:
    payment = paid(shared_api, amount=1234)
    r = refund(shared_api, payment["id"])
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == 1234
    fetched = shared_api.get(contract.PAYMENT.format(id=payment["id"])).json()
    assert (fetched["status"], fetched["amountRefunded"]) == ("refunded", 1234)
    nothing_left = refund(shared_api, payment["id"])
    assert nothing_left.status_code == 400
    assert error_code(nothing_left) == "amount_exceeds_refundable"


def test_refund_replays_by_external_id(shared_api: httpx.Client) -> None:
    payment = paid(shared_api)
    key = xid()
    first = refund(shared_api, payment["id"], 100, external_id=key)
    again = refund(shared_api, payment["id"], 100, external_id=key)
    assert again.headers.get(contract.IDEMPOTENT_REPLAY_HEADER) == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(rows(shared_api, "refunds", payment_id=payment["id"])) == 1


def test_refund_of_an_unknown_payment_is_a_404(shared_api: httpx.Client) -> None:
    r = refund(shared_api, "pay_unknown")
    assert r.status_code == 404
    assert error_code(r) == "resource_missing"


# --- subscriptions ---------------------------------------------------------------------------


def test_subscription_create_charges_the_first_payment(api: httpx.Client) -> None:
    r = subscribe(api)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["object"], sub["status"], sub["renewals"]) == ("subscription", "active", 0)
    assert ts(sub["currentPeriodEnd"]) > ts(sub["currentPeriodStart"])
    payments = books(api)["payments"]
    assert [(p["id"], p["subscription_id"]) for p in payments] == [
        (sub["latestPaymentId"], sub["id"])
    ]
    assert [e["type"] for e in events(api)] == [
        contract.PAYMENT_SUCCEEDED,
        contract.SUBSCRIPTION_CREATED,
    ]


def test_advance_renews_and_charges_again(api: httpx.Client) -> None:
    sub = subscribe(api).json()
    r = api.post(contract.ADVANCE.format(id=sub["id"]), json={"externalId": xid()})
    assert r.status_code == 200, r.text
    advanced = r.json()
    assert advanced["renewals"] == 1
    assert advanced["status"] == "active"
    assert advanced["latestPaymentId"] != sub["latestPaymentId"]
    assert ts(advanced["currentPeriodStart"]) == pytest.approx(ts(sub["currentPeriodEnd"]))
    payments = books(api)["payments"]
    assert len(payments) == 2
    assert {p["subscription_id"] for p in payments} == {sub["id"]}
    assert advanced["latestPaymentId"] in {p["id"] for p in payments}
    assert events(api)[-1]["type"] == contract.SUBSCRIPTION_RENEWED
    assert api.get(contract.SUBSCRIPTION.format(id=sub["id"])).json()["renewals"] == 1


def test_advance_is_idempotent_by_external_id(api: httpx.Client) -> None:
    sub, other = subscribe(api).json(), subscribe(api).json()
    path = contract.ADVANCE.format(id=sub["id"])
    k = xid()
    first = api.post(path, json={"externalId": k})
    assert first.status_code == 200, first.text
    assert first.json()["renewals"] == 1
    after_first = books(api)
    again = api.post(path, json={"externalId": k})
    assert again.status_code == 200
    assert again.headers.get(contract.IDEMPOTENT_REPLAY_HEADER) == "true"
    assert again.json()["renewals"] == 1
    assert again.json()["latestPaymentId"] == first.json()["latestPaymentId"]
    # The same id for another subscription is another request: refused.
    reused = api.post(contract.ADVANCE.format(id=other["id"]), json={"externalId": k})
    assert reused.status_code == 409 and error_code(reused) == "external_id_reused"
    missing = api.post(path, json={})
    assert missing.status_code == 400 and error_code(missing) == "parameter_missing"
    # None of those moved the clock or charged anything.
    assert books(api)["payments"] == after_first["payments"]
    assert books(api)["subscriptions"] == after_first["subscriptions"]
    # A new id is a new advance: the next period renews.
    assert api.post(path, json={"externalId": xid()}).json()["renewals"] == 2


def test_cancel_and_cancel_again(api: httpx.Client) -> None:
    sub = subscribe(api).json()
    first = api.post(contract.CANCEL.format(id=sub["id"]), json={"reason": "test"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "cancelled"
    assert first.json()["cancelledAt"]
    assert first.json()["cancellationReason"] == "test"
    again = api.post(contract.CANCEL.format(id=sub["id"]))
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"
    assert again.json()["cancelledAt"] == first.json()["cancelledAt"]
    cancelled = [e for e in events(api) if e["type"] == contract.SUBSCRIPTION_CANCELLED]
    assert len(cancelled) == 1
    r = api.post(contract.ADVANCE.format(id=sub["id"]), json={"externalId": xid()})
    assert r.status_code == 400
    assert error_code(r) == "subscription_not_active"
    assert books(api)["subscriptions"][0]["status"] == "cancelled"


def test_advance_with_a_live_key_is_a_404(live_api: httpx.Client) -> None:
    sub = subscribe(live_api).json()
    assert sub["environment"] == "live"
    r = live_api.post(contract.ADVANCE.format(id=sub["id"]), json={"externalId": xid()})
    assert r.status_code == 404
    assert_request_id(r)
    assert live_api.get(contract.SUBSCRIPTION.format(id=sub["id"])).json()["renewals"] == 0
    assert len(books(live_api)["payments"]) == 1


@pytest.mark.parametrize("interval", ["fortnight", "", "Month", 30])
def test_subscription_interval_is_validated(shared_api: httpx.Client, interval: Any) -> None:
    before = books(shared_api)
    r = subscribe(shared_api, interval=interval)
    assert r.status_code == 400
    assert error_code(r) == "parameter_invalid"
    after = books(shared_api)
    assert (after["subscriptions"], after["payments"]) == (
        before["subscriptions"],
        before["payments"],
    )


@pytest.mark.parametrize(("interval", "days"), [("day", 1), ("week", 7)])
def test_subscription_period_follows_the_interval(
    api: httpx.Client, interval: str, days: int
) -> None:
    sub = subscribe(api, interval=interval).json()
    length = ts(sub["currentPeriodEnd"]) - ts(sub["currentPeriodStart"])
    assert length == pytest.approx(days * 86400, abs=0.01)


def test_subscription_with_a_declined_card_creates_nothing(shared_api: httpx.Client) -> None:
    before = books(shared_api)
    r = subscribe(shared_api, card="pm_card_declined")
    assert r.status_code == 402
    assert error_code(r) == "card_declined"
    after = books(shared_api)
    assert (after["subscriptions"], after["payments"]) == (
        before["subscriptions"],
        before["payments"],
    )


# --- webhook delivery ------------------------------------------------------------------------


def test_delivery_is_signed_and_shaped(api: httpx.Client, sim: Simulator, hooks: Collector) -> None:
    payment = paid(api)
    delivery = hooks.wait_for_object(payment["id"])
    signatures.verify(delivery.signature, delivery.body, [sim.keys.webhook_secret])
    with pytest.raises(signatures.SignatureError):
        signatures.verify(delivery.signature, delivery.body, ["whsec_some_other_secret"])
    with pytest.raises(signatures.SignatureError):
        signatures.verify(delivery.signature, delivery.body + b" ", [sim.keys.webhook_secret])
    event = delivery.event
    assert set(event) >= {"eventId", "type", "environment", "createdAt", "data"}
    assert event["type"] == contract.PAYMENT_SUCCEEDED
    assert event["environment"] == "test"
    assert abs(ts(event["createdAt"]) - time.time()) < 60
    assert event["data"]["object"]["id"] == payment["id"]
    assert event["data"]["object"]["status"] == "succeeded"
    assert [e["eventId"] for e in events(api)] == [event["eventId"]]


def test_endpoint_gets_only_its_environment(
    api: httpx.Client, live_api: httpx.Client, hooks: Collector
) -> None:
    live = paid(live_api)
    barrier(api, hooks)
    assert live["id"] not in {d.event["data"]["object"]["id"] for d in hooks.deliveries}
    assert {d.event["environment"] for d in hooks.deliveries} == {"test"}


def test_endpoint_gets_only_the_event_types_it_asked_for(
    api: httpx.Client, make_hooks: Callable[..., Collector]
) -> None:
    hooks = make_hooks(events=[contract.PAYMENT_REFUNDED])
    payment = paid(api)
    assert refund(api, payment["id"]).status_code == 201
    hooks.wait_for_object(payment["id"], contract.PAYMENT_REFUNDED)
    outbox = books(api)["outbox"]
    assert sum(outbox.values()) == 1, outbox  # payment.succeeded was never queued for it
    assert hooks.types() == [contract.PAYMENT_REFUNDED]


def test_failed_delivery_is_retried_with_the_same_event(
    api: httpx.Client, sim: Simulator, make_hooks: Callable[..., Collector]
) -> None:
    hooks = make_hooks(answers=[500])
    payment = paid(api)
    first, second = hooks.wait_for_count(2)[:2]
    assert first.event["eventId"] == second.event["eventId"]
    assert first.event["data"]["object"]["id"] == payment["id"]
    signatures.verify(second.signature, second.body, [sim.keys.webhook_secret])
    wait_outbox(api, {"delivered": 1})
    assert len(hooks.deliveries) == 2


def test_a_repointed_endpoint_gets_its_failed_deliveries_now(tmp_path: Path) -> None:
    """A run resumed in a new process re-points its endpoint: what failed to reach the dead
    receiver is retried at the new URL at once, not at the next step of its backoff (five
    minutes here: the retry schedule is stretched 60 times, so only the re-point can bring
    the delivery within the wait)."""
    simulator = Simulator(tmp_path / "slow-retries.sqlite", time_scale=60.0)
    simulator.start()
    dead, alive = Collector(answers=[500]).start(), Collector().start()
    try:
        with own_client(simulator) as client:
            endpoint = client.post(
                "/_sim/webhook_endpoints",
                json={"url": dead.url, "events": ["*"], "environment": "test"},
            ).json()["id"]
            payment = paid(client)
            dead.wait_for_count(1)  # the first attempt failed; the next is due in 300 s
            wait_outbox(client, {"pending": 1})
            repointed = client.patch(f"/_sim/webhook_endpoints/{endpoint}", json={"url": alive.url})
            assert repointed.status_code == 200, repointed.text
            alive.wait_for_object(payment["id"], contract.PAYMENT_SUCCEEDED)
            assert len(dead.deliveries) == 1
            missing = client.patch("/_sim/webhook_endpoints/we_missing", json={"url": alive.url})
            assert missing.status_code == 404
    finally:
        for collector in (dead, alive):
            collector.request_stop()
        simulator.stop()
        dead.stop()
        alive.stop()


# --- fault switches --------------------------------------------------------------------------


def test_fault_drop(api: httpx.Client, hooks: Collector) -> None:
    set_faults(api, "drop:payment.succeeded")
    payment = paid(api)
    wait_outbox(api, {"dropped": 1})  # final: nothing will send it later
    barrier(api, hooks)  # and delivery still works for other types
    assert hooks.types() == [contract.PAYMENT_FAILED]
    listed = [e for e in events(api) if e["data"]["object"]["id"] == payment["id"]]
    assert [e["type"] for e in listed] == [contract.PAYMENT_SUCCEEDED]


def test_fault_duplicate(api: httpx.Client, sim: Simulator, hooks: Collector) -> None:
    set_faults(api, "duplicate:payment.succeeded")
    payment = paid(api)
    barrier(api, hooks)  # not duplicated: the switch names payment.succeeded only
    succeeded = [d for d in hooks.deliveries if d.event["type"] == contract.PAYMENT_SUCCEEDED]
    assert len(succeeded) == 2
    assert succeeded[0].body == succeeded[1].body
    assert succeeded[0].event["data"]["object"]["id"] == payment["id"]
    for d in succeeded:
        signatures.verify(d.signature, d.body, [sim.keys.webhook_secret])
    assert hooks.types().count(contract.PAYMENT_FAILED) == 1


def test_fault_delay(api: httpx.Client, hooks: Collector) -> None:
    set_faults(api, "delay:payment.succeeded=0.4")
    started = time.monotonic()
    payment = paid(api)
    delivery = hooks.wait_for_object(payment["id"])
    assert delivery.arrived - started >= 0.4


def test_fault_reorder(api: httpx.Client, hooks: Collector) -> None:
    set_faults(api, "reorder")
    older, newer = paid(api), paid(api)
    delivered = hooks.wait_for_count(2)
    assert [d.event["data"]["object"]["id"] for d in delivered] == [newer["id"], older["id"]]


def test_fault_fail_before_the_work(api: httpx.Client) -> None:
    set_faults(api, "fail:POST /payments=503")
    key = xid()
    r = pay(api, external_id=key)
    assert r.status_code == 503
    assert error_code(r) == "simulated_outage"
    assert_request_id(r)
    assert books(api)["payments"] == []
    retry = pay(api, external_id=key)
    assert retry.status_code == 201
    assert contract.IDEMPOTENT_REPLAY_HEADER not in retry.headers
    assert [p["id"] for p in books(api)["payments"]] == [retry.json()["id"]]


def test_fault_fail_counts_down(api: httpx.Client) -> None:
    set_faults(api, "fail:POST /payments=502x2")
    key = xid()
    assert [pay(api, external_id=key).status_code for _ in range(3)] == [502, 502, 201]


def test_fault_fail_matches_a_path_glob_only(api: httpx.Client) -> None:
    sub = subscribe(api).json()
    set_faults(api, "fail:POST /subscriptions/*/cancel")
    assert pay(api).status_code == 201  # another path: untouched
    r = api.post(contract.CANCEL.format(id=sub["id"]))
    assert r.status_code == 503
    assert books(api)["subscriptions"][0]["status"] == "active"
    assert api.post(contract.CANCEL.format(id=sub["id"])).json()["status"] == "cancelled"


def test_fault_fail_after_the_work(api: httpx.Client) -> None:
    set_faults(api, "fail-after:POST /payments")
    key = xid()
    r = pay(api, external_id=key)
    assert r.status_code == 500
    assert error_code(r) == "simulated_failure_after_work"
    payments = books(api)["payments"]
    assert len(payments) == 1 and payments[0]["external_id"] == key
    retry = pay(api, external_id=key)
    assert retry.status_code == 201
    assert retry.headers.get(contract.IDEMPOTENT_REPLAY_HEADER) == "true"
    assert retry.json()["id"] == payments[0]["id"]
    assert len(books(api)["payments"]) == 1


def test_fault_rate_is_seeded_and_repeats(api: httpx.Client) -> None:
    statuses = []
    for _ in range(2):  # the same specs again: the RNG starts over from the seed
        set_faults(api, "seed:7", "rate:POST /payments=0.5")
        statuses.append([pay(api).status_code for _ in range(24)])
    rng = random.Random(7)
    assert statuses[0] == statuses[1] == [503 if rng.random() < 0.5 else 201 for _ in range(24)]
    assert {503, 201} <= set(statuses[0])
    # A 503 did nothing: the books hold exactly the answered payments.
    assert len(books(api)["payments"]) == 2 * statuses[0].count(201)
    faults = api.get("/_sim/faults").json()
    assert faults["api_faults"][0]["hits"] == statuses[1].count(503)


def test_fault_rate_after_moves_the_money_and_loses_the_answer(api: httpx.Client) -> None:
    set_faults(api, "rate-after:POST /payments=1")
    key = xid()
    r = pay(api, external_id=key)
    assert r.status_code == 500
    assert error_code(r) == "simulated_failure_after_work"
    payments = books(api)["payments"]
    assert [(p["external_id"], p["status"]) for p in payments] == [(key, "succeeded")]
    again = pay(api, external_id=key)  # every call, not a count: still 500, still one payment
    assert again.status_code == 500
    assert len(books(api)["payments"]) == 1


def test_fault_garble_answers_a_string_error(api: httpx.Client) -> None:
    payment = paid(api)
    set_faults(api, "garble:POST /refund")
    r = refund(api, payment["id"])
    assert r.status_code == 400
    assert r.json() == {"error": "boom"}
    assert r.headers[contract.REQUEST_ID_HEADER].startswith("req_")
    assert books(api)["refunds"] == []  # nothing done
    assert refund(api, payment["id"]).status_code == 201  # used up


def test_a_bad_rate_spec_is_a_400_and_keeps_the_old_faults(api: httpx.Client) -> None:
    set_faults(api, "rate:POST /payments=0.5")
    r = api.put("/_sim/faults", json={"faults": ["rate:POST /payments=2"]})
    assert r.status_code == 400
    assert "from 0 to 1" in r.json()["error"]["message"]
    assert api.get("/_sim/faults").json()["faults"] == ["rate:POST /payments=0.5"]


def test_invalid_fault_spec_is_a_400_and_keeps_the_old_faults(api: httpx.Client) -> None:
    set_faults(api, "drop:payment.refunded")
    r = api.put("/_sim/faults", json={"faults": ["explode:everything"]})
    assert r.status_code == 400
    assert error_code(r) == "parameter_invalid"
    assert api.get("/_sim/faults").json()["faults"] == ["drop:payment.refunded"]
    set_faults(api)
    assert api.get("/_sim/faults").json()["faults"] == []


def test_fault_list_that_is_not_a_list_is_a_400(shared_sim: Simulator, quiet_errors: None) -> None:
    with own_client(shared_sim) as c:  # an unhandled error may reset its connection
        r = c.put("/_sim/faults", json={"faults": 5})
    settle(shared_sim)
    assert r.status_code == 400


def test_control_routes_need_a_key(shared_sim: Simulator) -> None:
    url = f"http://127.0.0.1:{shared_sim.port}"
    r = httpx.put(f"{url}/_sim/faults", json={"faults": ["reorder"]})
    assert r.status_code == 401
    assert shared_sim.faults.specs == []
    assert httpx.get(f"{url}/_sim/books").status_code == 401


# --- event paging ----------------------------------------------------------------------------


def test_events_paging_after(api: httpx.Client, live_api: httpx.Client) -> None:
    ids = [paid(api)["id"] for _ in range(3)]
    paid(live_api)  # another environment: never listed for the test key
    listed = events(api)
    assert [e["data"]["object"]["id"] for e in listed] == ids
    assert {e["environment"] for e in listed} == {"test"}
    first, second, third = (e["eventId"] for e in listed)
    assert [e["eventId"] for e in events(api, after=first)] == [second, third]
    assert [e["eventId"] for e in events(api, after=third)] == []
    assert [e["eventId"] for e in events(api, after=first, limit=1)] == [second]
    assert len(events(live_api)) == 1


def test_listed_event_matches_the_delivered_event(api: httpx.Client, hooks: Collector) -> None:
    payment = paid(api)
    delivered = hooks.wait_for_object(payment["id"], contract.PAYMENT_SUCCEEDED)
    assert refund(api, payment["id"]).status_code == 201
    listed = next(e for e in events(api) if e["eventId"] == delivered.event["eventId"])
    assert listed["data"]["object"] == delivered.event["data"]["object"]


# --- the standalone process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Standalone:
    """`python -m rehearsal simulator` as a child process, its stdout read on a thread."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINTCASH_")}
        env["REHEARSAL_STATE_DIR"] = str(tmp_path / "state")
        self._stderr = open(tmp_path / f"stderr-{uuid.uuid4().hex[:6]}.txt", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rehearsal", "simulator", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._eof = False
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def exports(self, timeout: float = 10.0) -> dict[str, str]:
        """The `export NAME=value` lines, once the banner is complete (`# books:` is last)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(line.startswith("# books:") for line in self.lines):
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    raise AssertionError(f"no banner; stdout so far: {self.lines}")
                self._cond.wait(remaining)
            pairs = [ln.removeprefix("export ").split("=", 1) for ln in self.lines]
            return {p[0]: p[1] for p in pairs if len(p) == 2 and p[0].isupper()}

    def wait_ready(self, base_url: str, timeout: float = 10.0) -> None:
        """Poll /_sim/info until it answers; the pause between tries waits on the process."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{base_url}/_sim/info", timeout=1.0)
                if r.status_code == 200 and r.json()["simulator"] == "rehearsal":
                    return
            except httpx.TransportError:
                pass
            try:
                code = self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the simulator exited early with {code}")
        raise AssertionError(f"the simulator did not answer on {base_url} within {timeout}s")

    def terminate(self, timeout: float = 10.0) -> float:
        """SIGTERM; return how long it took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        return time.monotonic() - started

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Callable[..., Standalone]]:
    started: list[Standalone] = []

    def start(*args: str) -> Standalone:
        process = Standalone(tmp_path, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def test_standalone_simulator_survives_a_restart(
    tmp_path: Path, standalone: Callable[..., Standalone]
) -> None:
    db = tmp_path / "books.sqlite"
    port = free_port()
    first = standalone("--port", str(port), "--db", str(db))
    exports = first.exports()
    base = exports["MINTCASH_API_BASE"]
    key = exports["MINTCASH_SECRET_KEY"]
    assert base == f"http://127.0.0.1:{port}"
    assert key.startswith("sk_test_")
    assert exports["MINTCASH_WEBHOOK_SECRET"].startswith("whsec_")
    first.wait_ready(base)
    with httpx.Client(base_url=base, headers=auth(key), timeout=10) as client:
        payment = paid(client)
    took = first.terminate()
    assert took < 5.0
    assert first.proc.returncode == 0

    port = free_port()
    second = standalone("--port", str(port), "--db", str(db))
    again = second.exports()
    assert again["MINTCASH_SECRET_KEY"] == key
    assert again["MINTCASH_WEBHOOK_SECRET"] == exports["MINTCASH_WEBHOOK_SECRET"]
    base = again["MINTCASH_API_BASE"]
    second.wait_ready(base)
    with httpx.Client(base_url=base, headers=auth(key), timeout=10) as client:
        fetched = client.get(contract.PAYMENT.format(id=payment["id"]))
        assert fetched.status_code == 200
        assert fetched.json()["status"] == "succeeded"
        assert [p["id"] for p in books(client)["payments"]] == [payment["id"]]
    assert second.terminate() < 5.0


def test_standalone_port_zero_prints_the_real_port(
    tmp_path: Path, standalone: Callable[..., Standalone]
) -> None:
    process = standalone("--port", "0", "--db", str(tmp_path / "books.sqlite"))
    base = process.exports()["MINTCASH_API_BASE"]
    assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
    process.wait_ready(base)
    assert process.terminate() < 5.0
    assert process.proc.returncode == 0


def unattempted(db: Path) -> int:
    with sqlite3.connect(db) as conn:  # WAL: a reader beside the simulator's writer
        (count,) = conn.execute("SELECT COUNT(*) FROM outbox WHERE attempts = 0").fetchone()
    return int(count)


def test_a_killed_standalone_simulator_restarts_with_its_books_endpoints_and_outbox(
    tmp_path: Path, standalone: Callable[..., Standalone], _collectors: list[Collector]
) -> None:
    """SIGKILL, then the same port and db: books, keys, webhook endpoints, idempotency and
    pending deliveries are all still there, so a client carries on where it was."""
    db, port = tmp_path / "books.sqlite", free_port()
    first = standalone("--port", str(port), "--db", str(db))  # time scale 1: retries 5 s out
    exports = first.exports()
    base, key = exports["MINTCASH_API_BASE"], exports["MINTCASH_SECRET_KEY"]
    first.wait_ready(base)
    dead, alive = Collector(answers=[500] * 50).start(), Collector().start()
    _collectors.extend([dead, alive])
    with httpx.Client(base_url=base, headers=auth(key), timeout=10) as client:
        r = client.post(
            "/_sim/webhook_endpoints",
            json={"url": dead.url, "events": ["*"], "environment": "test"},
        )
        endpoint = r.json()["id"]
        charge_key = xid()
        payment = paid(client, external_id=charge_key)
        dead.wait_for_count(1)  # refused: its retry is pending when the simulator dies
        sub = subscribe(client).json()
        advance = client.post(contract.ADVANCE.format(id=sub["id"]), json={"externalId": xid()})
        assert advance.json()["renewals"] == 1
        before = books(client)
    # Two payment.succeeded, subscription.created, the renewal's payment.succeeded and
    # subscription.renewed: all refused once, so all wait out their backoff.
    assert before["outbox"] == {"pending": 5}
    deadline = time.monotonic() + WAIT
    while unattempted(db):  # the deliverer records each 500 just after it arrives
        assert time.monotonic() < deadline, "deliveries not attempted"
    first.proc.kill()
    assert first.proc.wait(timeout=10) == -signal.SIGKILL

    second = standalone("--port", str(port), "--db", str(db))
    assert second.exports() == exports  # same URL, same keys, same webhook secret
    second.wait_ready(base)
    with httpx.Client(base_url=base, headers=auth(key), timeout=10) as client:
        after = books(client)
        for table in ("payments", "refunds", "subscriptions", "endpoints"):
            assert after[table] == before[table], table
        assert after["outbox"] == {"pending": 5}
        # The client carries on: its key replays the original payment ...
        replay = pay(client, external_id=charge_key)
        assert replay.headers.get(contract.IDEMPOTENT_REPLAY_HEADER) == "true"
        assert replay.json()["id"] == payment["id"]
        fetched = client.get(contract.SUBSCRIPTION.format(id=sub["id"])).json()
        assert (fetched["renewals"], fetched["status"]) == (1, "active")
        # ... and its re-pointed endpoint gets what was pending, signed with the same secret.
        repointed = client.patch(f"/_sim/webhook_endpoints/{endpoint}", json={"url": alive.url})
        assert repointed.status_code == 200, repointed.text
        delivered = alive.wait_for_object(payment["id"], contract.PAYMENT_SUCCEEDED)
        assert delivered.event["eventId"] == dead.deliveries[0].event["eventId"]
        signatures.verify(delivered.signature, delivered.body, [exports["MINTCASH_WEBHOOK_SECRET"]])
        alive.wait_for_count(5)
        assert refund(client, payment["id"]).status_code == 201
        alive.wait_for_object(payment["id"], contract.PAYMENT_REFUNDED)
        wait_outbox(client, {"delivered": 6})
    assert second.terminate() < 5.0


def test_standalone_fault_switches_include_seeded_rates(
    tmp_path: Path, standalone: Callable[..., Standalone]
) -> None:
    process = standalone(
        "--port", "0", "--db", str(tmp_path / "books.sqlite"),
        "--fault", "seed:5", "--fault", "rate:POST /payments=0.5",
    )  # fmt: skip
    exports = process.exports()
    base, key = exports["MINTCASH_API_BASE"], exports["MINTCASH_SECRET_KEY"]
    process.wait_ready(base)
    rng = random.Random(5)
    with httpx.Client(base_url=base, headers=auth(key), timeout=10) as client:
        statuses = [pay(client).status_code for _ in range(20)]
        assert statuses == [503 if rng.random() < 0.5 else 201 for _ in range(20)]
        assert len(books(client)["payments"]) == statuses.count(201)
    assert process.terminate() < 5.0


def test_the_simulator_finds_each_dialect_by_its_module_name() -> None:
    """A provider's dialect is one module, rehearsal/simulator/<name>_dialect.py with a
    DIALECT: no list elsewhere to edit, and every registered provider has one."""
    from rehearsal import providers
    from rehearsal.simulator.server import dialect_names, load_dialect, speaks

    assert set(providers.names()) <= set(dialect_names())
    for name in dialect_names():
        dialect = load_dialect(name)
        assert callable(dialect.app) and callable(dialect.signature_headers)
    assert not speaks("nosuchpay")
    with pytest.raises(KeyError):
        load_dialect("nosuchpay")


class _Gate(Collector):
    """Holds the first delivery's answer until a second delivery arrives (or WAIT passes):
    with deliveries sent one at a time, the second never comes while the first is held."""

    def __init__(self) -> None:
        super().__init__()
        self.overtaken: bool | None = None
        self._second: asyncio.Event | None = None

    async def _receive(self, request: Request) -> Response:
        if self._second is None:
            self._second = asyncio.Event()
            answer = await super()._receive(request)
            try:
                await asyncio.wait_for(self._second.wait(), WAIT)
                overtaken = True
            except TimeoutError:
                overtaken = False
            with self._cond:
                self.overtaken = overtaken
                self._cond.notify_all()
            return answer
        self._second.set()
        return await super()._receive(request)


def test_events_about_different_objects_are_delivered_at_once(
    api: httpx.Client, _collectors: list[Collector]
) -> None:
    gate = _Gate().start()
    _collectors.append(gate)
    r = api.post(
        "/_sim/webhook_endpoints",
        json={"url": gate.url, "events": ["*"], "environment": "test"},
    )
    assert r.status_code == 201, r.text
    assert subscribe(api).status_code == 201  # a payment's event and a subscription's
    # Both recorded (the second is recorded just after it releases the first), and the
    # first's verdict known: overtaken while held, or not.
    got = gate.wait_until(lambda d: gate.overtaken is not None and len(d) >= 2, 3 * WAIT)
    assert gate.overtaken is True
    assert len(got) == 2
    gate.request_stop()
