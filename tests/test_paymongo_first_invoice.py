"""A PayMongo subscription's first invoice needs card authentication (issue 13, item 2).

PayMongo: the first payment "will require card payment authentication"
(https://developers.paymongo.com/docs/statuses-subscription); "upon attachment, the Payment
Intent status is set to awaiting_next_action, and a redirect URL is returned"
(https://developers.paymongo.com/docs/subscriptions-test-cases). The simulator over real
HTTP on 127.0.0.1, then the adapter against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rehearsal.errors import ProviderError
from rehearsal.providers.base import ApiCall, Callbacks, ProviderObject
from rehearsal.providers.paymongo import authorize as authorize_page
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.simulator.server import Simulator

VISA = "4343434343434345"  # no 3-D Secure for a one-off charge
DECLINED_AFTER_AUTH = "5234000000000106"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "paymongo.sqlite", dialect="paymongo", time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{sim.port}", auth=(sim.keys.test_secret, "")
    ) as client:
        yield client


def post(client: httpx.Client, path: str, attributes: dict[str, Any]) -> Any:
    answer = client.post(path, json={"data": {"attributes": attributes}})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def subscribe_and_attach(api: httpx.Client, number: str) -> tuple[str, dict[str, Any]]:
    """Plan, customer, subscription, and a card attached to its first invoice's intent, as
    PayMongo's guide does it. Returns the subscription id and the attach answer."""
    plan = post(
        api,
        c.PLANS,
        {"name": "Basic", "amount": 20000, "currency": "PHP", "interval": "monthly"},
    )
    customer = post(
        api, c.CUSTOMERS, {"first_name": "Juan", "last_name": "Cruz", "email": "j@example.com"}
    )
    sub = post(api, c.SUBSCRIPTIONS, {"customer_id": customer["id"], "plan_id": plan["id"]})
    assert sub["attributes"]["status"] == "incomplete"
    intent_id = sub["attributes"]["latest_invoice"]["payment_intent"]["id"]
    card = {"card_number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    method = post(api, c.PAYMENT_METHODS, {"type": "card", "details": card})
    attached = post(api, c.ATTACH.format(id=intent_id), {"payment_method": method["id"]})
    return sub["id"], attached


def event_types(sim: Simulator) -> list[str]:
    rows = sim.books.all("SELECT payload FROM events ORDER BY seq")
    return [json.loads(r["payload"])["data"]["attributes"]["type"] for r in rows]


def test_the_first_invoice_waits_for_authentication_even_with_a_non_3ds_card(
    sim: Simulator, api: httpx.Client
) -> None:
    sub_id, attached = subscribe_and_attach(api, VISA)
    a = attached["attributes"]
    assert a["status"] == "awaiting_next_action" and a["payments"] == []
    url = a["next_action"]["redirect"]["url"]
    # The subscription shows it as PayMongo's example does: incomplete, its setup_intent
    # awaiting the action at that URL, its first invoice open; no money has moved.
    sub = api.get(c.SUBSCRIPTION.format(id=sub_id)).json()["data"]["attributes"]
    assert sub["status"] == "incomplete" and sub["next_billing_schedule"] is None
    assert sub["setup_intent"] == {
        "id": attached["id"],
        "last_setup_error": None,
        "next_action_url": url,
        "status": "awaiting_next_action",
    }
    assert sub["latest_invoice"]["status"] == "open"
    assert sub["latest_invoice"]["payment_intent"] == {
        "id": attached["id"],
        "status": "awaiting_next_action",
    }
    assert sim.books.summary()["payments"] == []
    assert event_types(sim) == []

    page = httpx.get(url)
    assert "Authorize Test Payment" in page.text and "Fail Test Payment" in page.text
    done = httpx.post(url, data={"action": "authorize"})
    assert done.status_code == 200 and "Authentication Complete" in done.text

    sub = api.get(c.SUBSCRIPTION.format(id=sub_id)).json()["data"]["attributes"]
    assert sub["status"] == "active" and sub["next_billing_schedule"] is not None
    assert sub["latest_invoice"]["status"] == "paid"
    assert sub["setup_intent"]["status"] == "succeeded"
    assert sub["setup_intent"]["next_action_url"] is None
    intent = api.get(c.PAYMENT_INTENT.format(id=attached["id"])).json()["data"]["attributes"]
    assert intent["status"] == "succeeded"
    assert [p["attributes"]["status"] for p in intent["payments"]] == ["paid"]
    assert event_types(sim) == [
        "payment.paid",
        "subscription.invoice.paid",
        "subscription.activated",
    ]
    # The page is spent: a second press changes nothing.
    assert httpx.post(url, data={"action": "authorize"}).status_code == 404
    assert len(sim.books.summary()["payments"]) == 1


def test_a_failed_authentication_leaves_the_subscription_incomplete_and_unpaid(
    sim: Simulator, api: httpx.Client
) -> None:
    sub_id, attached = subscribe_and_attach(api, VISA)
    url = attached["attributes"]["next_action"]["redirect"]["url"]
    failed = httpx.post(url, data={"action": "fail"})
    assert "Authentication failed or canceled" in failed.text
    sub = api.get(c.SUBSCRIPTION.format(id=sub_id)).json()["data"]["attributes"]
    assert sub["status"] == "incomplete"
    assert sub["setup_intent"]["status"] == "awaiting_payment_method"
    assert sub["setup_intent"]["last_setup_error"] == "authentication_failed"
    assert sim.books.summary()["payments"] == []
    assert event_types(sim) == []  # ASSUMED: PayMongo documents no event for it
    # Cancelling it, as cleanup does, moves no money.
    cancelled = post(api, c.CANCEL.format(id=sub_id), {"cancellation_reason": "other"})
    assert cancelled["attributes"]["status"] == "cancelled"
    assert sim.books.summary()["payments"] == []


def test_a_card_declined_after_authentication_makes_a_failed_payment(
    sim: Simulator, api: httpx.Client
) -> None:
    """5234000000000106: "A Payment object with a failed status is attached to the Payment
    Intent"; the subscription stays incomplete."""
    sub_id, attached = subscribe_and_attach(api, DECLINED_AFTER_AUTH)
    httpx.post(
        attached["attributes"]["next_action"]["redirect"]["url"], data={"action": "authorize"}
    )
    intent = api.get(c.PAYMENT_INTENT.format(id=attached["id"])).json()["data"]["attributes"]
    assert intent["status"] == "awaiting_payment_method"
    assert [p["attributes"]["status"] for p in intent["payments"]] == ["failed"]
    sub = api.get(c.SUBSCRIPTION.format(id=sub_id)).json()["data"]["attributes"]
    assert sub["status"] == "incomplete" and sub["latest_invoice"]["status"] == "open"
    assert event_types(sim) == ["payment.failed"]


# --- the adapter -----------------------------------------------------------------------------


def make(sim: Simulator, environment: str = "test", **kw: Any) -> PayMongo:
    key = sim.keys.test_secret if environment == "test" else sim.keys.live_secret
    return PayMongo(
        api_base=f"http://127.0.0.1:{sim.port}",
        secret_key=key,
        webhook_secrets=[],
        environment=environment,  # type: ignore[arg-type]
        backoff=0.01,
        poll_interval=0.02,
        **kw,
    )


def test_test_mode_authorizes_the_first_invoice_without_a_person(sim: Simulator) -> None:
    shown: list[str] = []
    calls: list[ApiCall] = []
    made: list[ProviderObject] = []

    def told(obj: ProviderObject) -> None:
        # Told before the authentication: the subscription exists, incomplete, unpaid.
        assert sim.books.summary()["payments"] == []
        made.append(obj)

    adapter = make(
        sim,
        on_authorize=lambda url, what: shown.append(url),
        observer=Callbacks(on_call=calls.append, on_made=told),
    )
    sub = adapter.subscribe(
        idempotency_key="rh-auto-sub",
        amount=20000,
        currency="PHP",
        card="test:visa",
        interval="month",
    )
    assert sub.status == "active"
    assert [(m.kind, m.id, m.status) for m in made] == [("subscription", sub.id, "incomplete")]
    assert shown == []  # nobody was asked
    routes = [(x.method, x.path, x.status) for x in calls]
    page = ("POST", "3-D Secure test page: Authorize Test Payment", 200)
    assert page in routes
    assert routes.index(page) > routes.index(("POST", c.SUBSCRIPTIONS, 200))
    assert not any("/_sim/" in x.path for x in calls), "the page's URL (its token) is not logged"
    [payment] = sim.books.summary()["payments"]
    assert (payment["subscription_id"], payment["status"]) == (sub.id, "succeeded")
    adapter.close()


def test_a_resumed_subscribe_does_not_authorize_or_charge_twice(sim: Simulator) -> None:
    adapter = make(sim, on_authorize=lambda url, what: pytest.fail("no person is needed"))
    first = adapter.subscribe(
        idempotency_key="rh-again", amount=20000, currency="PHP", card="test:visa", interval="month"
    )
    # The same keys again, as `rehearsal resume` sends them: PayMongo's saved answers (the
    # attach's still says awaiting_next_action), a spent page, an intent already paid.
    again = adapter.subscribe(
        idempotency_key="rh-again", amount=20000, currency="PHP", card="test:visa", interval="month"
    )
    assert (again.id, again.status) == (first.id, "active")
    assert len(sim.books.summary()["payments"]) == 1
    adapter.close()


def test_a_page_without_the_test_button_falls_back_to_the_operator(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where PayMongo's test page is not the form we expect (an ASSUMPTION), a person is
    shown the URL, as in live mode."""
    monkeypatch.setattr(authorize_page, "AUTHORIZE_BUTTON", "Approve Payment")
    shown: list[str] = []

    def operator(url: str, what: str) -> None:
        shown.append(what)
        httpx.post(url, data={"action": "authorize"}).raise_for_status()

    calls: list[ApiCall] = []
    adapter = make(sim, on_authorize=operator, observer=Callbacks(on_call=calls.append))
    sub = adapter.subscribe(
        idempotency_key="rh-manual",
        amount=20000,
        currency="PHP",
        card="test:visa",
        interval="month",
    )
    assert sub.status == "active"
    assert len(shown) == 1 and shown[0].startswith(f"the first invoice of subscription {sub.id}")
    assert ("POST", "3-D Secure test page: Approve Payment", None) in [
        (x.method, x.path, x.status) for x in calls
    ]
    adapter.close()


def test_a_declined_first_invoice_is_an_error_that_names_the_subscription(sim: Simulator) -> None:
    adapter = make(sim)
    with pytest.raises(ProviderError, match=r"first invoice failed \(generic_decline\)") as caught:
        adapter.subscribe(
            idempotency_key="rh-declined",
            amount=20000,
            currency="PHP",
            card="test:declined_after_3ds",
            interval="month",
        )
    [sub] = sim.books.summary()["subscriptions"]
    assert caught.value.made == sub["id"] and sub["status"] == "incomplete"
    # What cleanup does with it: cancel; nothing was charged.
    assert adapter.cancel(subscription_id=sub["id"]).status == "cancelled"
    assert [p["status"] for p in sim.books.summary()["payments"]] == ["failed"]
    adapter.close()


def test_press_test_button_finds_a_forms_button_by_its_label(
    sim: Simulator, api: httpx.Client
) -> None:
    _, attached = subscribe_and_attach(api, VISA)
    url = attached["attributes"]["next_action"]["redirect"]["url"]
    assert authorize_page.press_test_button(url, "No Such Button") is None
    assert authorize_page.press_test_button("mailto:x@example.com") is None
    assert authorize_page.press_test_button(url, "Fail  Test\nPayment") == 200
    intent = api.get(c.PAYMENT_INTENT.format(id=attached["id"])).json()["data"]["attributes"]
    assert intent["status"] == "awaiting_payment_method"
