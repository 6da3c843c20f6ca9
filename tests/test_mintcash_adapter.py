"""The MintCash adapter against the simulator over real HTTP on 127.0.0.1.

ProviderObjects with request ids, ApiCall records without headers or keys, retries that
lean on externalId idempotency (the books show one payment however often a call was
tried), 4xx answers as ProviderErrors, test cards, and webhook verification of a body the
simulator really delivered. The secret key never appears in any exception's text.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rehearsal.errors import ProviderError, RehearsalError, UsageError
from rehearsal.net.server import ServerThread
from rehearsal.providers import signatures
from rehearsal.providers.base import ApiCall, Callbacks, MalformedEvent
from rehearsal.providers.mintcash import contract
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.session.sim_control import SimulatorControl
from rehearsal.simulator.server import Simulator


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def calls(mintcash_calls: list[ApiCall]) -> list[ApiCall]:
    """Every ApiCall the adapter reports."""
    return mintcash_calls


@pytest.fixture
def control(sim: Simulator, sim_url: str) -> Iterator[SimulatorControl]:
    ctl = SimulatorControl(sim_url, sim.keys.test_secret)
    yield ctl
    ctl.close()


def pay(mintcash: MintCash, idempotency_key: str | None = None, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"amount": 1500, "currency": "USD", "card": "pm_card_visa"}
    return mintcash.create_payment(idempotency_key=idempotency_key or key(), **{**args, **kwargs})


def assert_secret_free(exc: BaseException, *secrets: str) -> None:
    """No secret in any text a user or a log could see of this exception."""
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, RehearsalError):
        texts += [exc.message, exc.hint or ""]
    for secret in secrets:
        for text in texts:
            assert secret not in text
    for text in texts:
        assert "Bearer" not in text


# --- objects and request ids -----------------------------------------------------------------


def test_create_payment_returns_an_object_with_its_request_id(
    mintcash: MintCash, calls: list[ApiCall]
) -> None:
    payment = pay(mintcash, amount=1500, description="adapter test")
    assert (payment.kind, payment.status, payment.amount) == ("payment", "succeeded", 1500)
    assert (payment.currency, payment.environment) == ("USD", "test")
    assert payment.card_last4 == "4242"
    assert payment.id.startswith("pay_")
    assert payment.request_id and payment.request_id.startswith("req_")
    assert [(c.method, c.path, c.status, c.request_id) for c in calls] == [
        ("POST", contract.PAYMENTS, 201, payment.request_id)
    ]
    assert calls[0].duration_ms >= 0 and calls[0].idempotent_replay is False


def test_declined_card_is_a_failed_payment_not_an_error(mintcash: MintCash) -> None:
    payment = pay(mintcash, card=mintcash.resolve_card("insufficient_funds"))
    assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")


def test_refund_and_retrieve(mintcash: MintCash, calls: list[ApiCall]) -> None:
    payment = pay(mintcash, amount=1000)
    part = mintcash.refund(idempotency_key=key(), payment_id=payment.id, amount=300)
    assert (part.kind, part.payment_id, part.amount) == ("refund", payment.id, 300)
    assert part.request_id and part.request_id != payment.request_id
    rest = mintcash.refund(idempotency_key=key(), payment_id=payment.id, amount=None)
    assert rest.amount == 700
    fetched = mintcash.retrieve("payment", payment.id)
    assert (fetched.status, fetched.amount_refunded) == ("refunded", 1000)
    assert fetched.refund_ids == (part.id, rest.id)
    assert mintcash.retrieve("refund", part.id).amount == 300
    assert [c.path for c in calls][-2:] == [
        contract.PAYMENT.format(id=payment.id),
        contract.REFUND_ONE.format(id=part.id),
    ]
    assert all(c.request_id and c.request_id.startswith("req_") for c in calls)


def test_subscribe_advance_cancel(
    mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    sub = mintcash.subscribe(
        idempotency_key=key(), amount=900, currency="USD", card="pm_card_visa", interval="month"
    )
    assert (sub.kind, sub.status, sub.renewals) == ("subscription", "active", 0)
    first_payment = sub.payment_id
    assert first_payment and first_payment.startswith("pay_")
    assert mintcash.advance_clock(sub.id, idempotency_key=key()) is True
    assert calls[-1].path == contract.ADVANCE.format(id=sub.id) and calls[-1].status == 200
    renewed = mintcash.retrieve("subscription", sub.id)
    assert renewed.renewals == 1
    assert renewed.payment_id not in (None, first_payment)
    cancelled = mintcash.cancel(subscription_id=sub.id, reason="adapter test")
    assert cancelled.status == "cancelled" and cancelled.request_id
    assert mintcash.cancel(subscription_id=sub.id).status == "cancelled"
    assert [s["status"] for s in control.books()["subscriptions"]] == ["cancelled"]
    assert len(control.books()["payments"]) == 2


def test_a_retried_advance_after_a_lost_answer_renews_once(
    mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    sub = mintcash.subscribe(
        idempotency_key=key(), amount=300, currency="USD", card="pm_card_visa", interval="month"
    )
    control.set_faults(["fail-after:POST /test_helpers/subscriptions/*/advance"])
    assert mintcash.advance_clock(sub.id, idempotency_key=key()) is True
    advances = [c for c in calls if c.path == contract.ADVANCE.format(id=sub.id)]
    assert [(c.status, c.idempotent_replay) for c in advances] == [(500, False), (200, True)]
    books = control.books()
    assert [s["renewals"] for s in books["subscriptions"]] == [1]
    # The first period and one renewal: 600 charged, not 900.
    assert sum(p["amount"] for p in books["payments"]) == 600


def test_find_by_idempotency_key_says_what_a_key_made_and_nothing_else(
    mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    paid_key, sub_key, unused = key(), key(), key()
    payment = pay(mintcash, paid_key, amount=700)
    sub = mintcash.subscribe(
        idempotency_key=sub_key, amount=900, currency="USD", card="pm_card_visa", interval="month"
    )
    found = mintcash.find_by_idempotency_key("payment", paid_key)
    assert found is not None and (found.id, found.amount) == (payment.id, 700)
    assert found.request_id and found.request_id.startswith("req_")
    found_sub = mintcash.find_by_idempotency_key("subscription", sub_key)
    assert found_sub is not None and found_sub.id == sub.id
    assert mintcash.find_by_idempotency_key("payment", unused) is None
    assert mintcash.find_by_idempotency_key("subscription", paid_key) is None  # kinds apart
    assert mintcash.find_by_idempotency_key("payment", sub_key) is None
    assert (
        calls[-1].method == "GET" and calls[-1].path == contract.PAYMENTS
    )  # the route; the query stays out of the ledger
    # A lookup moves no money: the books still hold one payment and one subscription's.
    assert len(control.books()["payments"]) == 2


def test_a_lookup_in_the_other_environment_finds_nothing(
    sim: Simulator, sim_url: str, mintcash: MintCash
) -> None:
    used = key()
    pay(mintcash, used)
    live = MintCash(
        api_base=sim_url,
        secret_key=sim.keys.live_secret,
        webhook_secrets=[sim.keys.webhook_secret],
        environment="live",
        backoff=0.01,
    )
    try:
        assert live.find_by_idempotency_key("payment", used) is None
    finally:
        live.close()


def test_advance_clock_in_live_mode_makes_no_call(sim: Simulator, sim_url: str) -> None:
    seen: list[ApiCall] = []
    live = MintCash(
        api_base=sim_url,
        secret_key=sim.keys.live_secret,
        webhook_secrets=[sim.keys.webhook_secret],
        environment="live",
        observer=Callbacks(on_call=seen.append),
    )
    try:
        assert live.can_advance_clock is False
        assert live.advance_clock("sub_anything", idempotency_key=key()) is False
        assert seen == []
    finally:
        live.close()


# --- ApiCall records -------------------------------------------------------------------------


def test_api_calls_carry_no_header_or_key(
    sim: Simulator, mintcash: MintCash, calls: list[ApiCall]
) -> None:
    payment = pay(mintcash)
    mintcash.retrieve("payment", payment.id)
    with pytest.raises(ProviderError):
        mintcash.retrieve("payment", "pay_missing")
    assert [c.status for c in calls] == [201, 200, 404]
    assert {f.name for f in dataclasses.fields(ApiCall)} == {
        "method",
        "path",
        "status",
        "request_id",
        "duration_ms",
        "idempotent_replay",
    }
    for call in calls:
        text = repr(call) + json.dumps(dataclasses.asdict(call))
        for secret in (sim.keys.test_secret, sim.keys.webhook_secret, "Bearer", "Authorization"):
            assert secret not in text
        assert call.path.startswith("/") and "://" not in call.path


def test_same_idempotency_key_replays_the_object(
    mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    k = key()
    first, again = pay(mintcash, k), pay(mintcash, k)
    assert again.id == first.id
    assert [c.idempotent_replay for c in calls] == [False, True]
    assert len(control.books()["payments"]) == 1


# --- retries ---------------------------------------------------------------------------------


def test_transient_failures_are_retried_to_one_payment(
    mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    control.set_faults(["fail:POST /payments=503x2"])
    payment = pay(mintcash)
    assert payment.status == "succeeded"
    assert [c.status for c in calls] == [503, 503, 201]
    assert payment.request_id == calls[-1].request_id
    assert [p["id"] for p in control.books()["payments"]] == [payment.id]


def test_lost_answer_is_retried_into_an_idempotent_replay(
    mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    control.set_faults(["fail-after:POST /payments"])
    payment = pay(mintcash)
    assert [(c.status, c.idempotent_replay) for c in calls] == [(500, False), (201, True)]
    assert [p["id"] for p in control.books()["payments"]] == [payment.id]


def test_persistent_failure_gives_up_with_a_provider_error(
    sim: Simulator, mintcash: MintCash, calls: list[ApiCall], control: SimulatorControl
) -> None:
    control.set_faults(["fail:POST /payments=503x9"])
    with pytest.raises(ProviderError) as caught:
        pay(mintcash)
    exc = caught.value
    assert exc.exit_code == 3
    assert exc.status == 503
    assert exc.request_id == calls[-1].request_id
    assert "POST /payments" in exc.message
    assert [c.status for c in calls] == [503] * 4
    assert_secret_free(exc, sim.keys.test_secret, sim.keys.live_secret, sim.keys.webhook_secret)
    assert control.books()["payments"] == []


def test_network_errors_give_up_with_a_provider_error(sim: Simulator) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    seen: list[ApiCall] = []
    adapter = MintCash(
        api_base=f"http://127.0.0.1:{closed}",
        secret_key=sim.keys.test_secret,
        webhook_secrets=[],
        environment="test",
        attempts=2,
        backoff=0.01,
        observer=Callbacks(on_call=seen.append),
    )
    try:
        with pytest.raises(ProviderError) as caught:
            pay(adapter)
    finally:
        adapter.close()
    assert caught.value.status is None
    assert [c.status for c in seen] == [None, None]
    assert_secret_free(caught.value, sim.keys.test_secret)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("over-refund", 400, "amount_exceeds_refundable"),
        ("reused key", 409, "external_id_reused"),
        ("declined subscription", 402, "card_declined"),
        ("unknown object", 404, "resource_missing"),
        ("bad interval", 400, "parameter_invalid"),
    ],
)
def test_refusals_are_provider_errors_with_code_and_request_id(
    sim: Simulator, mintcash: MintCash, calls: list[ApiCall], case: str, status: int, code: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        if case == "over-refund":
            payment = pay(mintcash, amount=500)
            mintcash.refund(idempotency_key=key(), payment_id=payment.id, amount=501)
        elif case == "reused key":
            k = key()
            pay(mintcash, k, amount=500)
            pay(mintcash, k, amount=600)
        elif case == "declined subscription":
            mintcash.subscribe(
                idempotency_key=key(),
                amount=900,
                currency="USD",
                card="pm_card_declined",
                interval="month",
            )
        elif case == "unknown object":
            mintcash.retrieve("subscription", "sub_missing")
        else:
            mintcash.subscribe(
                idempotency_key=key(),
                amount=900,
                currency="USD",
                card="pm_card_visa",
                interval="fortnight",
            )
    exc = caught.value
    assert (exc.status, exc.code, exc.exit_code) == (status, code, 3)
    assert exc.request_id and exc.request_id == calls[-1].request_id
    assert exc.request_id in exc.message and code in exc.message
    assert calls[-1].status == status
    assert [c.status for c in calls].count(status) == 1  # a 4xx is not retried
    assert_secret_free(exc, sim.keys.test_secret)


def test_a_wrong_key_is_refused_and_not_echoed(sim: Simulator, sim_url: str) -> None:
    wrong = "sk_test_wrong_" + uuid.uuid4().hex
    adapter = MintCash(
        api_base=sim_url, secret_key=wrong, webhook_secrets=[], environment="test", backoff=0.01
    )
    try:
        with pytest.raises(ProviderError) as caught:
            pay(adapter)
    finally:
        adapter.close()
    assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")
    assert_secret_free(caught.value, wrong, sim.keys.test_secret)


# --- cards -----------------------------------------------------------------------------------


def test_resolve_card() -> None:
    test = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[],
        environment="test",
    )
    live = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_live_x",
        webhook_secrets=[],
        environment="live",
    )
    try:
        for name, card in contract.TEST_CARDS.items():
            assert test.resolve_card(name) == card.token
        assert test.resolve_card("pm_custom_token") == "pm_custom_token"
        assert live.resolve_card("pm_custom_token") == "pm_custom_token"
        with pytest.raises(UsageError) as unknown:
            test.resolve_card("amex")
        assert unknown.value.exit_code == 2 and unknown.value.hint
        with pytest.raises(UsageError) as in_live:
            live.resolve_card("visa")
        assert "live" in in_live.value.message
        assert "4242424242424242" not in in_live.value.message + (in_live.value.hint or "")
    finally:
        test.close()
        live.close()


# --- webhooks --------------------------------------------------------------------------------


class Inbox:
    """A webhook endpoint on 127.0.0.1 that keeps the raw (headers, body) of each delivery."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._cond = threading.Condition()

        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._cond:
                self.received.append((dict(request.headers), body))
                self._cond.notify_all()
            return Response(status_code=200)

        self.server = ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))

    def wait_for(self, object_id: str, timeout: float = 5.0) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for headers, body in self.received:
                    if json.loads(body)["data"]["object"]["id"] == object_id:
                        return headers, body
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no delivery for {object_id} within {timeout}s"
                self._cond.wait(remaining)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.server.start()
    yield box
    box.server.stop()


def test_verify_webhook_on_a_delivered_body(
    sim: Simulator,
    sim_url: str,
    mintcash: MintCash,
    control: SimulatorControl,
    inbox: Inbox,
) -> None:
    control.register_webhook(f"{inbox.server.url}/hook", ["*"], "test")
    payment = pay(mintcash)
    headers, body = inbox.wait_for(payment.id)

    event = mintcash.verify_webhook(headers, body)
    assert (event.type, event.provider_type) == (contract.PAYMENT_SUCCEEDED,) * 2
    assert event.environment == "test"
    assert event.event_id == json.loads(body)["eventId"]
    assert event.object is not None
    assert (event.object.id, event.object.status, event.object.amount) == (
        payment.id,
        "succeeded",
        1500,
    )
    # header names are case-insensitive
    upper = {k.upper(): v for k, v in headers.items()}
    assert mintcash.verify_webhook(upper, body).event_id == event.event_id

    with pytest.raises(signatures.SignatureError):
        mintcash.verify_webhook(headers, body.replace(b"1500", b"1501"))
    other = MintCash(
        api_base=sim_url,
        secret_key=sim.keys.test_secret,
        webhook_secrets=["whsec_not_the_simulators"],
        environment="test",
    )
    try:
        with pytest.raises(signatures.SignatureError) as caught:
            other.verify_webhook(headers, body)
        assert sim.keys.webhook_secret not in str(caught.value)
    finally:
        other.close()
    # correctly signed, but not an event: refused after the signature check
    junk = b'{"hello":"world"}'
    signed = {contract.SIGNATURE_HEADER: signatures.sign(sim.keys.webhook_secret, junk)}
    with pytest.raises(MalformedEvent):
        mintcash.verify_webhook(signed, junk)
