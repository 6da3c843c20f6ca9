"""The Stripe adapter against the simulator's Stripe dialect (both real, on 127.0.0.1), and
its signatures checked against Stripe's official library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rehearsal.providers.base import (
    KeyLookupUnsupported,
    MalformedEvent,
    NormalizedEvent,
    WebhookRegistrar,
)
from rehearsal.providers.signatures import SignatureError
from rehearsal.providers.stripe.adapter import Stripe
from rehearsal.providers.stripe.form import encode
from rehearsal.simulator.server import Simulator
from tests.stripe_adapter_support import adapter_for, running

RUN = "20260101-000000-aaaaaaaaaaaaaaaaaaaa"


def key(step: str) -> str:
    return f"rh-{RUN}-{step}"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Simulator, Stripe]]:
    yield from running(tmp_path)


def test_form_bodies_use_brackets_and_indexes() -> None:
    assert encode(
        {"metadata": {"rehearsal_run": "r"}, "items": [{"price": "p"}], "confirm": True, "x": None}
    ) == {"metadata[rehearsal_run]": "r", "items[0][price]": "p", "confirm": "true"}


def test_charge_partial_and_full_refund_in_stripes_books(pair: tuple[Simulator, Stripe]) -> None:
    _, stripe = pair
    paid = stripe.create_payment(
        idempotency_key=key("charge"), amount=500, currency="USD", card="pm_card_visa"
    )
    assert (paid.status, paid.amount, paid.currency, paid.card_last4) == (
        "succeeded",
        500,
        "usd",
        "4242",
    )
    part = stripe.refund(idempotency_key=key("part"), payment_id=paid.id, amount=200)
    assert (part.kind, part.amount, part.payment_id) == ("refund", 200, paid.id)
    after = stripe.retrieve("payment", paid.id)
    assert (after.status, after.amount_refunded, after.refund_ids) == (
        "partially_refunded",
        200,
        (part.id,),
    )
    rest = stripe.refund(idempotency_key=key("rest"), payment_id=paid.id, amount=None)
    assert rest.amount == 300
    final = stripe.retrieve("payment", paid.id)
    assert (final.status, final.amount_refunded) == ("refunded", 500)
    assert set(final.refund_ids) == {part.id, rest.id}


def test_a_refund_stripe_still_has_pending_is_reported_as_pending(
    pair: tuple[Simulator, Stripe],
) -> None:
    _, stripe = pair
    paid = stripe.create_payment(
        idempotency_key=key("pending"), amount=700, currency="USD", card="pm_card_pendingRefund"
    )
    refund = stripe.refund(idempotency_key=key("pending_refund"), payment_id=paid.id, amount=None)
    after = stripe.retrieve("payment", paid.id)
    if stripe.retrieve("refund", refund.id).status == "pending":  # not yet settled
        assert (after.amount_refunded, after.amount_refund_pending) == (700, 700)
    settled = stripe.retrieve("payment", paid.id)
    assert settled.amount_refunded == 700
    assert settled.amount_refund_pending in (0, 700)  # 0 once Stripe settles it
    visa = stripe.create_payment(
        idempotency_key=key("plain"), amount=300, currency="USD", card="pm_card_visa"
    )
    stripe.refund(idempotency_key=key("plain_refund"), payment_id=visa.id, amount=None)
    assert stripe.retrieve("payment", visa.id).amount_refund_pending == 0


def test_a_declined_card_is_a_failed_payment_with_its_decline_code(
    pair: tuple[Simulator, Stripe],
) -> None:
    _, stripe = pair
    declined = stripe.create_payment(
        idempotency_key=key("declined"),
        amount=500,
        currency="usd",
        card=stripe.resolve_card("insufficient_funds"),
    )
    assert (declined.status, declined.failure_code) == ("failed", "insufficient_funds")


def test_3ds_card_shows_the_page_and_does_not_wait(pair: tuple[Simulator, Stripe]) -> None:
    sim, _ = pair
    shown: list[str] = []
    stripe = adapter_for(sim, on_authorize=lambda url, what: shown.append(url))
    started = time.monotonic()
    pending = stripe.create_payment(
        idempotency_key=key("three_ds"),
        amount=500,
        currency="usd",
        card="pm_card_threeDSecure2Required",
    )
    stripe.close()
    assert pending.status == "requires_action" and len(shown) == 1
    assert time.monotonic() - started < 5


def test_subscribe_renew_through_the_test_clock_then_cancel(pair: tuple[Simulator, Stripe]) -> None:
    _, stripe = pair
    sub = stripe.subscribe(
        idempotency_key=key("subscribe"),
        amount=300,
        currency="usd",
        card="pm_card_visa",
        interval="day",
    )
    assert (sub.status, sub.amount, sub.renewals) == ("active", 300, 0)
    assert len(stripe.subscription_payments(sub.id)) == 1
    assert stripe.advance_clock(sub.id, idempotency_key=key("renewal")) is True
    renewed = stripe.retrieve("subscription", sub.id)
    assert renewed.renewals > 0
    assert len(stripe.subscription_payments(sub.id)) == 2  # the first period and one renewal
    cancelled = stripe.cancel(subscription_id=sub.id)
    assert cancelled.status == "cancelled"


def test_lost_answers_are_found_through_list_calls(pair: tuple[Simulator, Stripe]) -> None:
    _, stripe = pair
    paid = stripe.create_payment(
        idempotency_key=key("charge"), amount=500, currency="usd", card="pm_card_visa"
    )
    refund = stripe.refund(idempotency_key=key("refund"), payment_id=paid.id, amount=100)
    sub = stripe.subscribe(
        idempotency_key=key("subscribe"),
        amount=300,
        currency="usd",
        card="pm_card_visa",
        interval="day",
    )
    fresh = Stripe(  # another process: nothing in memory
        api_base=f"http://127.0.0.1:{pair[0].port}",
        secret_key=pair[0].keys.test_secret,
        webhook_secrets=[],
        environment="test",
    )
    try:
        found = fresh.find_by_idempotency_key("payment", key("charge"))
        assert found is not None and found.id == paid.id
        got = fresh.find_by_idempotency_key("refund", key("refund"))
        assert got is not None and got.id == refund.id
        made = fresh.find_by_idempotency_key("subscription", key("subscribe"))
        assert made is not None and made.id == sub.id
        # The lists prove these were never made.
        assert fresh.find_by_idempotency_key("payment", key("never")) is None
        assert fresh.find_by_idempotency_key("refund", key("never")) is None
        # No clock named for the call: never made, or the clock is gone; it cannot tell.
        with pytest.raises(KeyLookupUnsupported, match="no test clock"):
            fresh.find_by_idempotency_key("subscription", key("never"))
        with pytest.raises(KeyLookupUnsupported):
            fresh.find_by_idempotency_key("payment", "not-ours")
    finally:
        fresh.close()


def test_webhook_endpoint_made_for_exactly_the_events_and_deleted(
    pair: tuple[Simulator, Stripe],
) -> None:
    _, stripe = pair
    assert isinstance(stripe, WebhookRegistrar)
    url = "https://hooks.example.com/rehearsal/abc"
    endpoint = stripe.register_webhook(url, ["payment.succeeded", "payment.refunded"])
    listed = stripe.get("/v1/webhook_endpoints")["data"]
    mine = next(e for e in listed if e["id"] == endpoint)
    assert sorted(mine["enabled_events"]) == ["charge.refunded", "payment_intent.succeeded"]
    assert "secret" not in mine  # only on create; kept in memory
    assert stripe.find_webhook(url) == endpoint
    stripe.remove_webhook(endpoint)
    assert all(e["id"] != endpoint for e in stripe.get("/v1/webhook_endpoints")["data"])


def _event(livemode: bool = False) -> bytes:
    pi = {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 500,
        "currency": "usd",
        "status": "succeeded",
        "livemode": livemode,
    }
    envelope = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "livemode": livemode,
        "created": int(time.time()),
        "data": {"object": pi},
    }
    return json.dumps(envelope).encode()


def test_signatures_made_by_stripes_library_verify(pair: tuple[Simulator, Stripe]) -> None:
    stripe_lib = pytest.importorskip("stripe")
    _, stripe = pair
    secret = "whsec_rehearsal_test_secret"
    stripe._webhook_secrets.append(secret)
    body = _event()
    now = int(time.time())
    header = stripe_lib.WebhookSignature.generate_signature_header  # Stripe's own, for tests
    signed = header(body.decode(), secret, now)
    right = signed.split("v1=")[1]
    # Stripe's own header, and one carrying a stale v1 before the right one (rotation).
    for value in (signed, f"t={now},v1={'0' * 64},v1={right}"):
        event = stripe.verify_webhook({"Stripe-Signature": value}, body)
        assert (event.type, event.provider_type) == (
            "payment.succeeded",
            "payment_intent.succeeded",
        )
        assert event.object is not None and event.object.id == "pi_1"
        assert stripe_lib.WebhookSignature.verify_header(body.decode(), value, secret)
    stale = header(body.decode(), secret, now - 301)  # past the 300 s tolerance
    with pytest.raises(SignatureError, match="older"):
        stripe.verify_webhook({"stripe-signature": stale}, body)
    with pytest.raises(SignatureError):
        stripe.verify_webhook({"Stripe-Signature": signed}, body + b" ")
    with pytest.raises(SignatureError):
        stripe.verify_webhook({"Stripe-Signature": header(body.decode(), "whsec_other", now)}, body)


def test_an_event_from_the_other_mode_is_refused(pair: tuple[Simulator, Stripe]) -> None:
    _, stripe = pair
    secret = "whsec_rehearsal_test_secret"
    stripe._webhook_secrets.append(secret)
    body = _event(livemode=True)
    from rehearsal.providers.signatures import sign

    with pytest.raises(MalformedEvent, match="live-mode event"):
        stripe.verify_webhook({"Stripe-Signature": sign(secret, body)}, body)


def test_events_api_lists_the_runs_events_oldest_first(pair: tuple[Simulator, Stripe]) -> None:
    _, stripe = pair
    since = time.time() - 5
    paid = stripe.create_payment(
        idempotency_key=key("charge"), amount=500, currency="usd", card="pm_card_visa"
    )
    deadline = time.monotonic() + 5
    found: list[NormalizedEvent] = []
    while time.monotonic() < deadline and not found:
        found = [
            e
            for e in stripe.events(since, RUN, ["payment.succeeded"])
            if e.object is not None and e.object.id == paid.id
        ]
    assert found and found[0].type == "payment.succeeded"
    assert all(
        e.provider_type == "payment_intent.succeeded"
        for e in stripe.events(since, RUN, ["payment.succeeded"])
    )


def test_live_is_refused_before_any_call(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STRIPE_SECRET_KEY": "sk_live_not_a_real_key",
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # nothing listens: a call would fail otherwise
        "REHEARSAL_HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "rehearsal", "run", "plans/stripe.yaml", "--live"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 4, out
    assert "The Stripe Services Agreement prohibits testing in live mode" in out
    assert "sandbox" in out
    assert "sk_live_not_a_real_key" not in out
    assert "Traceback" not in out
