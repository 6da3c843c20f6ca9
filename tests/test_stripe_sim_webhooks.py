"""The Stripe dialect's webhooks and Events API through Stripe's official library: endpoint
create (with its whsec_ secret), list, update, delete; each endpoint gets only the events it
enabled, signed `Stripe-Signature: t=...,v1=...` and verified by `stripe.Webhook`; events
are listed newest first with type, created and cursor filters; the fault switches apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import stripe

from rehearsal.simulator.faults import Faults
from rehearsal.simulator.server import Simulator
from rehearsal.simulator.stripe.webhooks import sign
from tests.stripe_sim_support import StripeInbox, client, inbox, st, st_sim, wait_until  # noqa: F401

# endive (2026-10-28) has no payment_method_types on PaymentIntent create: a card
# confirmed at creation without a return_url takes no redirect-based methods.
NO_REDIRECTS = {"enabled": True, "allow_redirects": "never"}
CARD = {"automatic_payment_methods": NO_REDIRECTS, "confirm": True, "currency": "usd"}


def pay(st: stripe.StripeClient, amount: int = 1000) -> stripe.PaymentIntent:  # noqa: F811
    return st.v1.payment_intents.create(
        params={"amount": amount, "payment_method": "pm_card_visa", **CARD}  # type: ignore[typeddict-item]
    )


def test_each_endpoint_gets_only_the_events_it_enabled_signed_as_stripe_signs(
    st: stripe.StripeClient,  # noqa: F811
    inbox: StripeInbox,  # noqa: F811
) -> None:
    other = StripeInbox()
    other.server.start()
    try:
        a = st.v1.webhook_endpoints.create(
            params={"url": inbox.url, "enabled_events": ["payment_intent.succeeded"]}
        )
        b = st.v1.webhook_endpoints.create(
            params={"url": other.url, "enabled_events": ["charge.refunded"]}
        )
        assert isinstance(a, stripe.WebhookEndpoint) and str(a.secret).startswith("whsec_")
        inbox.secret = other.secret = str(a.secret)
        listed = st.v1.webhook_endpoints.list()
        assert {e.id for e in listed.data} == {a.id, b.id}
        assert all("secret" not in e for e in listed.data)  # only the create answer has it
        pi = pay(st)
        st.v1.refunds.create(params={"payment_intent": pi.id})
        event = inbox.wait_for("payment_intent.succeeded", pi.id)
        assert isinstance(event, stripe.Event) and event.livemode is False
        assert event.request and event.request.id and event.request.id.startswith("req_")
        other.wait_for("charge.refunded")
        assert set(inbox.types()) == {"payment_intent.succeeded"}
        assert set(other.types()) == {"charge.refunded"}
        assert inbox.refused == [] and other.refused == []
        header = inbox.headers[0]["stripe-signature"]
        assert header.startswith("t=") and ",v1=" in header
        # Deleted: nothing more arrives there (the next payment reaches only a new endpoint).
        assert st.v1.webhook_endpoints.delete(a.id).deleted
        third = StripeInbox(secret=str(a.secret))
        third.server.start()
        try:
            st.v1.webhook_endpoints.create(
                params={"url": third.url, "enabled_events": ["payment_intent.succeeded"]}
            )
            later = pay(st, 1500)
            third.wait_for("payment_intent.succeeded", later.id)
            assert len(inbox.events) == 1
        finally:
            third.server.stop()
    finally:
        other.server.stop()


def test_a_forged_signature_is_refused_by_stripes_library(st_sim: Simulator) -> None:  # noqa: F811
    body = json.dumps({"id": "evt_x", "object": "event", "type": "charge.succeeded"}).encode()
    good = sign(st_sim.keys.webhook_secret, body)
    assert stripe.Webhook.construct_event(body, good, st_sim.keys.webhook_secret).id == "evt_x"
    forged = sign("whsec_not_the_secret", body)
    try:
        stripe.Webhook.construct_event(body, forged, st_sim.keys.webhook_secret)
    except stripe.SignatureVerificationError:
        pass
    else:
        raise AssertionError("a forged signature passed")


def test_events_are_listed_newest_first_with_filters_and_pages(st: stripe.StripeClient) -> None:  # noqa: F811
    first = pay(st, 1000)
    pay(st, 1100)
    pay(st, 1200)
    succeeded = st.v1.events.list(params={"type": "payment_intent.succeeded"})
    assert [e.data.object["amount"] for e in succeeded.data] == [1200, 1100, 1000]
    page1 = st.v1.events.list(params={"type": "payment_intent.*", "limit": 2})
    assert len(page1.data) == 2 and page1.has_more
    page2 = st.v1.events.list(
        params={"type": "payment_intent.*", "limit": 100, "starting_after": page1.data[-1].id}
    )
    all_ids = [e.id for e in page1.data + page2.data]
    assert len(all_ids) == len(set(all_ids)) == 6 and not page2.has_more
    oldest = succeeded.data[-1]
    newer = st.v1.events.list(
        params={"types": ["payment_intent.succeeded"], "created": {"gte": oldest.created}}
    )
    assert first.id in [e.data.object["id"] for e in newer.data]
    assert st.v1.events.list(params={"created": {"lt": oldest.created - 1}}).data == []
    assert st.v1.events.retrieve(oldest.id).id == oldest.id
    walked = [e.id for e in st.v1.events.list(params={"limit": 3}).auto_paging_iter()]
    assert len(walked) == len(set(walked)) == 9  # three payments, three events each


def test_delivery_faults_take_the_rehearsals_names_for_stripes_events(tmp_path: Path) -> None:
    sim = Simulator(
        tmp_path / "s.sqlite",
        dialect="stripe",
        time_scale=0.01,
        faults=Faults.parse(["drop:payment.succeeded", "duplicate:charge.refunded"]),
    )
    sim.start()
    box = StripeInbox(secret=sim.keys.webhook_secret)
    box.server.start()
    try:
        st = client(sim)
        st.v1.webhook_endpoints.create(params={"url": box.url, "enabled_events": ["*"]})
        pi = pay(st)
        st.v1.refunds.create(params={"payment_intent": pi.id})
        wait_until(lambda: box.types().count("charge.refunded") == 2, what="a duplicate")
        assert "payment_intent.succeeded" not in box.types()
        assert "charge.succeeded" not in box.types()
        ids = [e.id for e in box.events if e.type == "charge.refunded"]
        assert ids[0] == ids[1]  # a duplicate is the same event, sent twice
    finally:
        box.server.stop()
        sim.stop()
