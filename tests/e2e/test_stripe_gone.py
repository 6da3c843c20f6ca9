"""A Stripe subscription that is gone with its test clock: the settle engine neither fails
on it forever nor pretends its money is settled when the ledger last saw it unrefunded."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.faultlib import books_money, cli, standalone_simulator

PLAN = str(Path(__file__).resolve().parents[2] / "plans" / "stripe.yaml")


def test_a_clock_deleted_before_cleanup_leaves_an_honest_answer(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with standalone_simulator(tmp_path / "sim", provider="stripe") as sim:
        env = sim.cli_env()
        started = cli("start", PLAN, state=state, env=env)
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.strip().splitlines()[0].split()[-1]
        for _ in range(4):  # charge, partial_refund, refund_rest, subscribe
            stepped = cli("step", run_id, state=state, env=env)
            assert stepped.returncode == 0, stepped.stdout + stepped.stderr
        # Someone deletes the subscription's test clock in the dashboard, before cleanup:
        # the subscription and its customer go with it; its first payment stays charged.
        base, key = env["STRIPE_API_BASE"], env["STRIPE_SECRET_KEY"]
        auth = {"Authorization": f"Bearer {key}"}
        clocks = httpx.get(f"{base}/v1/test_helpers/test_clocks", headers=auth).json()["data"]
        assert len(clocks) == 1
        gone = httpx.delete(f"{base}/v1/test_helpers/test_clocks/{clocks[0]['id']}", headers=auth)
        assert gone.status_code == 200
        books = books_money(sim.db, run_id)
        assert books.outstanding > 0  # the first period's payment, not refunded

        cleanup = cli("cleanup", run_id, "--yes", state=state, env=env)
        out = cleanup.stdout + cleanup.stderr
        assert cleanup.returncode != 0, out  # never "settled" over money it cannot see
        assert "deleted with its test clock" in out
        assert "cannot be read back" in out
        assert "Traceback" not in out
