"""The simulator's PayMongo webhooks, as PayMongo documents them: one per URL, list,
retrieve, update (PUT), enable and disable; and the ledger's record of an adopted one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rehearsal.ledger.db import StateDB
from rehearsal.ledger.registrations import remove_registrations
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.simulator.server import Simulator
from tests.test_mintcash_adapter import Inbox
from tests.test_paymongo_adapter import make, pm_sim  # noqa: F401

URL = "https://example.com/webhooks/stable"


@pytest.fixture
def api(pm_sim: Simulator) -> Iterator[httpx.Client]:  # noqa: F811
    with httpx.Client(
        base_url=f"http://127.0.0.1:{pm_sim.port}", auth=(pm_sim.keys.test_secret, "")
    ) as client:
        yield client


def create(api: httpx.Client, url: str = URL, events: list[str] | None = None) -> httpx.Response:
    attributes = {"url": url, "events": events or ["payment.paid"]}
    return api.post("/v1/webhooks", json={"data": {"attributes": attributes}})


def attrs(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["attributes"])


def test_one_webhook_per_url(api: httpx.Client) -> None:
    assert create(api).status_code == 200
    again = create(api, events=["payment.failed"])
    assert again.status_code == 400
    [error] = again.json()["errors"]
    assert error["code"] == "parameter_invalid" and error["source"]["attribute"] == "url"
    assert "already exists" in error["detail"]
    assert create(api, url=URL + "/other").status_code == 200
    assert len(api.get("/v1/webhooks").json()["data"]) == 2


def test_list_retrieve_update_enable_disable(api: httpx.Client) -> None:
    hook_id = create(api).json()["data"]["id"]
    [listed] = api.get("/v1/webhooks").json()["data"]
    assert listed["id"] == hook_id and listed["attributes"]["secret_key"].startswith("whsec_")
    got = attrs(api.get(f"/v1/webhooks/{hook_id}"))
    assert (got["url"], got["events"], got["status"]) == (URL, ["payment.paid"], "enabled")
    assert got["secret_key"]  # retrieve returns it too, as the webhook resource documents
    put = {"data": {"attributes": {"events": ["payment.paid", "payment.refunded"]}}}
    assert attrs(api.put(f"/v1/webhooks/{hook_id}", json=put))["events"] == [
        "payment.paid",
        "payment.refunded",
    ]
    off = attrs(api.post(f"/v1/webhooks/{hook_id}/disable"))
    assert (off["status"], off["disabled_reason"]) == ("disabled", "disabled_by_merchant")
    assert attrs(api.post(f"/v1/webhooks/{hook_id}/disable"))["status"] == "disabled"
    on = attrs(api.post(f"/v1/webhooks/{hook_id}/enable"))
    assert (on["status"], on["disabled_reason"]) == ("enabled", None)
    assert on["events"] == ["payment.paid", "payment.refunded"]
    missing = api.post("/v1/webhooks/hook_nope/enable")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "resource_not_found"
    bad = api.put(f"/v1/webhooks/{hook_id}", json={"data": {"attributes": {"events": ["*"]}}})
    assert bad.status_code == 400  # `*` is no documented PayMongo event


def test_an_update_to_another_webhooks_url_is_refused(api: httpx.Client) -> None:
    create(api)
    other = create(api, url=URL + "/2").json()["data"]["id"]
    taken = api.put(f"/v1/webhooks/{other}", json={"data": {"attributes": {"url": URL}}})
    assert taken.status_code == 400


def test_deliveries_follow_enable_disable_and_events(
    pm_sim: Simulator,  # noqa: F811
    api: httpx.Client,
) -> None:
    """Disabled: nothing is delivered; enabled again with new events: only those."""
    inbox = Inbox()
    inbox.server.start()
    try:
        hook_id = create(api, url=f"{inbox.server.url}/hook", events=["payment.failed"]).json()[
            "data"
        ]["id"]
        adapter = make(pm_sim)
        try:
            adapter.create_payment(
                idempotency_key="k1", amount=20000, currency="PHP", card="test:visa"
            )
            time.sleep(0.5)
            assert inbox.received == []  # not subscribed to payment.paid
            api.post(f"/v1/webhooks/{hook_id}/disable")
            put = {"data": {"attributes": {"events": ["payment.paid"]}}}
            api.put(f"/v1/webhooks/{hook_id}", json=put)
            adapter.create_payment(
                idempotency_key="k2", amount=20000, currency="PHP", card="test:visa"
            )
            time.sleep(0.5)
            assert inbox.received == []  # disabled
            api.post(f"/v1/webhooks/{hook_id}/enable")
            adapter.create_payment(
                idempotency_key="k3", amount=20000, currency="PHP", card="test:visa"
            )
            deadline = time.monotonic() + 10
            while not inbox.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(inbox.received) == 1
        finally:
            adapter.close()
    finally:
        inbox.server.stop()


def test_cleanup_gives_an_adopted_webhook_back_from_the_ledger(
    pm_sim: Simulator,  # noqa: F811
    api: httpx.Client,
    tmp_path: Path,
) -> None:
    """A killed run adopted a disabled webhook: another process, with only the ledger,
    disables it again and restores its events."""
    hook_id = create(api, events=["payment.failed"]).json()["data"]["id"]
    api.post(f"/v1/webhooks/{hook_id}/disable")
    store = StateDB(tmp_path / "state.sqlite")
    killed: PayMongo = make(pm_sim)
    existing = killed.existing_webhook(URL)
    assert existing is not None and existing.status == "disabled"
    seq = store.registration_intent("r1", URL, "looking")
    store.registration_prior(seq, hook_id, existing.status, list(existing.events))
    killed.register_webhook(URL, ["payment.succeeded"], existing)
    killed._webhooks.clear()  # killed: its close() never runs
    assert attrs(api.get(f"/v1/webhooks/{hook_id}"))["status"] == "enabled"
    later = make(pm_sim)
    try:
        assert remove_registrations("r1", later, store, lambda event: None) == []
    finally:
        later.close()
    got = attrs(api.get(f"/v1/webhooks/{hook_id}"))
    assert (got["status"], got["events"]) == ("disabled", ["payment.failed"])
    assert [r["state"] for r in store.registrations("r1")] == ["removed"]
    store.close()


def test_a_run_killed_while_listing_changed_nothing(
    pm_sim: Simulator,  # noqa: F811
    api: httpx.Client,
    tmp_path: Path,
) -> None:
    hook_id = create(api).json()["data"]["id"]  # the merchant's, enabled
    store = StateDB(tmp_path / "state.sqlite")
    store.registration_intent("r1", URL, "looking")
    later = make(pm_sim)
    try:
        assert remove_registrations("r1", later, store, lambda event: None) == []
    finally:
        later.close()
    assert attrs(api.get(f"/v1/webhooks/{hook_id}"))["status"] == "enabled"
    store.close()
