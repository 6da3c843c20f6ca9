"""PayMongo refunds in the simulator, as PayMongo documents them: `ref_` ids, created
`pending`, settled later to `succeeded` (or `failed` with the `fail-refund` switch), each
settling sent as `payment.refund.updated` (and `payment.refunded` when it succeeded), both
carrying the payment, whose status stays `paid` and whose `refunds` list shows each refund.
Test mode refuses refunds unless the `test-refunds` switch is on. Over real HTTP on
127.0.0.1, with a real receiver verifying each delivery's signature."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rehearsal.ledger.db import StateDB
from rehearsal.providers.base import NormalizedEvent
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.receiver.endpoint import Receiver
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.server import Simulator

WAIT = 15.0  # seconds: a deadline, never a sleep


class World:
    def __init__(self, sim: Simulator, adapter: PayMongo, receiver: Receiver) -> None:
        self.sim, self.adapter, self.receiver = sim, adapter, receiver
        self.base = f"http://127.0.0.1:{sim.port}"
        self.auth = (sim.keys.test_secret, "")

    def charge(self, key: str = "rh-run-charge", amount: int = 20000) -> str:
        payment = self.adapter.create_payment(
            idempotency_key=key, amount=amount, currency="PHP", card="test:visa"
        )
        return payment.id

    def refund(self, payment_id: str, amount: int, key: str | None = None) -> httpx.Response:
        body = {"data": {"attributes": {"amount": amount, "payment_id": payment_id}}}
        body["data"]["attributes"]["reason"] = "requested_by_customer"
        headers = {"Idempotency-Key": key} if key else {}
        return httpx.post(f"{self.base}/v1/refunds", json=body, auth=self.auth, headers=headers)

    def get(self, path: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.base}{path}", auth=self.auth)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def event(self, provider_type: str, payment_id: str) -> NormalizedEvent:
        hit = self.receiver.hub.wait_for(
            lambda e: (
                e.provider_type == provider_type
                and e.object is not None
                and e.object.id == payment_id
            ),
            time.monotonic() + WAIT,
        )
        assert hit is not None, f"no {provider_type} for {payment_id}"
        return hit[1]

    def refund_settled(self, refund_id: str) -> dict[str, Any]:
        """The refund, retrieved once a signed event shows it no longer pending."""
        hit = self.receiver.hub.wait_for(
            lambda e: (
                e.object is not None
                and dict(e.object.refund_statuses).get(refund_id, "pending") != "pending"
            ),
            time.monotonic() + WAIT,
        )
        assert hit is not None, f"{refund_id} never settled"
        attributes: dict[str, Any] = self.get(f"/v1/refunds/{refund_id}")["attributes"]
        return attributes


def world(tmp_path: Path, specs: list[str], time_scale: float = 0.01) -> Iterator[World]:
    sim = Simulator(
        tmp_path / "paymongo.sqlite",
        dialect="paymongo",
        faults=Faults.parse(specs),
        time_scale=time_scale,
    )
    sim.start()
    adapter = PayMongo(
        api_base=f"http://127.0.0.1:{sim.port}",
        secret_key=sim.keys.test_secret,
        webhook_secrets=[],
        environment="test",
        backoff=0.01,
        poll_interval=0.02,
    )
    store = StateDB(tmp_path / "state.sqlite")
    receiver = Receiver(adapter.verify_webhook, environment="test", store=store, run_id="r1")
    url = receiver.start()
    # Through PayMongo's own webhook API, for both of its refund events.
    adapter.register_webhook(url, ["payment.refunded"])
    try:
        yield World(sim, adapter, receiver)
    finally:
        receiver.request_stop()
        receiver.stop()
        adapter.close()
        store.close()
        sim.stop()


@pytest.fixture
def refunding(tmp_path: Path) -> Iterator[World]:
    yield from world(tmp_path, ["test-refunds"])


def test_test_mode_refunds_are_refused_by_default(tmp_path: Path) -> None:
    for w in world(tmp_path, []):
        answer = w.refund(w.charge(), 20000)
        assert answer.status_code == 400
        assert answer.json()["errors"][0] == {
            "code": "refund_not_allowed",
            "detail": "Only live transactions can be refunded.",
        }
        assert w.sim.books.summary()["refunds"] == []


def test_a_refund_is_pending_then_succeeds_and_both_events_carry_the_payment(
    tmp_path: Path,
) -> None:
    # A slower clock (0.5 s pending) so the pending refund can be seen before it settles.
    for w in world(tmp_path, ["test-refunds"], time_scale=0.25):
        payment_id = w.charge()
        answer = w.refund(payment_id, 20000, key="rh-run-refund")
        assert answer.status_code == 200, answer.text
        refund = answer.json()["data"]
        assert refund["type"] == "refund" and refund["id"].startswith("ref_")
        a = refund["attributes"]
        assert (a["status"], a["amount"], a["payment_id"]) == ("pending", 20000, payment_id)
        assert (a["balance_transaction_id"], a["refunded_at"]) == (None, None)
        listed = w.get(f"/v1/payments/{payment_id}")["attributes"]
        assert listed["status"] == "paid"
        assert [(r["id"], r["attributes"]["status"]) for r in listed["refunds"]] == [
            (refund["id"], "pending")
        ]

        updated = w.event("payment.refund.updated", payment_id)
        refunded = w.event("payment.refunded", payment_id)
        for event in (updated, refunded):
            data = event.payload["data"]["attributes"]["data"]
            assert data["type"] == "payment" and data["attributes"]["status"] == "paid"
            assert [
                (r["id"], r["attributes"]["status"]) for r in data["attributes"]["refunds"]
            ] == [(refund["id"], "succeeded")]
        # The rehearsal's name for both: the refund succeeded.
        assert (updated.type, refunded.type) == ("payment.refunded", "payment.refunded")
        done = w.get(f"/v1/refunds/{refund['id']}")["attributes"]
        assert done["status"] == "succeeded"
        assert done["balance_transaction_id"] and done["refunded_at"] is not None
        assert done["updated_at"] >= done["created_at"]
        assert w.get(f"/v1/payments/{payment_id}")["attributes"]["status"] == "paid"
        [books] = w.sim.books.summary()["payments"]
        assert (books["amount_refunded"], books["status"]) == (20000, "refunded")


def test_fail_refund_settles_failed_sends_only_the_update_and_gives_the_amount_back(
    tmp_path: Path,
) -> None:
    for w in world(tmp_path, ["test-refunds", "fail-refund:*-refund"]):
        payment_id = w.charge()
        first = w.refund(payment_id, 20000, key="rh-run-refund").json()["data"]
        assert first["attributes"]["status"] == "pending"
        updated = w.event("payment.refund.updated", payment_id)
        assert updated.type == "payment.refund_failed"
        assert updated.object is not None
        assert dict(updated.object.refund_statuses) == {first["id"]: "failed"}
        assert w.refund_settled(first["id"])["status"] == "failed"
        assert w.get(f"/v1/payments/{payment_id}")["attributes"]["status"] == "paid"
        [books] = w.sim.books.summary()["payments"]
        assert books["amount_refunded"] == 0  # the books gave the amount back

        # Another key (cleanup's) is not switched: the whole amount can be refunded again.
        second = w.refund(payment_id, 20000, key="rh-run-refund-cleanup-x").json()["data"]
        assert w.refund_settled(second["id"])["status"] == "succeeded"
        refunded = w.event("payment.refunded", payment_id)
        assert refunded.object is not None
        assert dict(refunded.object.refund_statuses) == {
            first["id"]: "failed",
            second["id"]: "succeeded",
        }
        assert refunded.object.amount_refunded == 20000
        # No payment.refunded was ever sent for the failed one.
        assert [
            e.provider_type
            for e in w.receiver.hub.events()
            if e.provider_type.startswith("payment.ref")
        ] == ["payment.refund.updated", "payment.refund.updated", "payment.refunded"]


def test_a_pending_refund_counts_against_what_is_left(refunding: World) -> None:
    payment_id = refunding.charge()
    assert refunding.refund(payment_id, 15000).status_code == 200
    over = refunding.refund(payment_id, 6000)
    assert over.status_code == 400
    error = over.json()["errors"][0]
    assert (error["code"], error["source"]["attribute"]) == ("parameter_above_maximum", "amount")
    assert refunding.refund(payment_id, 5000).status_code == 200


def test_the_adapter_reads_each_refunds_status_from_the_payment(refunding: World) -> None:
    payment_id = refunding.charge()
    refund = refunding.adapter.refund(
        idempotency_key="rh-run-refund", payment_id=payment_id, amount=None
    )
    assert (refund.kind, refund.status, refund.amount) == ("refund", "pending", 20000)
    assert refund.id.startswith("ref_")
    assert refunding.refund_settled(refund.id)["status"] == "succeeded"
    payment = refunding.adapter.retrieve("payment", payment_id)
    assert (payment.status, payment.amount_refunded, payment.refund_statuses) == (
        "succeeded",  # PayMongo's `paid`: a refund does not change a payment's status
        20000,
        ((refund.id, "succeeded"),),
    )
    assert refunding.adapter.retrieve("refund", refund.id).status == "succeeded"


def test_refund_switches_parse_and_match() -> None:
    faults = Faults.parse(["fail-refund:*-refund", "test-refunds"])
    assert faults.test_refunds and faults.failed_refunds == ["*-refund"]
    assert faults.refund_fails("ref_1", "pay_1", "rh-run-refund")
    assert not faults.refund_fails("ref_1", "pay_1", "rh-run-refund-cleanup-pay_1-20000")
    assert not faults.refund_fails("ref_1", "pay_1", None)
    every = Faults.parse(["fail-refund"])
    assert every.refund_fails("ref_9", None, None) and not every.test_refunds
    assert not Faults().refund_fails("ref_1", "pay_1", "k") and not Faults().test_refunds
    with pytest.raises(FaultSpecError, match=r"fail-refund\[:GLOB\], test-refunds"):
        Faults.parse(["test-refund"])


def test_a_pending_refund_is_reported_as_pending_not_only_as_refunded(tmp_path: Path) -> None:
    """The provider's books say the refund is on its way; the ledger's money says the same:
    counted as refunded (it cannot be cancelled), and shown as still pending."""
    from rehearsal.ledger.totals import run_totals

    for w in world(tmp_path, ["test-refunds"], time_scale=10.0):  # pending for ~20 s
        payment_id = w.charge()
        refund = w.adapter.refund(
            idempotency_key="rh-run-refund", payment_id=payment_id, amount=None
        )
        payment = w.adapter.retrieve("payment", payment_id)
        assert dict(payment.refund_statuses)[refund.id] == "pending"
        assert (payment.amount_refunded, payment.amount_refund_pending) == (20000, 20000)
        store = StateDB(tmp_path / "ledger.sqlite")
        try:
            store.observe("run-p", payment, "charge")
            m = run_totals(store, "run-p")
            assert (m["charged"], m["refunded"], m["refunds_pending"]) == (20000, 20000, 20000)
            assert m["outstanding"] == 0
        finally:
            store.close()
