"""`rehearsal simulator`: the built-in simulator as its own process.

It prints its base URL, its keys and its webhook secret: they are the simulator's own fake
credentials, printed so a merchant's handler can be pointed at it. They move no money.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from rehearsal.errors import UsageError
from rehearsal.ledger.db import state_dir as default_state_dir


def serve(
    *,
    port: int,
    provider: str,
    db: Path | None,
    state_dir: Path | None,
    time_scale: float,
    faults: list[str],
    until_stdin_closes: bool = False,
) -> int:
    from rehearsal import providers
    from rehearsal.providers import env_names
    from rehearsal.simulator.faults import Faults, FaultSpecError
    from rehearsal.simulator.server import Simulator, dialect_names, speaks

    if not speaks(provider):
        raise UsageError(
            f"the simulator does not speak {provider!r}",
            hint=f"it speaks: {', '.join(dialect_names())}",
        )
    if time_scale <= 0:
        raise UsageError("--time-scale must be greater than 0")
    try:
        parsed = Faults.parse(faults, providers.declaration_of(provider).unknown_event)
    except FaultSpecError as exc:
        raise UsageError(str(exc)) from None
    books = db or default_state_dir(state_dir) / "simulator" / f"{provider}-standalone.sqlite"
    sim = Simulator(books, dialect=provider, faults=parsed, time_scale=time_scale, port=port)
    url = sim.start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if until_stdin_closes:  # a matrix's child (simulator/child.py): its parent's lifetime
        threading.Thread(target=_until_eof, args=(stop,), name="stdin", daemon=True).start()
    base, key, secret = env_names(provider)
    print(f"rehearsal simulator ({provider}) on {url}: no real provider, no real money")
    print(f"export {base}={url}")
    print(f"export {key}={sim.keys.test_secret}")
    print(f"export {secret}={sim.keys.webhook_secret}")
    print(f"# live-mode key (for guard tests): {sim.keys.live_secret}")
    print(f"# books: {books}", flush=True)
    try:
        stop.wait()
    finally:
        sim.stop()
    return 0


def _until_eof(stop: threading.Event) -> None:
    import sys

    while sys.stdin.buffer.read(65536):
        pass
    stop.set()
