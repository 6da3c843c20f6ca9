"""The Stripe adapter against the simulator's Stripe dialect, both real, on 127.0.0.1.

Until the dialect branch exports `DIALECT` (the name main's simulator finds a dialect by),
`stripe_simulator` sets it here, and gives the dialect's clocks the simulator's time scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rehearsal.providers.stripe.adapter import Stripe
from rehearsal.simulator import stripe_dialect
from rehearsal.simulator.server import Simulator

TIME_SCALE = 0.01


def stripe_simulator(tmp_path: Path) -> Simulator:
    if not hasattr(stripe_dialect, "DIALECT"):
        stripe_dialect.DIALECT = stripe_dialect.StripeDialect  # type: ignore[attr-defined]
    sim = Simulator(tmp_path / "stripe.sqlite", dialect="stripe", time_scale=TIME_SCALE)
    if hasattr(sim.dialect, "time_scale"):
        sim.dialect.time_scale = TIME_SCALE
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
