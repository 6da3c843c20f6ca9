"""Where the receiver's URL gets registered: through the simulator's control routes, the
provider's own API (PayMongo), or by hand (a real MintCash, whose account manager does it)."""

from __future__ import annotations

from pathlib import Path

import httpx

from rehearsal.providers.config import TargetConfig
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.session.target import Target
from rehearsal.simulator.server import Simulator


def test_a_provider_that_registers_webhooks_does_it_and_disables_them_at_close(
    tmp_path: Path,
) -> None:
    sim = Simulator(tmp_path / "paymongo.sqlite", dialect="paymongo", time_scale=0.01)
    base = sim.start()
    try:
        config = TargetConfig("paymongo", base, sim.keys.test_secret, [], "test")
        adapter = PayMongo(
            api_base=base, secret_key=sim.keys.test_secret, webhook_secrets=[], environment="test"
        )
        # No control routes: this is how a real PayMongo account is reached, through a tunnel.
        target = Target(config, adapter, "PayMongo (test)", simulated=False)
        assert target.register_webhook("https://example.test/webhooks/t0k3n", ["payment.succeeded"])
        listed = httpx.get(f"{base}/v1/webhooks", auth=(sim.keys.test_secret, "")).json()["data"]
        assert [(w["attributes"]["url"], w["attributes"]["status"]) for w in listed] == [
            ("https://example.test/webhooks/t0k3n", "enabled")
        ]
        assert listed[0]["attributes"]["events"] == ["payment.paid"]
        target.close()
        listed = httpx.get(f"{base}/v1/webhooks", auth=(sim.keys.test_secret, "")).json()["data"]
        assert [w["attributes"]["status"] for w in listed] == ["disabled"]
    finally:
        sim.stop()


def test_a_provider_without_such_an_api_is_registered_by_hand() -> None:
    config = TargetConfig("mintcash", "https://api.mintcash.invalid", "sk_test_x", ["s"], "test")
    adapter = MintCash(
        api_base=config.api_base, secret_key="sk_test_x", webhook_secrets=["s"], environment="test"
    )
    target = Target(config, adapter, "MintCash (test)", simulated=False)
    try:
        assert target.register_webhook("https://example.test/webhooks/t", ["x"]) is False
    finally:
        target.close()
