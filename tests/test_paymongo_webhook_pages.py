"""The adapter finds its webhook on any page of PayMongo's webhook list: `GET /v1/webhooks`
answers in pages (`has_more`, `after`), and an account may hold more webhooks than one page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rehearsal.providers.base import Callbacks
from rehearsal.simulator.paymongo.dialect import PayMongoDialect
from rehearsal.simulator.server import Simulator
from tests.test_paymongo_adapter import make

HOOKS = 130  # more than the 100 a page the adapter asks for


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "paymongo.sqlite", dialect="paymongo", time_scale=0.01)
    assert isinstance(simulator.dialect, PayMongoDialect)
    simulator.dialect.rate_limit = 100_000  # the set-up's creates are not what is tested
    simulator.start()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{simulator.port}", auth=(simulator.keys.test_secret, "")
    ) as api:
        for n in range(HOOKS):
            body = {"data": {"attributes": {"url": url(n), "events": ["payment.paid"]}}}
            assert api.post("/v1/webhooks", json=body).status_code == 200
    yield simulator
    simulator.stop()


def url(n: int) -> str:
    return f"https://example.com/hooks/{n}"


def test_the_adapter_pages_through_the_webhook_list(crowded: Simulator) -> None:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{crowded.port}", auth=(crowded.keys.test_secret, "")
    ) as api:
        first = api.get("/v1/webhooks", params={"limit": 100}).json()
    assert first["has_more"] is True and len(first["data"]) == 100
    first_page_urls = {h["attributes"]["url"] for h in first["data"]}
    assert url(0) not in first_page_urls  # the oldest is on the second page

    sent: list[tuple[str, str]] = []
    adapter = make(crowded, observer=Callbacks(on_send=lambda m, path: sent.append((m, path))))
    try:
        found = adapter.existing_webhook(url(0))
        assert found is not None and found.status == "enabled"
        assert sent.count(("GET", "/v1/webhooks")) == 2
        assert adapter.existing_webhook(url(HOOKS - 1)) is not None
        assert adapter.existing_webhook("https://example.com/hooks/none") is None
        assert adapter.find_webhook(url(0)) == found.endpoint_id
    finally:
        adapter.close()
