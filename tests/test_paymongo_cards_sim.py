"""PayMongo's documented test cards and inputs, through the simulator's HTTP API as any
client would send them: payment intent, payment method, attach (and the 3-D Secure page).

The expected outcomes are written here from PayMongo's testing pages
(https://developers.paymongo.com/docs/payment-acceptance-testing,
https://developers.paymongo.com/docs/testing, .../docs/card-integration-test-cases), not read
from the simulator's table, so a wrong row there fails here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rehearsal.simulator.paymongo.cards import TEST_CARD_BY_NUMBER
from rehearsal.simulator.paymongo.dialect import PayMongoDialect
from rehearsal.simulator.server import Simulator

PAID, THREE_DS_PAID = "paid", "3ds_paid"
# number -> (outcome, sub_code). "declined": at attach, no redirect; "3ds_declined": after
# the cardholder authorized on the 3-D Secure page.
DOCUMENTED: dict[str, tuple[str, str | None]] = {
    "4343434343434345": (PAID, None),
    "4571736000000075": (PAID, None),
    "4009930000001421": (PAID, None),
    "4404520000001439": (PAID, None),
    "5555444444444457": (PAID, None),
    "5123000000000002": (PAID, None),
    "5455590000000009": (PAID, None),
    "5339080000000003": (PAID, None),
    "5240050000001440": (PAID, None),
    "5577510000001446": (PAID, None),
    "5123000000000001": (PAID, None),  # 3-D Secure "supported but optional"
    "4120000000000007": (THREE_DS_PAID, None),
    "4230000000000004": ("declined", "generic_decline"),  # "before authentication"
    "5234000000000106": ("3ds_declined", "generic_decline"),  # "after successful auth"
    "4200000000000018": ("declined", "card_expired"),
    "4300000000000017": ("declined", "cvc_invalid"),
    "4400000000000016": ("declined", "generic_decline"),
    "4028220000001457": ("declined", "generic_decline"),
    "4111111111111111": ("declined", "generic_decline"),
    "4500000000000015": ("declined", "fraudulent"),
    "5100000000000198": ("declined", "insufficient_funds"),
    "5240460000001466": ("declined", "insufficient_funds"),
    "5200000000000197": ("declined", "processor_blocked"),
    "5300000000000196": ("declined", "lost_card"),
    "5483530000001462": ("declined", "lost_card"),
    "5400000000000195": ("declined", "stolen_card"),
    "5500000000000194": ("declined", "processor_unavailable"),
    "4600000000000014": ("declined", "blocked"),
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    path: Path = tmp_path_factory.mktemp("cards") / "paymongo.sqlite"
    simulator = Simulator(path, dialect="paymongo", time_scale=0.01)
    # One simulator for the module's many quick calls: PayMongo's 100 requests per second
    # (tested in tests/test_paymongo_adapter.py) would otherwise refuse some of them.
    assert isinstance(simulator.dialect, PayMongoDialect)
    simulator.dialect.rate_limit = 100_000
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{sim.port}", auth=(sim.keys.test_secret, "")
    ) as client:
        yield client


def envelope(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"attributes": attributes}}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def intent(api: httpx.Client, amount: int = 10000) -> str:
    body = {"amount": amount, "currency": "PHP", "payment_method_allowed": ["card"]}
    return str(ok(api.post("/v1/payment_intents", json=envelope(body)))["id"])


def method(api: httpx.Client, number: str, exp_year: int = 30, **extra: Any) -> httpx.Response:
    details = {"card_number": number, "exp_month": 12, "exp_year": exp_year, "cvc": "123"}
    return api.post("/v1/payment_methods", json=envelope({"type": "card", "details": details}))


def attach(api: httpx.Client, number: str) -> tuple[str, dict[str, Any]]:
    intent_id = intent(api)
    method_id = ok(method(api, number))["id"]
    body = envelope({"payment_method": method_id, "return_url": "https://example.com/done"})
    return intent_id, ok(api.post(f"/v1/payment_intents/{intent_id}/attach", json=body))


def test_the_simulator_knows_exactly_the_documented_cards() -> None:
    assert set(TEST_CARD_BY_NUMBER) == set(DOCUMENTED)


@pytest.mark.parametrize(("number", "outcome"), sorted(DOCUMENTED.items()))
def test_each_documented_card_has_its_documented_outcome(
    api: httpx.Client, number: str, outcome: tuple[str, str | None]
) -> None:
    kind, sub_code = outcome
    intent_id, attached = attach(api, number)
    a = attached["attributes"]
    if kind in (THREE_DS_PAID, "3ds_declined"):
        assert a["status"] == "awaiting_next_action" and a["payments"] == []
        page = a["next_action"]["redirect"]["url"]
        assert httpx.post(page, data={"action": "authorize"}).status_code == 200
        a = ok(api.get(f"/v1/payment_intents/{intent_id}"))["attributes"]
    else:
        assert a["next_action"] is None
    payments = [p["attributes"] for p in a["payments"]]
    if kind in (PAID, THREE_DS_PAID):
        assert a["status"] == "succeeded" and a["last_payment_error"] is None
        assert [p["status"] for p in payments] == ["paid"]
        return
    # "A payment with a failed status will still be created"; the intent waits for another
    # payment method and says why (card-integration-test-cases).
    assert a["status"] == "awaiting_payment_method"
    assert a["last_payment_error"]["sub_code"] == sub_code
    assert [(p["status"], p["sub_code"]) for p in payments] == [("failed", sub_code)]


def test_failing_the_3ds_page_fails_the_payment(api: httpx.Client) -> None:
    intent_id, attached = attach(api, "4120000000000007")
    page = attached["attributes"]["next_action"]["redirect"]["url"]
    assert httpx.post(page, data={"action": "fail"}).status_code == 200
    a = ok(api.get(f"/v1/payment_intents/{intent_id}"))["attributes"]
    assert a["status"] == "awaiting_payment_method" and a["payments"] == []


def test_an_unknown_card_number_is_refused(api: httpx.Client) -> None:
    r = method(api, "4242424242424242")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "parameter_format_invalid"


# --- inputs -------------------------------------------------------------------------------


def test_two_and_four_digit_expiry_years(api: httpx.Client) -> None:
    """PayMongo's own payment method example answers `"exp_year": 24`
    (https://developers.paymongo.com/reference/the-payment-method-object)."""
    this_year = time.gmtime().tm_year
    two = ok(method(api, "4343434343434345", exp_year=(this_year + 5) % 100))
    assert two["attributes"]["details"]["exp_year"] == (this_year + 5) % 100
    assert ok(method(api, "4343434343434345", exp_year=this_year + 5))
    for past in (this_year - 1, (this_year - 1) % 100):
        r = method(api, "4343434343434345", exp_year=past)
        assert r.status_code == 400, past
        assert "exp_year" in r.json()["errors"][0]["detail"]


def test_idempotency_keys_up_to_255_characters(api: httpx.Client) -> None:
    body = envelope({"amount": 10000, "currency": "PHP", "payment_method_allowed": ["card"]})
    key = "k" * 255
    first = api.post("/v1/payment_intents", json=body, headers={"Idempotency-Key": key})
    again = api.post("/v1/payment_intents", json=body, headers={"Idempotency-Key": key})
    assert ok(first)["id"] == ok(again)["id"]
    longer = api.post("/v1/payment_intents", json=body, headers={"Idempotency-Key": key + "k"})
    assert longer.status_code == 400
    [error] = longer.json()["errors"]
    assert error["code"] == "parameter_invalid" and "255" in error["detail"]


@pytest.mark.parametrize(
    ("method_name", "path"),
    [("GET", "/v1/nothing_here"), ("POST", "/v2/payment_intents"), ("DELETE", "/v1/payments")],
)
def test_unknown_routes_answer_404_with_an_empty_body(
    api: httpx.Client, method_name: str, path: str
) -> None:
    """PayMongo's official PHP and Node clients read a 404 with an empty body as "route not
    found" and one with the errors array as "resource not found"."""
    r = api.request(method_name, path)
    assert (r.status_code, r.content) == (404, b"")
    missing = api.get("/v1/payments/pay_missing")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"]


# --- lists --------------------------------------------------------------------------------


def test_payments_list_in_pages_newest_first(tmp_path: Path) -> None:
    simulator = Simulator(tmp_path / "lists.sqlite", dialect="paymongo", time_scale=0.01)
    simulator.start()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{simulator.port}", auth=(simulator.keys.test_secret, "")
        ) as client:
            made = []
            for _ in range(3):
                _, attached = attach(client, "4343434343434345")
                made.append(attached["attributes"]["payments"][0]["id"])
            newest_first = made[::-1]
            everything = ok_list(client.get("/v1/payments"))
            assert ([p["id"] for p in everything["data"]], everything["has_more"]) == (
                newest_first,
                False,
            )
            first = ok_list(client.get("/v1/payments", params={"limit": 2}))
            assert [p["id"] for p in first["data"]] == newest_first[:2] and first["has_more"]
            rest = ok_list(client.get("/v1/payments", params={"limit": 2, "after": made[1]}))
            assert [p["id"] for p in rest["data"]] == [made[0]] and rest["has_more"] is False
            back = ok_list(client.get("/v1/payments", params={"limit": 1, "before": made[1]}))
            assert [p["id"] for p in back["data"]] == [made[2]] and back["has_more"] is False
            for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"after": "pay_nope"}):
                assert client.get("/v1/payments", params=bad).status_code == 400, bad
            refunds = ok_list(client.get("/v1/refunds", params={"payment_id": made[0]}))
            assert refunds == {"data": [], "has_more": False}
    finally:
        simulator.stop()


def ok_list(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_refunds_list_with_a_live_refund(tmp_path: Path) -> None:
    """Refunds are live-only as PayMongo documents, and live payments need 3-D Secure."""
    simulator = Simulator(tmp_path / "refunds.sqlite", dialect="paymongo", time_scale=0.01)
    simulator.start()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{simulator.port}", auth=(simulator.keys.live_secret, "")
        ) as client:
            intent_id, attached = attach(client, "4343434343434345")
            page = attached["attributes"]["next_action"]["redirect"]["url"]
            assert httpx.post(page, data={"action": "authorize"}).status_code == 200
            paid = ok(client.get(f"/v1/payment_intents/{intent_id}"))["attributes"]
            payment_id = paid["payments"][0]["id"]
            body = envelope(
                {"amount": 5000, "payment_id": payment_id, "reason": "requested_by_customer"}
            )
            refund_id = ok(client.post("/v1/refunds", json=body))["id"]
            listed = ok_list(client.get("/v1/refunds"))
            assert [r["id"] for r in listed["data"]] == [refund_id]
            assert listed["data"][0]["attributes"]["payment_id"] == payment_id
            mine = ok_list(client.get("/v1/refunds", params={"payment_id": payment_id}))
            assert [r["id"] for r in mine["data"]] == [refund_id]
            other = ok_list(client.get("/v1/refunds", params={"payment_id": "pay_other"}))
            assert other["data"] == []
    finally:
        simulator.stop()
