"""Subscriptions on a test clock through Stripe's official library: the clock advances
asynchronously (`advancing`, then `ready`), at most two intervals at a time, renews only
its own customers' subscriptions, and the renewal's invoice is paid an hour of clock time
after the period ends; cancel sends customer.subscription.deleted; deleting the clock
deletes its customers. Webhooks verified with `stripe.Webhook.construct_event`.
"""

from __future__ import annotations

import time

import pytest
import stripe

from rehearsal.session.sim_control import SimulatorControl
from rehearsal.simulator.server import Simulator
from tests.stripe_sim_support import StripeInbox, inbox, st, st_sim, wait_until  # noqa: F401

DAY = 86400
EVENTS = [
    "customer.subscription.created", "invoice.paid", "invoice.created",
    "customer.subscription.deleted", "test_helpers.test_clock.ready",
]  # fmt: skip


def subscribe(st: stripe.StripeClient, clock: str, pm: str = "pm_card_visa") -> stripe.Subscription:  # noqa: F811
    customer = st.v1.customers.create(params={
        "test_clock": clock, "payment_method": pm,
        "invoice_settings": {"default_payment_method": pm},
        "metadata": {"rehearsal_run": "r1"},
    })  # fmt: skip
    price = st.v1.prices.create(params={
        "currency": "usd", "unit_amount": 700, "recurring": {"interval": "day"},
        "product_data": {"name": "Rehearsal plan"},
    })  # fmt: skip
    return st.v1.subscriptions.create(params={
        "customer": customer.id, "items": [{"price": price.id}],
        "metadata": {"rehearsal_run": "r1", "rehearsal_step": "subscribe"},
    })  # fmt: skip


def ready(st: stripe.StripeClient, clock_id: str) -> stripe.test_helpers.TestClock:  # noqa: F811
    return wait_until(
        lambda: (c := st.v1.test_helpers.test_clocks.retrieve(clock_id)).status == "ready" and c,
        what="ready clock",
    )


def test_a_renewal_through_a_test_clock(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
    inbox: StripeInbox,  # noqa: F811
) -> None:
    endpoint = st.v1.webhook_endpoints.create(params={"url": inbox.url, "enabled_events": EVENTS})
    inbox.secret = str(endpoint.secret)
    start = int(time.time())
    clock = st.v1.test_helpers.test_clocks.create(params={"frozen_time": start, "name": "r1"})
    assert isinstance(clock, stripe.test_helpers.TestClock) and clock.status == "ready"
    sub = subscribe(st, clock.id)
    assert isinstance(sub, stripe.Subscription) and sub.status == "active"
    item = sub["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (start, start + DAY)
    assert inbox.wait_for("customer.subscription.created", sub.id).data.object["status"] == "active"
    first = st.v1.invoices.retrieve(str(sub.latest_invoice), params={"expand": ["payments"]})
    assert first.status == "paid" and first.billing_reason == "subscription_create"

    # More than two intervals of the shortest subscription: refused, nothing moves.
    with pytest.raises(stripe.InvalidRequestError) as caught:
        st.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": start + 3 * DAY})
    assert caught.value.param == "frozen_time"

    # Just past the period end: the renewal's invoice is a draft, paid an hour later.
    moving = st.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": start + DAY + 60}
    )
    assert moving.status == "advancing"
    assert moving.status_details.advancing.target_frozen_time == start + DAY + 60  # type: ignore[union-attr]
    inbox.wait_for("test_helpers.test_clock.ready", clock.id)
    draft = wait_until(
        lambda: next(
            (
                e.data.object
                for e in list(inbox.events)
                if e.type == "invoice.created"
                and e.data.object["billing_reason"] == "subscription_cycle"
            ),
            None,
        ),
        what="renewal",
    )
    assert draft["status"] == "draft"
    assert st.v1.invoices.retrieve(draft["id"]).status == "draft"
    assert "invoice.paid" not in [
        e.type for e in inbox.events if e.data.object["id"] == draft["id"]
    ]
    st.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": start + DAY + 3700})
    paid = inbox.wait_for("invoice.paid", draft["id"]).data.object
    assert paid["amount_paid"] == 700
    assert paid["parent"]["subscription_details"]["subscription"] == sub.id
    ready(st, clock.id)
    renewed = st.v1.subscriptions.retrieve(sub.id)
    assert renewed["items"].data[0].current_period_end == start + 2 * DAY
    control = SimulatorControl(f"http://127.0.0.1:{st_sim.port}", st_sim.keys.test_secret)
    books = control.books()  # the provider's books, as the rehearsal reads them
    control.close()
    assert [p["amount"] for p in books["payments"]] == [700, 700]
    assert [(s["id"], s["status"], s["renewals"]) for s in books["subscriptions"]] == [
        (sub.id, "active", 1)
    ]

    cancelled = st.v1.subscriptions.cancel(sub.id)
    assert cancelled.status == "canceled" and cancelled.canceled_at == start + DAY + 3700
    inbox.wait_for("customer.subscription.deleted", sub.id)
    assert st.v1.subscriptions.list(params={"customer": sub.customer}).data == []
    assert (
        len(st.v1.subscriptions.list(params={"customer": sub.customer, "status": "all"}).data) == 1
    )


def test_an_advance_renews_only_its_own_clocks_subscriptions(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    now = int(time.time())
    mine = st.v1.test_helpers.test_clocks.create(params={"frozen_time": now})
    theirs = st.v1.test_helpers.test_clocks.create(params={"frozen_time": now})
    a, b = subscribe(st, mine.id), subscribe(st, theirs.id)
    st.v1.test_helpers.test_clocks.advance(mine.id, params={"frozen_time": now + 2 * DAY})
    ready(st, mine.id)
    paid_a = st.v1.invoices.list(params={"subscription": a.id, "status": "paid"}).data
    paid_b = st.v1.invoices.list(params={"subscription": b.id, "status": "paid"}).data
    assert len(paid_a) == 2 and len(paid_b) == 1  # two renewals' worth of time; one paid
    assert st.v1.test_helpers.test_clocks.retrieve(theirs.id).frozen_time == now


def test_a_declined_renewal_leaves_the_subscription_past_due(tmp_path: object) -> None:
    from pathlib import Path

    from rehearsal.simulator.faults import Faults
    from tests.stripe_sim_support import client

    assert isinstance(tmp_path, Path)
    sim = Simulator(
        tmp_path / "s.sqlite",
        dialect="stripe",
        time_scale=0.01,
        faults=Faults.parse(["fail-renewal"]),
    )
    sim.start()
    try:
        st = client(sim)
        now = int(time.time())
        clock = st.v1.test_helpers.test_clocks.create(params={"frozen_time": now})
        sub = subscribe(st, clock.id)
        st.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": now + DAY + 3601})
        ready(st, clock.id)
        assert st.v1.subscriptions.retrieve(sub.id).status == "past_due"
        failed = st.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).data
        assert len(failed) == 1 and failed[0].attempt_count == 1
    finally:
        sim.stop()


def test_a_clock_holds_three_customers_and_deleting_it_deletes_them(
    st: stripe.StripeClient,  # noqa: F811
    st_sim: Simulator,  # noqa: F811
) -> None:
    clock = st.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    sub = subscribe(st, clock.id)
    for _ in range(2):
        st.v1.customers.create(params={"test_clock": clock.id})
    with pytest.raises(stripe.InvalidRequestError):
        st.v1.customers.create(params={"test_clock": clock.id})
    gone = st.v1.test_helpers.test_clocks.delete(clock.id)
    assert gone.deleted
    for call in (
        lambda: st.v1.customers.retrieve(str(sub.customer)),
        lambda: st.v1.subscriptions.retrieve(sub.id),
        lambda: st.v1.test_helpers.test_clocks.retrieve(clock.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            call()
        assert caught.value.code == "resource_missing"
    # The money that moved stays in the provider's books.
    assert [p["status"] for p in st_sim.books.summary()["payments"]] == ["succeeded"]


def test_a_subscription_needs_a_payment_method_attached_to_its_customer(
    st: stripe.StripeClient,  # noqa: F811
) -> None:
    customer = st.v1.customers.create(params={"email": "a@example.com"})
    price = st.v1.prices.create(params={
        "currency": "usd", "unit_amount": 700, "recurring": {"interval": "day"},
        "product_data": {"name": "p"}})  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError):
        st.v1.subscriptions.create(params={
            "customer": customer.id, "items": [{"price": price.id}],
            "default_payment_method": "pm_card_visa"})  # fmt: skip
    pm = st.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    sub = st.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "default_payment_method": pm.id,
        }
    )
    assert sub.status == "active"
