"""The PayMongo adapter against the simulator's PayMongo dialect, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rehearsal.errors import ProviderError, UsageError
from rehearsal.ledger.db import StateDB
from rehearsal.net.plain import PlainHttp
from rehearsal.providers.base import ApiCall, Callbacks, FeatureUnavailable, NormalizedEvent
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.receiver.endpoint import Receiver
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.server import Simulator


@pytest.fixture
def pm_sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "paymongo.sqlite", dialect="paymongo", time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


def make(sim: Simulator, environment: str = "test", **kw: Any) -> PayMongo:
    key = sim.keys.test_secret if environment == "test" else sim.keys.live_secret
    adapter = PayMongo(
        api_base=f"http://127.0.0.1:{sim.port}",
        secret_key=key,
        webhook_secrets=kw.pop("webhook_secrets", []),
        environment=environment,  # type: ignore[arg-type]
        backoff=0.01,
        poll_interval=0.02,
        **kw,
    )
    return adapter


def keys_sent(adapter: PayMongo, which: Callable[[str, str], bool]) -> list[str | None]:
    """The Idempotency-Key of every request `which(method, target)` picks, as it goes out
    (the adapter speaks plain http to the simulator: rehearsal/net/plain.py)."""
    plain = adapter._transport
    assert isinstance(plain, PlainHttp)
    send, sent = plain.send, []

    def recording(method: str, target: str, body: Any, headers: Any) -> Any:
        if which(method, target):
            sent.append(headers.get("Idempotency-Key"))
        return send(method, target, body, headers)

    plain.send = recording  # type: ignore[method-assign]
    return sent


@pytest.fixture
def paymongo(pm_sim: Simulator) -> Iterator[PayMongo]:
    adapter = make(pm_sim)
    yield adapter
    adapter.close()


def authorize(action: str = "authorize") -> Any:
    """A test operator: opens the 3-D Secure URL and presses a button, as a browser would."""

    def operator(url: str, what: str) -> None:
        page = httpx.get(url)
        assert "Authorize Test Payment" in page.text
        assert httpx.post(url, data={"action": action}).status_code == 200

    return operator


def c_of(call: ApiCall) -> tuple[str, str, int | None]:
    return call.method, call.path, call.status


def books(sim: Simulator) -> dict[str, Any]:
    return sim.books.summary()


def test_a_charge_is_intent_method_attach_and_a_paid_payment(pm_sim: Simulator) -> None:
    calls: list[tuple[str, str, int | None]] = []
    paymongo = make(pm_sim, observer=Callbacks(on_call=lambda c: calls.append(c_of(c))))
    payment = paymongo.create_payment(
        idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
    )
    assert (payment.kind, payment.status, payment.amount, payment.currency) == (
        "payment",
        "succeeded",
        20000,
        "PHP",
    )
    assert payment.id.startswith("pay_") and payment.card_last4 == "4345"
    assert [(m, p.split("/pi_")[0]) for m, p, _ in calls] == [
        ("POST", "/v1/payment_intents"),
        ("POST", "/v1/payment_methods"),
        ("POST", "/v1/payment_intents"),
    ]
    assert paymongo.retrieve("payment", payment.id) == payment
    assert [p["status"] for p in books(pm_sim)["payments"]] == ["succeeded"]


def test_the_same_key_replays_every_sub_call_and_charges_once(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    first = paymongo.create_payment(
        idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
    )
    again = paymongo.create_payment(
        idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
    )
    assert again.id == first.id
    assert len(books(pm_sim)["payments"]) == 1


def test_a_key_reused_with_another_body_is_refused(paymongo: PayMongo) -> None:
    paymongo.create_payment(
        idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
    )
    with pytest.raises(ProviderError, match="idempotency_key_in_use") as caught:
        paymongo.create_payment(
            idempotency_key="rh-run-charge", amount=30000, currency="PHP", card="test:visa"
        )
    assert caught.value.status == 409


def test_429_and_5xx_are_retried_with_the_same_key(pm_sim: Simulator, paymongo: PayMongo) -> None:
    pm_sim.faults.add("fail:POST /v1/payment_intents=429x1")
    pm_sim.faults.add("fail-after:POST /v1/payment_methods")  # the work done, the answer lost
    sent = keys_sent(paymongo, lambda method, target: method == "POST")
    payment = paymongo.create_payment(
        idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
    )
    assert payment.status == "succeeded"
    assert sent == [
        "rh-run-charge.intent",
        "rh-run-charge.intent",
        "rh-run-charge.method",
        "rh-run-charge.method",
        "rh-run-charge.attach",
    ]
    methods = pm_sim.books.all("SELECT id FROM pm_methods")
    assert len(methods) == 1, "the retried payment method was replayed, not made twice"


def test_a_test_cycle_whose_answer_is_lost_runs_one_cycle(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    """The retry after a 5xx re-sends the cycle's own key: one renewal, not two."""
    sub = paymongo.subscribe(
        idempotency_key="rh-run-sub",
        amount=20000,
        currency="PHP",
        card="test:visa",
        interval="month",
    )
    pm_sim.faults.add("fail-after:POST /v1/subscriptions/*/test_cycle")
    sent = keys_sent(paymongo, lambda method, target: "test_cycle" in target)
    assert paymongo.advance_clock(sub.id, idempotency_key=f"rh-test-{sub.id}") is True
    # The first period's payment and one cycle's: a second cycle would add a third.
    assert len(paymongo.subscription_payments(sub.id)) == 2
    assert len(sent) == 2 and sent[0] == sent[1] and sent[0] and sent[0] == f"rh-test-{sub.id}"


def test_outages_that_outlast_the_retries_are_a_provider_error(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    pm_sim.faults.add("fail:POST /v1/payment_intents=503x9")
    with pytest.raises(ProviderError, match="failed after 4 attempts: HTTP 503") as caught:
        paymongo.create_payment(
            idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
        )
    assert "Idempotency-Key" in (caught.value.hint or "")
    assert books(pm_sim)["payments"] == []


def test_errors_become_one_line_with_code_detail_and_field_never_the_key(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    with pytest.raises(ProviderError) as caught:
        paymongo.create_payment(
            idempotency_key="rh-run-small", amount=100, currency="PHP", card="test:visa"
        )
    message = caught.value.message
    assert message == (
        "PayMongo refused POST /v1/payment_intents: HTTP 400 parameter_invalid: "
        "amount must be at least 2000. (field attributes.amount)"
    )
    assert caught.value.code == "parameter_invalid"
    assert pm_sim.keys.test_secret not in message


def test_a_wrong_key_is_401_unauthenticated(pm_sim: Simulator) -> None:
    adapter = PayMongo(
        api_base=f"http://127.0.0.1:{pm_sim.port}",
        secret_key="sk_test_not_this_one",
        webhook_secrets=[],
        environment="test",
        backoff=0.01,
    )
    with pytest.raises(ProviderError, match="HTTP 401 unauthenticated") as caught:
        adapter.retrieve("payment", "pay_x")
    assert "sk_test_not_this_one" not in caught.value.message
    adapter.close()


def test_a_declined_card_ends_in_a_failed_payment(paymongo: PayMongo) -> None:
    payment = paymongo.create_payment(
        idempotency_key="rh-run-declined", amount=20000, currency="PHP", card="test:declined"
    )
    assert (payment.status, payment.failure_code) == ("failed", "generic_decline")


def test_test_mode_refunds_are_refused_as_documented(paymongo: PayMongo) -> None:
    payment = paymongo.create_payment(
        idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
    )
    with pytest.raises(FeatureUnavailable) as caught:
        paymongo.refund(idempotency_key="rh-run-refund", payment_id=payment.id, amount=None)
    assert caught.value.message == (
        "PayMongo refuses this refund in test mode (HTTP 400 refund_not_allowed: Only live "
        "transactions can be refunded.)"
    )
    assert caught.value.exit_code == 3


def test_request_errors_on_refunds_stay_plain_errors(paymongo: PayMongo) -> None:
    with pytest.raises(ProviderError) as caught:
        paymongo.refund(idempotency_key="rh-run-refund", payment_id="pay_missing", amount=5000)
    assert not isinstance(caught.value, FeatureUnavailable)
    assert caught.value.code == "resource_not_found"


def test_live_mode_needs_3ds_and_refunds_work(pm_sim: Simulator) -> None:
    live = make(pm_sim, "live", on_authorize=authorize())
    with pytest.raises(UsageError, match="test card 'visa' in live mode"):
        live.resolve_card("visa")
    pm_id = live._payment_method("rh-setup", "test:visa")  # the operator's card, made once
    payment = live.create_payment(
        idempotency_key="rh-live-charge", amount=2000, currency="PHP", card=live.resolve_card(pm_id)
    )
    assert (payment.status, payment.environment) == ("succeeded", "live")
    refund = live.refund(idempotency_key="rh-live-refund", payment_id=payment.id, amount=None)
    assert (refund.kind, refund.amount, refund.payment_id) == ("refund", 2000, payment.id)
    assert refund.status == "pending" and refund.id.startswith("ref_")
    after = live.retrieve("payment", payment.id)
    # The payment stays `paid` (read `succeeded`); the refund, on its way, is counted.
    assert (after.status, after.amount_refunded, after.refund_ids) == (
        "succeeded",
        2000,
        (refund.id,),
    )
    assert dict(after.refund_statuses)[refund.id] in ("pending", "succeeded")
    live.close()


def test_a_failed_3ds_leaves_a_payment_error_and_no_money(pm_sim: Simulator) -> None:
    adapter = make(pm_sim, on_authorize=authorize("fail"))
    with pytest.raises(ProviderError, match="awaiting_payment_method' with no payment"):
        adapter.create_payment(
            idempotency_key="rh-3ds", amount=20000, currency="PHP", card="test:visa_3ds"
        )
    assert books(pm_sim)["payments"] == []
    adapter.close()


def test_3ds_not_authorized_in_time_is_a_provider_error(pm_sim: Simulator) -> None:
    shown: list[str] = []
    adapter = make(pm_sim, on_authorize=lambda url, what: shown.append(url), authorize_timeout=0.2)
    with pytest.raises(ProviderError, match=r"was not authorized within 0\.2s"):
        adapter.create_payment(
            idempotency_key="rh-3ds", amount=20000, currency="PHP", card="test:visa_3ds"
        )
    assert len(shown) == 1 and "/_sim/paymongo/3ds/pi_" in shown[0]
    adapter.close()


def test_3ds_without_an_operator_is_refused(pm_sim: Simulator) -> None:
    adapter = make(pm_sim)
    with pytest.raises(UsageError, match="needs 3-D Secure authorization by an operator"):
        adapter.create_payment(
            idempotency_key="rh-3ds", amount=20000, currency="PHP", card="test:visa_3ds"
        )
    adapter.close()


def test_subscribe_renew_and_cancel(pm_sim: Simulator, paymongo: PayMongo) -> None:
    sub = paymongo.subscribe(
        idempotency_key="rh-run-sub",
        amount=20000,
        currency="PHP",
        card="test:visa",
        interval="month",
    )
    assert (sub.status, sub.amount, sub.currency) == ("active", 20000, "PHP")
    assert sub.id.startswith("subs_") and sub.renewals > 0
    assert paymongo.advance_clock(sub.id, idempotency_key=f"rh-test-{sub.id}")
    renewed = paymongo.retrieve("subscription", sub.id)
    assert renewed.renewals > sub.renewals
    assert [p.amount for p in paymongo.subscription_payments(sub.id)] == [20000, 20000]
    cancelled = paymongo.cancel(subscription_id=sub.id, reason="rehearsal cleanup")
    assert cancelled.status == "cancelled"
    row = pm_sim.books.one("SELECT cancel_reason FROM subscriptions WHERE id = ?", sub.id)
    assert row == {"cancel_reason": "other"}


def test_daily_plans_are_refused_before_any_call(pm_sim: Simulator) -> None:
    calls: list[object] = []
    paymongo = make(pm_sim, observer=Callbacks(on_call=calls.append))
    with pytest.raises(UsageError, match="no 'day' interval"):
        paymongo.subscribe(
            idempotency_key="k", amount=20000, currency="PHP", card="test:visa", interval="day"
        )
    assert calls == []


def test_subscriptions_not_configured_are_feature_unavailable(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    httpx.put(
        f"http://127.0.0.1:{pm_sim.port}/_sim/paymongo/subscriptions",
        json={"enabled": False},
        headers={"Authorization": f"Bearer {pm_sim.keys.test_secret}"},
    ).raise_for_status()
    with pytest.raises(FeatureUnavailable, match="not enabled subscriptions") as caught:
        paymongo.subscribe(
            idempotency_key="k", amount=20000, currency="PHP", card="test:visa", interval="month"
        )
    assert "not yet configured for this organization" in caught.value.message
    assert "support@paymongo.com" in (caught.value.hint or "")


def test_webhooks_registered_for_exactly_the_plans_events_then_disabled(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    webhook_id = paymongo.register_webhook(
        "http://127.0.0.1:9/hook", ["payment.succeeded", "subscription.cancelled"]
    )
    base = f"http://127.0.0.1:{pm_sim.port}"
    auth = (pm_sim.keys.test_secret, "")
    hook = httpx.get(f"{base}/v1/webhooks/{webhook_id}", auth=auth).json()["data"]["attributes"]
    assert (hook["events"], hook["status"]) == (["payment.paid", "subscription.updated"], "enabled")
    assert paymongo._webhook_secrets == [hook["secret_key"]]  # in memory, from registration
    paymongo.close()
    hook = httpx.get(f"{base}/v1/webhooks/{webhook_id}", auth=auth).json()["data"]["attributes"]
    assert hook["status"] == "disabled"


def test_signed_deliveries_reach_a_receiver_and_normalize(
    pm_sim: Simulator, paymongo: PayMongo, tmp_path: Path
) -> None:
    store = StateDB(tmp_path / "state.sqlite")
    receiver = Receiver(paymongo.verify_webhook, environment="test", store=store, run_id="r1")
    url = receiver.start()
    try:
        paymongo.register_webhook(url, ["payment.succeeded", "subscription.created"])
        payment = paymongo.create_payment(
            idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
        )
        sub = paymongo.subscribe(
            idempotency_key="rh-sub",
            amount=20000,
            currency="PHP",
            card="test:visa",
            interval="week",
        )
        deadline = time.monotonic() + 15

        def got(kind: str, object_id: str) -> NormalizedEvent:
            hit = receiver.hub.wait_for(
                lambda e: e.type == kind and e.object is not None and e.object.id == object_id,
                deadline,
            )
            assert hit is not None, kind
            return hit[1]

        paid = got("payment.succeeded", payment.id)
        assert (paid.provider_type, paid.environment) == ("payment.paid", "test")
        activated = got("subscription.created", sub.id)
        assert activated.provider_type == "subscription.activated"
        assert activated.object is not None and activated.object.status == "active"
    finally:
        receiver.request_stop()
        receiver.stop()
        store.close()


def test_rate_limit_is_plain_text_429(tmp_path: Path) -> None:
    sim = Simulator(tmp_path / "b.sqlite", dialect="paymongo", time_scale=0.01)
    sim.dialect.rate_limit = 3  # type: ignore[union-attr]
    sim.dialect.rate_window = 60.0  # type: ignore[union-attr]  # counts however slow we are
    sim.start()
    try:
        with httpx.Client(auth=(sim.keys.test_secret, "")) as client:
            url = f"http://127.0.0.1:{sim.port}/v1/payments/pay_x"
            answers = [client.get(url) for _ in range(4)]
        assert [a.status_code for a in answers] == [404, 404, 404, 429]
        assert answers[-1].text == "Too many requests, please try again later."
    finally:
        sim.stop()


def test_the_adapter_backs_off_until_the_rate_limit_lifts(tmp_path: Path) -> None:
    sim = Simulator(tmp_path / "b.sqlite", dialect="paymongo", time_scale=0.01)
    sim.dialect.rate_limit = 1  # type: ignore[union-attr]
    sim.dialect.rate_window = 0.3  # type: ignore[union-attr]
    sim.start()
    try:
        statuses: list[int | None] = []
        adapter = make(
            sim, attempts=8, observer=Callbacks(on_call=lambda call: statuses.append(call.status))
        )
        adapter._backoff = 0.1
        with pytest.raises(ProviderError, match="resource_not_found"):
            adapter.retrieve("payment", "pay_x")  # the first call is let through
        with pytest.raises(ProviderError, match="resource_not_found"):
            adapter.retrieve("payment", "pay_x")  # 429 at once, then through after backoff
        assert statuses[0] == 404 and statuses[-1] == 404
        assert 429 in statuses[1:], statuses
        adapter.close()
    finally:
        sim.stop()


def test_rate_faults_apply_in_the_paymongo_dialect(pm_sim: Simulator, paymongo: PayMongo) -> None:
    pm_sim.faults.add("rate-after:POST /v1/payment_intents=1")  # every intent: made, answer lost
    with pytest.raises(ProviderError) as caught:
        paymongo.create_payment(
            idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
        )
    assert caught.value.status == 500
    intents = pm_sim.books.all("SELECT id FROM pm_intents")
    assert len(intents) == 1, "made once, replayed by each retry, every answer lost"


def test_rate_before_the_work_does_nothing_in_the_paymongo_dialect(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    for spec in ("seed:3", "rate:POST /v1/payment_intents=1"):
        pm_sim.faults.add(spec)
    with pytest.raises(ProviderError) as outage:
        paymongo.create_payment(
            idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
        )
    assert outage.value.status == 503
    assert pm_sim.books.all("SELECT id FROM pm_intents") == []
    assert pm_sim.faults.api_faults_left()[0]["hits"] == 4  # every attempt drew and failed


def test_garble_gives_a_string_errors_member_and_a_provider_error(
    pm_sim: Simulator, paymongo: PayMongo
) -> None:
    pm_sim.faults.add("garble:POST /v1/payment_intents")
    with pytest.raises(ProviderError) as caught:
        paymongo.create_payment(
            idempotency_key="rh-run-charge", amount=20000, currency="PHP", card="test:visa"
        )
    assert caught.value.status == 400
    assert caught.value.message == "PayMongo refused POST /v1/payment_intents: HTTP 400"
    assert pm_sim.books.all("SELECT id FROM pm_intents") == []


def test_faults_parse_like_the_mintcash_dialect() -> None:
    faults = Faults.parse(["fail:POST /v1/refunds=503x2"])
    assert faults.take_api_fault("POST", "/v1/refunds") is not None


def test_parse_event_refuses_bodies_that_are_not_paymongo_events(paymongo: PayMongo) -> None:
    from rehearsal.providers.base import MalformedEvent

    with pytest.raises(MalformedEvent):
        paymongo.parse_event(json.dumps({"eventId": "x"}).encode())


def test_live_subscription_pays_its_first_invoice_through_3ds(pm_sim: Simulator) -> None:
    shown: list[str] = []
    operator = authorize()

    def show_then_authorize(url: str, what: str) -> None:
        shown.append(what)
        operator(url, what)

    live = make(pm_sim, "live", on_authorize=show_then_authorize)
    pm_id = live._payment_method("rh-setup", "test:visa")
    sub = live.subscribe(
        idempotency_key="rh-live-sub", amount=2000, currency="PHP", card=pm_id, interval="year"
    )
    assert (sub.status, sub.environment) == ("active", "live")
    assert len(shown) == 1 and shown[0].startswith(f"the first invoice of subscription {sub.id}")
    assert (
        not live.can_advance_clock
        and live.advance_clock(sub.id, idempotency_key=f"rh-test-{sub.id}") is False
    )
    [payment] = live.subscription_payments(sub.id)
    refund = live.refund(idempotency_key="rh-live-sub-refund", payment_id=payment.id, amount=None)
    after = live.retrieve("payment", payment.id)
    assert (after.status, after.amount_refunded, after.refund_ids) == (
        "succeeded",
        2000,
        (refund.id,),
    )
    live.close()
