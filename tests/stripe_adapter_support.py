"""The Stripe adapter against the simulator's Stripe dialect, both real, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rehearsal.providers.stripe.adapter import Stripe
from rehearsal.simulator.server import Simulator

TIME_SCALE = 0.01


def stripe_simulator(tmp_path: Path) -> Simulator:
    sim = Simulator(tmp_path / "stripe.sqlite", dialect="stripe", time_scale=TIME_SCALE)
    sim.start()
    return sim


def adapter_for(sim: Simulator, **kwargs: object) -> Stripe:
    return Stripe(
        api_base=f"http://127.0.0.1:{sim.port}",
        secret_key=sim.keys.test_secret,
        webhook_secrets=[sim.keys.webhook_secret],
        environment="test",
        backoff=0.01,
        **kwargs,  # type: ignore[arg-type]
    )


def running(tmp_path: Path) -> Iterator[tuple[Simulator, Stripe]]:
    sim = stripe_simulator(tmp_path)
    adapter = adapter_for(sim)
    try:
        yield sim, adapter
    finally:
        adapter.close()
        sim.stop()
