"""Interrupting a run (SIGTERM, Ctrl-C) refunds and cancels what it created, exit 130."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_the_renewal_wait_compensates(tmp_path: Path, signum: int) -> None:
    state = tmp_path / "s"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    env.update(REHEARSAL_STATE_DIR=str(state), NO_COLOR="1")
    # The renewal webhook never comes, so the run waits (up to 30 s) at the renewal step.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rehearsal",
            "run",
            "--plain",
            "--sim-fault",
            "drop:subscription.renewed",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait for the run to reach the renewal step: an event, no sleep
        seen.append(line)
        if "POST /test_helpers/subscriptions/" in line:
            break
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=30)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out + err
    assert "INTERRUPTED" in out
    assert "compensation: cancel" in out
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as db:
        assert db.execute("SELECT status FROM subscriptions").fetchall() == [("cancelled",)]
        assert db.execute(
            "SELECT status FROM payments WHERE subscription_id IS NULL"
        ).fetchall() == [("refunded",)]
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        assert db.execute("SELECT verdict FROM runs").fetchall() == [("interrupted",)]
        assert db.execute("SELECT state FROM steps WHERE step_id = 'renewal'").fetchall() == [
            ("interrupted",)
        ]
        done = db.execute("SELECT action, state FROM compensations").fetchall()
        # Cancelled first; then the subscription's payments (first period, renewal) refunded.
        assert done[0] == ("cancel", "done")
        assert set(done[1:]) == {("refund_subscription_payment", "done")}
        assert len(done) >= 2
