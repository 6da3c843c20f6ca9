"""PayMongo's own Python client (PyPI `paymongo-python`, github.com/paymongo/paymongo-python)
pointed at the simulator: an outside client that reads every member it knows of payments,
refunds, payment intents, payment methods and webhooks with `attributes[...]`, so a member
the simulator leaves out is a KeyError here. It keeps the simulator honest to PayMongo's
resources rather than to what our adapter happens to read.

The client hard-codes https://api.paymongo.com in PaymongoConfig; the test swaps the
config its services build for one whose base is the simulator. It sends Basic
base64(secret_key) without the trailing colon, and no Idempotency-Key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paymongo  # PyPI paymongo-python, the dev extra
import pytest

from rehearsal.simulator.server import Simulator

VISA_NO_3DS = "4343434343434345"  # https://developers.paymongo.com/docs/payment-acceptance-testing
DECLINED = "4111111111111111"  # same page: generic decline
BILLING = {
    "name": "Juan dela Cruz",
    "email": "juan@example.com",
    "phone": "09170000000",
    "address": {
        "line1": "111 Wanchan St",
        "line2": None,
        "city": "Makati",
        "state": "Metro Manila",
        "postal_code": "1200",
        "country": "PH",
    },
}
# Every member of PayMongo's examples and of its official clients' entities.
PAYMENT_MEMBERS = {
    "access_url", "amount", "balance_transaction_id", "billing", "currency", "description",
    "disputed", "external_reference_number", "fee", "foreign_fee", "livemode", "net_amount",
    "origin", "payment_intent_id", "payout", "source", "statement_descriptor", "status",
    "tax_amount", "metadata", "refunds", "taxes", "available_at", "created_at", "credited_at",
    "paid_at", "updated_at",
}  # fmt: skip
REFUND_MEMBERS = {
    "amount", "balance_transaction_id", "currency", "livemode", "metadata", "notes",
    "payment_id", "payout_id", "reason", "status", "available_at", "created_at", "refunded_at",
    "updated_at",
}  # fmt: skip
INTENT_MEMBERS = {
    "amount", "capture_type", "client_key", "currency", "description", "livemode",
    "statement_descriptor", "status", "last_payment_error", "payment_method_allowed",
    "payments", "next_action", "payment_method_options", "metadata", "setup_future_usage",
    "created_at", "updated_at",
}  # fmt: skip


@pytest.fixture
def pm_sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "paymongo.sqlite", dialect="paymongo", time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


def use(sim: Simulator, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Point the official client at the simulator with `key`."""

    def config() -> Any:
        cfg = paymongo.PaymongoConfig(key)
        cfg.api_base_url = f"http://127.0.0.1:{sim.port}"
        return cfg

    monkeypatch.setattr(paymongo, "api_key", key)
    monkeypatch.setattr(paymongo.BaseService, "config", config)


def raw(sim: Simulator, key: str, path: str) -> dict[str, Any]:
    """The resource as the simulator sends it (the client's entities drop unknown members)."""
    r = httpx.get(f"http://127.0.0.1:{sim.port}{path}", auth=(key, ""))
    assert r.status_code == 200, r.text
    return dict(r.json()["data"]["attributes"])


def pay(amount: int = 10000, card: str = VISA_NO_3DS) -> tuple[Any, Any, Any]:
    """Intent, method, attach: PayMongo's card flow, through the official client."""
    intent = paymongo.PaymentIntent.create(
        {
            "amount": amount,
            "currency": "PHP",
            "payment_method_allowed": ["card"],
            "payment_method_options": {"card": {"request_three_d_secure": "any"}},
            "description": "official client",
            "statement_descriptor": "Rehearsal",
            "metadata": {"run": "official-client"},
        }
    )
    assert intent.status == "awaiting_payment_method"
    assert intent.client_key.startswith(f"{intent.id}_client_")
    method = paymongo.PaymentMethod.create(
        {
            "type": "card",
            "details": {
                "card_number": card,
                "exp_month": 12,
                "exp_year": 2035,
                "cvc": "123",
            },
            "billing": BILLING,
            "metadata": {"who": "tester"},
        }
    )
    assert method.id.startswith("pm_") and method.details["last4"] == card[-4:]
    assert method.metadata == {"who": "tester"}
    assert paymongo.PaymentMethod.retrieve(method.id).id == method.id
    attached = paymongo.PaymentIntent.attach(
        intent.id, {"payment_method": method.id, "return_url": "https://example.com/done"}
    )
    return intent, method, attached


def test_the_official_client_charges_and_reads_a_full_payment(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = pm_sim.keys.test_secret
    use(pm_sim, monkeypatch, key)
    intent, _method, attached = pay()
    assert attached.status == "succeeded" and attached.statement_descriptor == "Rehearsal"
    assert attached.payment_method_options == {"card": {"request_three_d_secure": "any"}}
    fetched = paymongo.PaymentIntent.retrieve(intent.id)
    assert fetched.status == "succeeded" and len(fetched.payments) == 1
    payment_id = fetched.payments[0]["id"]

    payment = paymongo.Payment.retrieve(payment_id)
    assert payment.status == "paid" and payment.amount == 10000
    # PayMongo's Payment Resource example: fee 1850 on 10000, net = amount - fee.
    assert (payment.fee, payment.net_amount) == (1850, 8150)
    assert payment.payment_intent_id == intent.id and payment.refunds == []
    assert payment.billing is not None and payment.billing.address.city == "Makati"
    assert payment.metadata == {"run": "official-client"}
    assert payment.statement_descriptor == "Rehearsal"
    assert payment.access_url is None and payment.taxes == []
    assert payment.source["type"] == "card" and payment.source["last4"] == "4345"

    assert not PAYMENT_MEMBERS - raw(pm_sim, key, f"/v1/payments/{payment_id}").keys()
    assert not INTENT_MEMBERS - raw(pm_sim, key, f"/v1/payment_intents/{intent.id}").keys()


def test_a_declined_card_leaves_a_failed_payment_the_client_reads(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(pm_sim, monkeypatch, pm_sim.keys.test_secret)
    intent, method, attached = pay(card=DECLINED)
    assert attached.status == "awaiting_payment_method"
    assert attached.last_payment_error["payment_method"] == method.id
    payment_id = paymongo.PaymentIntent.retrieve(intent.id).payments[0]["id"]
    payment = paymongo.Payment.retrieve(payment_id)
    assert payment.status == "failed" and payment.paid_at is None
    assert (payment.fee, payment.net_amount) == (0, 0)


def test_test_mode_refunds_are_refused_as_an_invalid_request(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(pm_sim, monkeypatch, pm_sim.keys.test_secret)
    intent, _, _ = pay()
    payment_id = paymongo.PaymentIntent.retrieve(intent.id).payments[0]["id"]
    with pytest.raises(paymongo.InvalidRequestException):
        paymongo.Refund.create(
            {"amount": 10000, "payment_id": payment_id, "reason": "requested_by_customer"}
        )


def test_the_official_client_refunds_a_live_payment(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PayMongo refunds live payments only, and live card payments go through 3-D Secure:
    the simulator's authorize page stands in for the cardholder."""
    key = pm_sim.keys.live_secret
    use(pm_sim, monkeypatch, key)
    intent, _, attached = pay(20000)
    assert attached.status == "awaiting_next_action" and attached.livemode is True
    page = attached.next_action["redirect"]["url"]
    r = httpx.post(page, data={"action": "authorize"})
    assert r.status_code == 200, r.text
    payment_id = paymongo.PaymentIntent.retrieve(intent.id).payments[0]["id"]
    payment = paymongo.Payment.retrieve(payment_id)
    assert payment.status == "paid" and payment.livemode is True
    assert (payment.fee, payment.net_amount) == (2200, 17800)  # 3.5% + 1500 (ASSUMED rule)

    refund = paymongo.Refund.create(
        {
            "amount": 5000,
            "payment_id": payment_id,
            "reason": "requested_by_customer",
            "notes": "official client",
            "metadata": {"run": "official-client"},
        }
    )
    assert refund.payment_id == payment_id and refund.amount == 5000
    assert refund.status in ("pending", "processing", "succeeded")
    assert refund.notes == "official client" and refund.metadata == {"run": "official-client"}
    again = paymongo.Refund.retrieve(refund.id)
    assert again.id == refund.id and again.reason == "requested_by_customer"
    assert again.currency == "PHP" and again.livemode is True
    assert not REFUND_MEMBERS - raw(pm_sim, key, f"/v1/refunds/{refund.id}").keys()

    refunded = paymongo.Payment.retrieve(payment_id)
    assert [r.id for r in refunded.refunds] == [refund.id]


def test_the_official_client_creates_lists_and_retrieves_webhooks(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(pm_sim, monkeypatch, pm_sim.keys.test_secret)
    url = f"https://example.com/hooks/{uuid.uuid4().hex}"
    hook = paymongo.Webhook.create({"url": url, "events": ["payment.paid", "payment.failed"]})
    assert hook.id.startswith("hook_") and hook.url == url
    assert hook.status == "enabled" and hook.livemode is False
    assert hook.secret_key
    assert sorted(hook.events) == ["payment.failed", "payment.paid"]
    listing = paymongo.Webhook.all()
    assert hook.id in [h.id for h in listing.data] and listing.has_more is False
    fetched = paymongo.Webhook.retrieve(hook.id)
    assert (fetched.id, fetched.url, fetched.status) == (hook.id, url, "enabled")


def test_the_official_client_disables_enables_and_updates_a_webhook(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhook.disable, Webhook.enable (POST with the client's empty attributes) and
    Webhook.update (PUT), each answered with the whole webhook resource."""
    use(pm_sim, monkeypatch, pm_sim.keys.test_secret)
    url = f"https://example.com/hooks/{uuid.uuid4().hex}"
    hook = paymongo.Webhook.create({"url": url, "events": ["payment.paid"]})
    off = paymongo.Webhook.disable(hook.id)
    assert (off.id, off.status, off.url) == (hook.id, "disabled", url)
    assert paymongo.Webhook.retrieve(hook.id).status == "disabled"
    assert [h.status for h in paymongo.Webhook.all().data if h.id == hook.id] == ["disabled"]
    on = paymongo.Webhook.enable(hook.id)
    assert (on.id, on.status) == (hook.id, "enabled")
    changed = paymongo.Webhook.update(hook.id, {"events": ["payment.paid", "payment.failed"]})
    assert sorted(changed.events) == ["payment.failed", "payment.paid"]
    assert changed.status == "enabled" and changed.secret_key
    assert paymongo.Webhook.retrieve(hook.id).events == changed.events


def test_the_official_client_pays_with_a_two_digit_expiry_year(
    pm_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PayMongo's payment method example carries `"exp_year": 24`: a two-digit year."""
    use(pm_sim, monkeypatch, pm_sim.keys.test_secret)
    method = paymongo.PaymentMethod.create(
        {
            "type": "card",
            "details": {"card_number": "5123000000000002", "exp_month": 1, "exp_year": 35},
            "billing": BILLING,
        }
    )
    assert method.details["exp_year"] == 35
    intent = paymongo.PaymentIntent.create(
        {"amount": 10000, "currency": "PHP", "payment_method_allowed": ["card"]}
    )
    attached = paymongo.PaymentIntent.attach(intent.id, {"payment_method": method.id})
    assert attached.status == "succeeded"
    payment = paymongo.Payment.retrieve(attached.payments[0]["id"])
    assert payment.status == "paid" and payment.source["last4"] == "0002"
