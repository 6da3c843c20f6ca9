"""The adapter and the simulator, each checked against PayMongo's documented examples.

tests/fixtures/paymongo/ holds request and response examples from PayMongo's pages, each
with its source. The adapter must read every response example and send requests PayMongo
documents (against PayMongo's examples served from a mock transport: PayMongo's host does
not exist here). The simulator must accept every request example and answer with at least
the fields of every response example, of the same JSON types. So the two cannot drift into
agreeing on something PayMongo does not do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rehearsal.errors import ProviderError
from rehearsal.net.httpx_transport import HttpxTransport
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.providers.paymongo.webhooks import parse_event
from rehearsal.simulator.server import Simulator

FIXTURES = Path(__file__).parent / "fixtures" / "paymongo"

# Where the simulator deliberately answers null or leaves a field out, and why.
DEVIATIONS = {
    # The first invoice's intent, as PayMongo shows it: a URL while it awaits authentication,
    # an error after one failed; the subscription checked here is authorized and active.
    "subscription.attributes.setup_intent.last_setup_error": "null: no error",
    "subscription.attributes.setup_intent.next_action_url": "null: authorized",
    "subscription.attributes.default_customer_payment_method_id": "no card vaulting",
    "invoice.attributes.subscription.plan.inverval_count": "PayMongo's example misspells it",
    "invoice.attributes.line_items.0": "no line items: an invoice is the plan's amount",
    # PayMongo's official clients allow it (`if billing is not None`): a payment whose
    # method had no billing has none.
    "payment.attributes.billing": "null when the payment method had no billing",
}


def doc(name: str) -> Any:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data["source"].startswith("https://"), name
    return data["example"]


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_problems(documented: Any, ours: Any, path: str) -> list[str]:
    """Fields of the documented example that ours lacks or types differently."""
    if path in DEVIATIONS or documented is None:
        return []
    if ours is None:
        return [f"{path}: null, documented as {kind(documented)}"]
    if kind(documented) != kind(ours):
        return [f"{path}: {kind(ours)}, documented as {kind(documented)}"]
    problems: list[str] = []
    if isinstance(documented, dict):
        for key, value in documented.items():
            where = f"{path}.{key}"
            if key not in ours:
                if where not in DEVIATIONS:
                    problems.append(f"{where}: missing")
                continue
            problems += shape_problems(value, ours[key], where)
    elif isinstance(documented, list) and documented:
        if not ours:
            return [] if f"{path}.0" in DEVIATIONS else [f"{path}: empty, documented with items"]
        problems += shape_problems(documented[0], ours[0], f"{path}.0")
    return problems


def attributes_of(example: Any) -> dict[str, Any]:
    return dict(example["data"]["attributes"])


# --- the simulator against the examples ------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One simulator with a live charge and refund, a test subscription, a webhook."""
    sim = Simulator(
        tmp_path_factory.mktemp("docs") / "b.sqlite", dialect="paymongo", time_scale=0.01
    )
    base = sim.start()
    test = httpx.Client(base_url=base, auth=(sim.keys.test_secret, ""))
    live = httpx.Client(base_url=base, auth=(sim.keys.live_secret, ""))

    def post(client: httpx.Client, path: str, attributes: dict[str, Any]) -> Any:
        answer = client.post(path, json={"data": {"attributes": attributes}})
        assert answer.status_code == 200, answer.text
        return answer.json()

    card = {"card_number": "4343434343434345", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    # Live: intent, method, attach (3-D Secure, authorized on the local page), refund.
    intent = post(live, c.PAYMENT_INTENTS, attributes_of(doc("payment_intent_create_request")))
    method = post(live, c.PAYMENT_METHODS, {"type": "card", "details": card})
    attached = post(
        live,
        c.ATTACH.format(id=intent["data"]["id"]),
        {"payment_method": method["data"]["id"], "return_url": "https://example.com/done"},
    )
    url = attached["data"]["attributes"]["next_action"]["redirect"]["url"]
    httpx.post(url, data={"action": "authorize"}).raise_for_status()
    paid = live.get(c.PAYMENT_INTENT.format(id=intent["data"]["id"])).json()
    payment_id = paid["data"]["attributes"]["payments"][0]["id"]
    refund_request = attributes_of(doc("refund_create_request"))
    refund = post(live, c.REFUNDS, {**refund_request, "payment_id": payment_id})
    # Test: a plan (the documented request), a customer, a subscription and its first invoice.
    plan = post(test, c.PLANS, attributes_of(doc("plan_create_request")))
    customer = post(
        test,
        c.CUSTOMERS,
        {"first_name": "Juan", "last_name": "dela Cruz", "email": "juan@example.com"},
    )
    sub = post(
        test,
        c.SUBSCRIPTIONS,
        {"customer_id": customer["data"]["id"], "plan_id": plan["data"]["id"]},
    )
    first = sub["data"]["attributes"]["latest_invoice"]["payment_intent"]["id"]
    method = post(test, c.PAYMENT_METHODS, {"type": "card", "details": card})
    first_attached = post(test, c.ATTACH.format(id=first), {"payment_method": method["data"]["id"]})
    # The first payment "will require card payment authentication", whatever the card.
    page = first_attached["data"]["attributes"]["next_action"]["redirect"]["url"]
    httpx.post(page, data={"action": "authorize"}).raise_for_status()
    webhook = post(test, c.WEBHOOKS, attributes_of(doc("webhook_create_request")))
    events = sim.books.all("SELECT type, payload FROM events ORDER BY seq")
    yield {
        "sim": sim,
        "test": test,
        "intent": paid,
        "payment": live.get(c.PAYMENT.format(id=payment_id)).json(),
        "refund": live.get(c.REFUND.format(id=refund["data"]["id"])).json(),
        "subscription": test.get(c.SUBSCRIPTION.format(id=sub["data"]["id"])).json(),
        "invoices": test.get(c.INVOICES, params={"subscription_id": sub["data"]["id"]}).json(),
        "webhook": webhook,
        "events": {e["type"]: json.loads(e["payload"]) for e in events},
    }
    test.close()
    live.close()
    sim.stop()


@pytest.mark.parametrize(
    ("fixture", "key"),
    [
        ("payment_intent_resource", "intent"),
        ("payment_resource", "payment"),
        ("refund_resource", "refund"),
        ("subscription_resource", "subscription"),
        ("webhook_resource", "webhook"),
    ],
)
def test_simulator_answers_carry_the_documented_fields(
    world: dict[str, Any], fixture: str, key: str
) -> None:
    documented = doc(fixture)
    ours = world[key]
    assert ours["data"]["type"] == documented["data"]["type"]
    assert shape_problems(documented["data"], ours["data"], documented["data"]["type"]) == []


def test_simulator_invoices_carry_the_documented_fields(world: dict[str, Any]) -> None:
    documented = doc("invoice_resource")["data"]
    ours = world["invoices"]["data"][0]
    assert shape_problems(documented, ours, "invoice") == []
    assert world["invoices"]["has_more"] is False


def test_simulator_events_have_the_documented_envelope(world: dict[str, Any]) -> None:
    documented = doc("event_payment_paid")["data"]
    ours = world["events"]["payment.succeeded"]["data"]
    assert ours["attributes"]["type"] == "payment.paid"
    assert shape_problems(documented, ours, "event") == []


def test_simulator_errors_are_the_documented_ones(world: dict[str, Any]) -> None:
    answer = world["test"].post(
        c.PAYMENT_INTENTS,
        json={
            "data": {
                "attributes": {**attributes_of(doc("payment_intent_create_request")), "amount": 100}
            }
        },
    )
    assert answer.status_code == 400
    documented = doc("error_response")["errors"][0]
    ours = answer.json()["errors"][0]
    assert {k: ours[k] for k in ("code", "detail")} == {
        k: documented[k] for k in ("code", "detail")
    }
    assert ours["source"]["pointer"] == documented["source"]["pointer"]


def test_simulator_webhooks_subscribe_to_the_documented_events(world: dict[str, Any]) -> None:
    attributes = world["webhook"]["data"]["attributes"]
    assert attributes["events"] == attributes_of(doc("webhook_create_request"))["events"]
    assert attributes["secret_key"] and attributes["status"] == "enabled"


# --- the adapter against the examples ---------------------------------------------------------


def test_adapter_reads_the_documented_event() -> None:
    event = parse_event(json.dumps(doc("event_payment_paid")).encode())
    assert (event.type, event.provider_type, event.environment) == (
        "payment.succeeded",
        "payment.paid",
        "live",
    )
    assert event.object is not None
    assert (event.object.id, event.object.status, event.object.amount) == (
        "pay_xxxxxxxxxxxxxxxxxxxxxxxx",
        "succeeded",
        10000,
    )


def test_adapter_reads_the_documented_refund_subscription_and_invoice() -> None:
    refund = doc("refund_resource")["data"]
    parsed = c.parse_refund(refund["id"], refund["attributes"])
    assert (parsed.status, parsed.amount, parsed.payment_id, parsed.environment) == (
        "succeeded",
        10000,
        "pay_qOShdAuD3p8tKa6Ac4SRfbjs",
        "live",
    )
    sub = doc("subscription_resource")["data"]
    parsed = c.parse_subscription(sub["id"], sub["attributes"])
    assert (parsed.status, parsed.amount, parsed.currency) == ("active", 1000000, "PHP")
    assert parsed.renewals == c.billed_period("2023-08-01")
    invoice = c.parse_invoice_as_subscription(doc("invoice_resource")["data"]["attributes"])
    assert (invoice.id, invoice.status, invoice.renewals) == (
        "subs_CbFCTDfxvMFNjwjVi26Uzhtj",
        "active",
        c.billed_period("2023-08-01"),
    )


class DocumentedPayMongo:
    """PayMongo's documented answers, served from a mock transport, recording requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        key = request.headers.get("Idempotency-Key")
        self.requests.append((request.method, request.url.path, body, key))
        assert request.headers["Authorization"].startswith("Basic ")
        if request.url.path == c.WEBHOOKS:
            return httpx.Response(200, json=doc("webhook_resource"))
        if request.url.path.startswith("/v1/subscriptions/"):
            return httpx.Response(200, json=doc("subscription_resource"))
        if request.url.path == c.PAYMENT_INTENTS:
            return httpx.Response(400, json=doc("error_response"))
        return httpx.Response(404, json={"errors": [{"code": "resource_not_found"}]})


@pytest.fixture
def documented() -> Iterator[tuple[PayMongo, DocumentedPayMongo]]:
    server = DocumentedPayMongo()
    adapter = PayMongo(
        api_base=c.API_BASE,
        secret_key="sk_test_documented_only",
        webhook_secrets=[],
        environment="test",
        backoff=0.01,
    )
    assert isinstance(adapter._transport, HttpxTransport)
    adapter._transport.client = httpx.Client(
        base_url=c.API_BASE,
        auth=("sk_test_documented_only", ""),
        transport=httpx.MockTransport(server),
    )
    yield adapter, server
    adapter._webhooks.clear()
    adapter.close()


def test_adapter_registers_webhooks_as_documented(
    documented: tuple[PayMongo, DocumentedPayMongo],
) -> None:
    adapter, server = documented
    assert adapter.register_webhook("https://example.com/webhook", ["payment.succeeded"]) == (
        "hook_UD3rYjZ74dB9WUNNvJnpAuLu"
    )
    method, path, body, key = server.requests[0]
    documented_keys = set(attributes_of(doc("webhook_create_request")))
    assert (method, path, set(body["data"]["attributes"])) == ("POST", c.WEBHOOKS, documented_keys)
    assert key and key.startswith("rh-webhook-")
    assert adapter._webhook_secrets == ["whsk_24usnQXfHAzo1AFXspLmD1R4"]


def test_adapter_reads_a_documented_subscription(
    documented: tuple[PayMongo, DocumentedPayMongo],
) -> None:
    adapter, _ = documented
    sub = adapter.retrieve("subscription", "subs_CbFCTDfxvMFNjwjVi26Uzhtj")
    assert (sub.kind, sub.status, sub.amount) == ("subscription", "active", 1000000)


def test_adapter_turns_the_documented_error_into_one_line(
    documented: tuple[PayMongo, DocumentedPayMongo],
) -> None:
    adapter, server = documented
    with pytest.raises(ProviderError) as caught:
        adapter.create_payment(
            idempotency_key="rh-run-charge", amount=100, currency="PHP", card="test:visa"
        )
    assert caught.value.message == (
        "PayMongo refused POST /v1/payment_intents: HTTP 400 parameter_invalid: "
        "amount must be at least 2000. (field attributes.amount)"
    )
    _, _, body, key = server.requests[0]
    documented_request = set(attributes_of(doc("payment_intent_create_request")))
    sent = set(body["data"]["attributes"])
    # PayMongo's create example's fields, plus documented options (fact sheet §2.2).
    assert documented_request <= sent
    assert sent - documented_request <= {"payment_method_options", "metadata"}
    assert key == "rh-run-charge.intent"


def test_adapter_falls_back_to_the_other_plan_path_on_404() -> None:
    """PayMongo's guide says /v1/plans; third-party code uses /v1/subscriptions/plans."""
    seen: list[str] = []

    def paymongo(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == c.PLANS_FALLBACK:
            return httpx.Response(
                200, json={"data": {"id": "plan_x", "type": "plan", "attributes": {}}}
            )
        return httpx.Response(404, json={"errors": [{"code": "resource_not_found"}]})

    adapter = PayMongo(
        api_base=c.API_BASE, secret_key="sk_test_x", webhook_secrets=[], environment="test"
    )
    assert isinstance(adapter._transport, HttpxTransport)
    adapter._transport.client = httpx.Client(
        base_url=c.API_BASE, transport=httpx.MockTransport(paymongo)
    )
    assert adapter._create_plan("rh-k", 20000, "PHP", "monthly") == "plan_x"
    assert seen == [c.PLANS, c.PLANS_FALLBACK]
    adapter.close()


def test_simulator_takes_basic_auth_with_or_without_the_colon(world: dict[str, Any]) -> None:
    """PayMongo's docs send base64("sk_…:"); its Python library omits the colon."""
    import base64

    sim = world["sim"]
    url = f"http://127.0.0.1:{sim.port}{c.PAYMENT_INTENTS}"
    body = doc("payment_intent_create_request")
    for raw in (f"{sim.keys.test_secret}:", sim.keys.test_secret, "sk_test_wrong:"):
        token = base64.b64encode(raw.encode()).decode()
        answer = httpx.post(url, json=body, headers={"Authorization": f"Basic {token}"})
        assert answer.status_code == (401 if "wrong" in raw else 200), raw
