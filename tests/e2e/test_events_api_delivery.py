"""`--tunnel events-api`: no receiver path, the provider's events API instead (event_feed.py).

Only a provider whose API lists its events can do it; the others are refused before any
call, with what to use instead."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.test_run_cli import rehearsal


def test_a_provider_without_an_events_api_is_refused_before_any_money_moves(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    result = rehearsal("run", "--tunnel", "events-api", state=state, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "mintcash has no events API to read events from" in result.stderr
    assert "--tunnel ngrok|cloudflared" in result.stderr
    assert "Traceback" not in result.stderr
    # Refused before the run was recorded, so before anything was charged: the
    # simulator's books hold no payment.
    books = state / "simulator" / "mintcash.sqlite"
    if books.exists():
        with sqlite3.connect(books) as db:
            assert db.execute("SELECT COUNT(*) FROM payments").fetchone() == (0,)
