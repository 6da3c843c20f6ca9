"""Per-subscription clocks and failing renewals (past_due), in both simulator dialects.

A clock advance (MintCash's advance, PayMongo's test_cycle) concerns its own subscription:
two runs sharing one standalone simulator never get each other's renewals. A renewal whose
charge fails (the `fail-renewal` fault switch; PayMongo's 5123000000000001, documented as
"activation ok, recurring payment fails") leaves a failed payment, the subscription
past_due, and sends subscription.past_due (PayMongo: subscription.invoice.payment_failed
first).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rehearsal.providers.base import Provider
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.server import Simulator

CARD = {"mintcash": "pm_card_visa", "paymongo": "test:visa"}
AMOUNT = {"mintcash": 900, "paymongo": 20000}
CURRENCY = {"mintcash": "USD", "paymongo": "PHP"}


@pytest.fixture(params=["mintcash", "paymongo"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "books.sqlite", dialect=request.param, time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def provider(sim: Simulator) -> Iterator[Provider]:
    base = f"http://127.0.0.1:{sim.port}"
    adapter: MintCash | PayMongo
    if sim.dialect.name == "mintcash":
        adapter = MintCash(
            api_base=base,
            secret_key=sim.keys.test_secret,
            webhook_secrets=[sim.keys.webhook_secret],
            environment="test",
            backoff=0.01,
        )
    else:
        adapter = PayMongo(
            api_base=base,
            secret_key=sim.keys.test_secret,
            webhook_secrets=[],
            environment="test",
            backoff=0.01,
            poll_interval=0.02,
        )
    yield adapter
    adapter.close()


def subscribe(sim: Simulator, provider: Provider, key: str, card: str | None = None) -> Any:
    name = sim.dialect.name
    return provider.subscribe(
        idempotency_key=key,
        amount=AMOUNT[name],
        currency=CURRENCY[name],
        card=card or CARD[name],
        interval="month",
    )


def payments(sim: Simulator, sub_id: str) -> list[dict[str, Any]]:
    return [p for p in sim.books.summary()["payments"] if p["subscription_id"] == sub_id]


def event_types(sim: Simulator, object_id: str) -> list[str]:
    rows = sim.books.all("SELECT type FROM events WHERE object_id = ? ORDER BY seq", object_id)
    return [r["type"] for r in rows]


def test_an_advance_renews_its_own_subscription_only(sim: Simulator, provider: Provider) -> None:
    mine = subscribe(sim, provider, "rh-run-a-sub")
    theirs = subscribe(sim, provider, "rh-run-b-sub")
    assert provider.advance_clock(mine.id, idempotency_key="rh-run-a-renewal")
    assert [p["status"] for p in payments(sim, mine.id)] == ["succeeded", "succeeded"]
    assert [p["status"] for p in payments(sim, theirs.id)] == ["succeeded"]
    assert provider.retrieve("subscription", theirs.id).status == "active"
    # The other run's own advance renews its subscription once, and still not mine.
    assert provider.advance_clock(theirs.id, idempotency_key="rh-run-b-renewal")
    assert len(payments(sim, theirs.id)) == 2
    assert len(payments(sim, mine.id)) == 2
    # Each subscription's period moved on its own clock.
    row = sim.books.one("SELECT clock_offset FROM subscriptions WHERE id = ?", mine.id)
    assert row is not None and row["clock_offset"] > 0
    assert sim.books.one("SELECT value FROM meta WHERE key = 'clock_offset'") is None


def test_two_advances_renew_twice_and_the_scheduler_renews_nothing_early(
    sim: Simulator, provider: Provider
) -> None:
    mine = subscribe(sim, provider, "rh-run-c-sub")
    other = subscribe(sim, provider, "rh-run-d-sub")
    assert provider.advance_clock(mine.id, idempotency_key="rh-run-c-r1")
    assert provider.advance_clock(mine.id, idempotency_key="rh-run-c-r2")
    assert len(payments(sim, mine.id)) == 3
    assert sim.books.run_due_renewals() == 0  # nothing else fell due on anyone's clock
    assert len(payments(sim, other.id)) == 1
    next_at = sim.books.next_renewal_at()
    assert next_at is not None and next_at > sim.books.now() + 20 * 86400


def test_the_fault_switch_fails_a_renewal_and_the_subscription_goes_past_due(
    sim: Simulator, provider: Provider
) -> None:
    failing = subscribe(sim, provider, "rh-run-e-sub")
    healthy = subscribe(sim, provider, "rh-run-f-sub")
    sim.faults.add(f"fail-renewal:{failing.id}")
    assert provider.advance_clock(failing.id, idempotency_key="rh-run-e-renewal")
    assert provider.advance_clock(healthy.id, idempotency_key="rh-run-f-renewal")
    assert [p["status"] for p in payments(sim, failing.id)] == ["succeeded", "failed"]
    assert [p["status"] for p in payments(sim, healthy.id)] == ["succeeded", "succeeded"]
    sub = provider.retrieve("subscription", failing.id)
    assert sub.status == "past_due"
    assert provider.retrieve("subscription", healthy.id).status == "active"
    kinds = event_types(sim, failing.id)
    assert kinds[-1] == "subscription.past_due"
    if sim.dialect.name == "paymongo":
        assert kinds[-2] == "subscription.invoice.payment_failed"
    # A past_due subscription is cancelled like any other.
    assert provider.cancel(subscription_id=failing.id, reason="other").status == "cancelled"


def test_paymongo_5123000000000001_activates_then_fails_its_renewal(
    sim: Simulator, provider: Provider
) -> None:
    if sim.dialect.name != "paymongo":
        pytest.skip("a PayMongo test card")
    sub = subscribe(sim, provider, "rh-run-g-sub", card="test:mastercard_3ds")
    assert sub.status == "active"
    assert provider.advance_clock(sub.id, idempotency_key="rh-run-g-renewal")
    assert provider.retrieve("subscription", sub.id).status == "past_due"
    assert [p["status"] for p in payments(sim, sub.id)] == ["succeeded", "failed"]
    rows = sim.books.all("SELECT payload FROM events WHERE object_id = ? ORDER BY seq", sub.id)
    bodies = [json.loads(r["payload"])["data"]["attributes"] for r in rows]
    failed = next(b for b in bodies if b["type"] == "subscription.invoice.payment_failed")
    assert failed["data"]["type"] == "invoice"
    assert failed["data"]["attributes"]["status"] == "open"
    assert bodies[-1]["type"] == "subscription.past_due"
    assert bodies[-1]["data"]["attributes"]["status"] == "past_due"


def test_fail_renewal_specs_parse() -> None:
    faults = Faults.parse(["fail-renewal", "fail-renewal:sub_a*=card_declined"])
    assert faults.renewal_failure("sub_abc") == "insufficient_funds"  # the first that matches
    only = Faults.parse(["fail-renewal:sub_a*=card_declined"])
    assert only.renewal_failure("sub_abc") == "card_declined"
    assert only.renewal_failure("sub_xyz") is None
    with pytest.raises(FaultSpecError):
        Faults.parse(["fail-renewal:sub_a=Bad Code"])
