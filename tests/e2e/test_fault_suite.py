"""The fault suite of issue 11, judged by the simulator's books, not by our ledger.

Random SIGKILL and SIGTERM during runs and during cleanup (fixed seeds, bounded counts),
fail-after on the last retry, holds longer than the client timeout, a seeded 30% 5xx rate,
and a standalone simulator killed and restarted mid-run. Every run must end with zero
double charges, nothing left charged or subscribed at the provider, and `status --json`'s
money equal to the books. A failure lists each bad run: what the books hold, what status
said, and how the run was killed. bench/fault_suite.py runs the same harness at scale.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.faultlib import (
    Kill,
    RunRecord,
    Spawned,
    StandaloneSimulator,
    books_money,
    judge,
    random_kill,
    rehearse,
    standalone_simulator,
)

# A default run prints about 39 lines (--plain): a kill after line 1..36 lands anywhere
# from before the charge to the last compensation.
RUN_LINES = 36
BOTH = (signal.SIGKILL, signal.SIGTERM)


def assert_clean(records: list[RunRecord], books: Path | None = None) -> None:
    message = judge(records)
    if books is not None:  # also what no run id could be found for
        everything = books_money(books, None)
        if everything.outstanding or everything.active_subscriptions:
            message += f"\nthe whole books hold {everything.describe()}"
    assert not message, message


def kills_during_runs(
    tmp_path: Path, seed: int, runs: int, signals: tuple[signal.Signals, ...]
) -> list[RunRecord]:
    rng = random.Random(seed)
    records = []
    with standalone_simulator(tmp_path / "sim") as sim:
        for n in range(runs):
            kill = random_kill(rng, signals, RUN_LINES)
            records.append(
                rehearse(
                    f"seed {seed} #{n}",
                    state=tmp_path / f"run{n}" / "state",
                    books=sim.db,
                    env=sim.cli_env(),
                    kill=kill,
                    settle_deadline=20,
                )
            )
        assert_clean(records, sim.db)
    return records


def test_random_sigkills_during_runs(tmp_path: Path) -> None:
    records = kills_during_runs(tmp_path, seed=1101, runs=4, signals=(signal.SIGKILL,))
    assert any(r.kills for r in records), "no run was killed: the kill moments are wrong"


def test_random_sigterms_during_runs(tmp_path: Path) -> None:
    records = kills_during_runs(tmp_path, seed=1102, runs=4, signals=(signal.SIGTERM,))
    assert any(r.kills for r in records), "no run was killed: the kill moments are wrong"


def test_random_kills_during_cleanup(tmp_path: Path) -> None:
    """Each run is SIGKILLed, then its first one or two cleanups are killed at a random
    moment. A held refund makes the kill land while a compensation is in flight."""
    rng = random.Random(1103)
    records = []
    with standalone_simulator(tmp_path / "sim", ["hold:POST /refund=0.4x100"]) as sim:
        for n in range(3):
            kill = random_kill(rng, (signal.SIGKILL,), RUN_LINES)
            cleanup_kills = [
                Kill(rng.choice(BOTH), after=rng.uniform(0.4, 1.2))
                for _ in range(rng.randint(1, 2))
            ]
            records.append(
                rehearse(
                    f"seed 1103 #{n}",
                    state=tmp_path / f"run{n}" / "state",
                    books=sim.db,
                    env=sim.cli_env(),
                    kill=kill,
                    cleanup_kills=cleanup_kills,
                    settle_deadline=25,
                )
            )
        assert_clean(records, sim.db)
    assert any(a.command == "cleanup" and a.kill for r in records for a in r.attempts), (
        "no cleanup was killed: the kill moments are wrong"
    )


@pytest.mark.parametrize("path", ["/payments", "/subscriptions"])
def test_fail_after_on_the_last_retry(tmp_path: Path, path: str) -> None:
    """Every attempt does the work and then answers 500: the retries run out after the
    money moved (embedded simulator)."""
    state = tmp_path / "state"
    record = rehearse(
        f"fail-after:POST {path}x4",
        state=state,
        books=state / "simulator" / "mintcash.sqlite",
        run_args=("run", "--plain", "--sim-fault", f"fail-after:POST {path}x4"),
        settle_deadline=20,
    )
    assert record.attempts[0].exit not in (0, None), record.report()  # the fault bit
    assert record.books.charged, f"the fault moved no money: {record.report()}"
    assert_clean([record])


STRIPE_PLAN = str(Path(__file__).resolve().parents[2] / "plans" / "stripe.yaml")


@pytest.mark.parametrize("path", ["/v1/payment_intents", "/v1/subscriptions", "/v1/refunds"])
def test_stripe_fail_after_on_the_last_retry_is_found_by_its_tags(
    tmp_path: Path, path: str
) -> None:
    """Stripe has no lookup by idempotency key: a lost answer is found again through list
    calls and the run's metadata (providers/stripe/lookup.py), then settled."""
    state = tmp_path / "state"
    record = rehearse(
        f"stripe fail-after:POST {path}x4",
        state=state,
        books=state / "simulator" / "stripe.sqlite",
        run_args=(
            "run", STRIPE_PLAN, "--simulator", "--plain",
            "--sim-fault", f"fail-after:POST {path}x4",
        ),
        settle_deadline=20,
    )  # fmt: skip
    assert record.attempts[0].exit not in (0, None), record.report()  # the fault bit
    assert record.books.dialect == "stripe" and record.books.charged, record.report()
    assert_clean([record])


def test_holds_longer_than_the_client_timeout(tmp_path: Path) -> None:
    """Each attempt of the charge is held 2.5 s against a 1 s client timeout: every attempt
    times out, and each lands later. The run, then cleanup, must find and refund it."""
    env = {"REHEARSAL_HTTP_TIMEOUT": "1", "REHEARSAL_LANDING_WINDOW": "3.5"}
    with standalone_simulator(tmp_path / "sim", ["hold:POST /payments=2.5x4"]) as sim:
        record = rehearse(
            "hold:POST /payments=2.5x4",
            state=tmp_path / "state",
            books=sim.db,
            env={**sim.cli_env(), **env},
            settle_deadline=30,
        )
        assert record.books.charged, f"the held charge never landed: {record.report()}"
        assert_clean([record], sim.db)


@pytest.mark.parametrize("seed", [1104, 1106, 1107, 1108, 1109])
def test_a_seeded_30_percent_5xx_rate(tmp_path: Path, seed: int) -> None:
    """A 30% rate of 503s before the work on every call, and of 500s after the work on
    money POSTs (seeded): retries, lost answers and failed runs, all settled. One run per
    seed, so the runs spread over the test workers."""
    with standalone_simulator(tmp_path / "sim") as sim:
        sim.set_faults(
            [f"seed:{seed}", "rate:POST /*=0.3", "rate:GET /*=0.3", "rate-after:POST /*=0.3"]
        )
        record = rehearse(
            f"30% 5xx seed {seed}",
            state=tmp_path / "state",
            books=sim.db,
            env=sim.cli_env(),
            settle_deadline=20,
        )
        sim.set_faults([])  # judge with a healthy provider
        assert_clean([record], sim.db)


def test_the_simulator_killed_and_restarted_mid_run(tmp_path: Path) -> None:
    """The standalone simulator is SIGKILLed at a seeded moment of each run and restarted
    on the same port and books a moment later."""
    rng = random.Random(1105)
    records = []
    with standalone_simulator(tmp_path / "sim") as sim:

        def outage(run: Spawned, sim: StandaloneSimulator = sim) -> None:
            lines, down = rng.randint(3, RUN_LINES - 4), rng.uniform(0.2, 1.0)
            end = time.monotonic() + 30
            while run.proc.poll() is None and len(run.lines()) < lines:
                assert time.monotonic() < end, "the run printed nothing for 30 s"
                time.sleep(0.005)
            sim.kill()
            time.sleep(down)  # the outage itself
            sim.restart()

        for n in range(2):
            records.append(
                rehearse(
                    f"simulator restart #{n}",
                    state=tmp_path / f"run{n}" / "state",
                    books=sim.db,
                    env=sim.cli_env(),
                    during=outage,
                    settle_deadline=20,
                )
            )
        assert sim.starts == 3
        assert_clean(records, sim.db)
