"""`rehearsal step` moves exactly what it is asked to, and never a step that is done
(issue 12): a step named again after it passed moves nothing and says what is next; a step
skipped as the plan expects counts as done, so the next `step` runs the one after it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal


def books(state: Path, provider: str = "mintcash") -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(state / "simulator" / f"{provider}.sqlite") as db:
        return {
            "payments": db.execute("SELECT id, amount, amount_refunded FROM payments").fetchall(),
            "subscriptions": db.execute("SELECT id, status FROM subscriptions").fetchall(),
        }


def test_a_step_that_already_passed_moves_nothing_and_names_the_next(tmp_path: Path) -> None:
    state = tmp_path / "s"
    started = rehearsal("start", state=state, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    first = rehearsal("step", run_id, "refund", state=state, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    before = books(state)
    assert len(before["payments"]) == 1 and before["subscriptions"] == []

    again = rehearsal("step", run_id, "charge", state=state, cwd=tmp_path)

    out = again.stdout + again.stderr
    assert again.returncode == 2, out
    assert "step 'charge'" in again.stderr and "already passed" in again.stderr
    assert "nothing moved" in again.stderr
    assert "'subscribe'" in again.stderr and f"`rehearsal step {run_id}`" in again.stderr
    assert "POST" not in out and "PASSED" not in out
    assert books(state) == before  # the simulator's books: no call, no money
    # The run is still paused where it was: the next `step` runs subscribe, and only it.
    nxt = rehearsal("step", run_id, state=state, cwd=tmp_path)
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert "▶ subscribe" in nxt.stdout and "▶ renewal" not in nxt.stdout
    assert "paused after 'subscribe'; next: 'renewal'" in nxt.stdout


def test_a_step_skipped_as_the_plan_expects_is_done(tmp_path: Path) -> None:
    """The built-in paymongo plan's test-mode refund is refused as PayMongo documents and
    skipped; the next `step` runs subscribe instead of sending the refund again."""
    state = tmp_path / "s"
    run_id = rehearsal("start", "paymongo", state=state, cwd=tmp_path).stdout.strip()
    charged = rehearsal("step", run_id, state=state, cwd=tmp_path)
    assert charged.returncode == 0, charged.stdout + charged.stderr
    skipped = rehearsal("step", run_id, state=state, cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "- refund: skipped (unavailable in test mode" in skipped.stdout
    assert skipped.stdout.count("POST /v1/refunds") == 1

    nxt = rehearsal("step", run_id, state=state, cwd=tmp_path)

    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert "POST /v1/refunds" not in nxt.stdout  # the refund is not sent again
    assert "▶ subscribe" in nxt.stdout
    assert "paused after 'subscribe'; next: 'renewal'" in nxt.stdout
    assert len(books(state, "paymongo")["subscriptions"]) == 1
    # Naming the skipped step again moves nothing either.
    named = rehearsal("step", run_id, "refund", state=state, cwd=tmp_path)
    assert named.returncode == 2, named.stdout + named.stderr
    assert "skipped as the plan expects" in named.stderr and "'renewal'" in named.stderr
    assert "POST" not in named.stdout
