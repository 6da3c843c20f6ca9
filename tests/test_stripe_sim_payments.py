"""The simulator's Stripe dialect driven by Stripe's official Python library: charges,
declines, 3-D Secure, refunds, idempotency, errors. The library is pointed at the simulator
by its API base only; every answer it parses is a Stripe object of the right class.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import httpx
import pytest
import stripe

from rehearsal.simulator.server import Simulator
from tests.stripe_sim_support import client, inbox, st, st_sim  # noqa: F401

# endive (2026-10-28) has no payment_method_types on PaymentIntent create: a card
# confirmed at creation without a return_url takes no redirect-based methods.
NO_REDIRECTS = {"enabled": True, "allow_redirects": "never"}
CARD = {"automatic_payment_methods": NO_REDIRECTS, "confirm": True}


def charge(
    st: stripe.StripeClient,  # noqa: F811
    pm: str = "pm_card_visa",
    **extra: object,
) -> stripe.PaymentIntent:
    params = {"amount": 2000, "currency": "usd", "payment_method": pm, **CARD, **extra}
    return st.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


def test_a_confirmed_visa_payment_succeeds_with_its_charge_in_the_books(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    pi = charge(st, metadata={"rehearsal_run": "r1", "rehearsal_step": "charge"})
    assert isinstance(pi, stripe.PaymentIntent)
    assert pi.status == "succeeded" and pi.amount_received == 2000 and not pi.livemode
    assert pi.metadata.to_dict() == {"rehearsal_run": "r1", "rehearsal_step": "charge"}
    ch = st.v1.charges.retrieve(str(pi.latest_charge))
    assert isinstance(ch, stripe.Charge) and ch.paid and ch.payment_intent == pi.id
    assert ch.payment_method_details and ch.payment_method_details.card
    assert ch.payment_method_details.card.last4 == "4242"
    assert st.v1.payment_intents.retrieve(pi.id).status == "succeeded"
    books = st_sim.books.summary()["payments"]
    assert [(p["id"], p["amount"], p["status"]) for p in books] == [(ch.id, 2000, "succeeded")]


def test_a_declined_card_is_a_402_card_error_with_its_decline_code(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    with pytest.raises(stripe.CardError) as caught:
        charge(st, "pm_card_chargeDeclinedInsufficientFunds")
    err = caught.value
    assert err.http_status == 402 and err.code == "card_declined"
    assert err.error and err.error.decline_code == "insufficient_funds"
    assert err.request_id and err.request_id.startswith("req_")
    pi = err.error.payment_intent
    assert pi is not None and pi.status == "requires_payment_method"
    assert pi.last_payment_error and pi.last_payment_error.decline_code == "insufficient_funds"
    assert st_sim.books.summary()["payments"][0]["status"] == "failed"


def test_a_3ds_card_requires_action_until_the_customer_authenticates(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    pi = charge(st, "pm_card_threeDSecure2Required", return_url="https://example.com/back")
    assert pi.status == "requires_action" and pi.latest_charge is None
    assert pi.next_action and pi.next_action.type == "redirect_to_url"
    url = pi.next_action.redirect_to_url.url  # type: ignore[union-attr]
    page = httpx.get(str(url))
    assert page.status_code == 200 and "Complete" in page.text
    assert httpx.post(str(url), data={"result": "succeed"}).status_code == 200
    assert st.v1.payment_intents.retrieve(pi.id).status == "succeeded"
    # Off-session, the same card cannot authenticate: a decline, as Stripe documents it.
    with pytest.raises(stripe.CardError) as caught:
        charge(st, "pm_card_authenticationRequired", off_session=True)
    assert caught.value.error and caught.value.error.decline_code == "authentication_required"


def test_full_and_partial_refunds_up_to_the_amount_and_no_further(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    pi = charge(st)
    part = st.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    assert isinstance(part, stripe.Refund)
    assert (part.status, part.amount, part.charge) == ("succeeded", 500, pi.latest_charge)
    rest = st.v1.refunds.create(
        params={"payment_intent": pi.id, "metadata": {"rehearsal_step": "r"}}
    )
    assert rest.amount == 1500
    ch = st.v1.charges.retrieve(str(pi.latest_charge))
    assert ch.amount_refunded == 2000 and ch.refunded
    with pytest.raises(stripe.InvalidRequestError) as caught:
        st.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})
    assert caught.value.code == "charge_already_refunded"
    listed = st.v1.refunds.list(params={"payment_intent": pi.id})
    assert {r.id for r in listed.data} == {part.id, rest.id} and not listed.has_more
    books = st_sim.books.summary()
    assert books["payments"][0]["status"] == "refunded"
    assert sorted(r["amount"] for r in books["refunds"]) == [500, 1500]


def test_a_pending_refund_settles_later_with_refund_updated(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
    inbox: object,  # noqa: F811
) -> None:
    from tests.stripe_sim_support import StripeInbox, wait_until

    assert isinstance(inbox, StripeInbox)
    created = st.v1.webhook_endpoints.create(
        params={"url": inbox.url, "enabled_events": ["refund.updated", "charge.refunded"]}
    )
    inbox.secret = str(created.secret)
    pi = charge(st, "pm_card_pendingRefund")
    refund = st.v1.refunds.create(params={"payment_intent": pi.id})
    assert refund.status == "pending"
    event = inbox.wait_for("refund.updated", refund.id)
    assert event.data.object["status"] == "succeeded"
    assert event.data.previous_attributes["status"] == "pending"
    assert wait_until(lambda: st.v1.refunds.retrieve(refund.id).status == "succeeded")
    assert inbox.wait_for("charge.refunded").data.object["amount_refunded"] == 2000


def test_idempotency_replays_the_first_answer_and_refuses_other_parameters(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    key = f"rehearsal-{uuid.uuid4()}"
    params = {"amount": 1200, "currency": "usd", "payment_method": "pm_card_visa", **CARD}
    first = st.v1.payment_intents.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
    again = st.v1.payment_intents.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
    assert again.id == first.id
    raw = httpx.post(
        f"http://127.0.0.1:{st_sim.port}/v1/payment_intents",
        data={
            "amount": "1200",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "automatic_payment_methods[enabled]": "true",
            "automatic_payment_methods[allow_redirects]": "never",
            "confirm": "true",
        },
        headers={"Authorization": f"Bearer {st_sim.keys.test_secret}", "Idempotency-Key": key},
    )
    assert raw.headers["Idempotent-Replayed"] == "true" and raw.json()["id"] == first.id
    assert raw.headers["Request-Id"].startswith("req_")
    assert len(st_sim.books.summary()["payments"]) == 1  # charged once
    with pytest.raises(stripe.IdempotencyError) as caught:
        st.v1.payment_intents.create(
            params={**params, "amount": 1300},  # type: ignore[typeddict-item]
            options={"idempotency_key": key},
        )
    assert caught.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError):
        st.v1.payment_intents.create(params=params, options={"idempotency_key": "k" * 256})  # type: ignore[arg-type]
    # A declined confirmation began its work: its 402 is saved and replayed as well.
    declined = {**params, "payment_method": "pm_card_chargeDeclined"}
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            st.v1.payment_intents.create(params=declined, options={"idempotency_key": key + "-d"})  # type: ignore[arg-type]
    assert len(st_sim.books.summary()["payments"]) == 2


def test_a_lost_answer_is_replayed_as_the_500_stripe_saved(
    tmp_path: Path,
) -> None:
    from rehearsal.simulator.faults import Faults

    sim = Simulator(
        tmp_path / "s.sqlite",
        dialect="stripe",
        faults=Faults.parse(["fail-after:POST /v1/payment_intents"]),
    )
    sim.start()
    try:
        st = client(sim, retries=2)
        params = {"amount": 900, "currency": "usd", "payment_method": "pm_card_visa", **CARD}
        with pytest.raises(stripe.APIError) as caught:
            st.v1.payment_intents.create(params=params, options={"idempotency_key": "lost-1"})  # type: ignore[arg-type]
        assert caught.value.http_status == 500
        # The money moved: the customer-less intent is in the books and in Stripe's lists.
        assert [p["amount"] for p in sim.books.summary()["payments"]] == [900]
        assert [pi.amount for pi in st.v1.payment_intents.list().data] == [900]
    finally:
        sim.stop()


def test_errors_have_stripe_shape_and_status(st: stripe.StripeClient, st_sim: Simulator) -> None:  # noqa: F811
    with pytest.raises(stripe.InvalidRequestError) as caught:
        st.v1.payment_intents.retrieve("pi_nope")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"
    with pytest.raises(stripe.AuthenticationError) as auth:
        client(st_sim, key="sk_test_wrong").v1.customers.list()
    assert auth.value.http_status == 401 and "sk_test_wrong" not in str(auth.value)
    unknown = httpx.get(
        f"http://127.0.0.1:{st_sim.port}/v1/nothing_here",
        headers={"Authorization": f"Bearer {st_sim.keys.test_secret}"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL (GET: /v1/nothing_here)" in unknown.json()["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as small:
        st.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert small.value.code == "amount_too_small" and small.value.param == "amount"


def test_a_live_key_with_a_test_card_is_declined_as_stripe_does(st_sim: Simulator) -> None:  # noqa: F811
    live = client(st_sim, key=st_sim.keys.live_secret)
    with pytest.raises(stripe.CardError) as caught:
        charge(live)
    assert caught.value.error and caught.value.error.decline_code == "test_mode_live_card"
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_700_000_000})


def test_the_stripe_dialect_imports_nothing_from_the_providers() -> None:
    folder = Path(__file__).resolve().parent.parent / "rehearsal" / "simulator"
    for path in sorted(folder.glob("stripe_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("rehearsal.providers"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("rehearsal.providers") for a in node.names)
