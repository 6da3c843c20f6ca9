"""`rehearsal resume` of a matrix's run after a crash: the events its matrix parked (stored
under the matrix's id because they beat the run's claim of their object) and never routed
to it, because the process died first, are taken into the run once it owns their object.

The crash is the runner's own failpoint (SIGKILL after the charge answered, before the
ledger knew its object); the parked row is then laid as the router leaves it when the
process dies between storing an event and the claim that routes it (that window is a few
milliseconds, too short to hit by timing)."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from tests.e2e.test_matrix_cli import embedded_books, ledger
from tests.e2e.test_run_cli import rehearsal

PLAN = """\
version: 1
name: parked
provider: mintcash
steps:
  - id: charge
    action: charge
    amount: 500
    expect: {event: payment.succeeded, within: 5s}
  - id: refund
    action: refund
    payment: charge
    expect: {event: payment.refunded, within: 5s}
"""
MATRIX = "matrix-crashed"


def park(state: Path, payment: str) -> str:
    """The state a crash between the router's parked row and the run's claim leaves: the
    charge's event acknowledged (the simulator's outbox says delivered: it is not sent
    again), and in the ledger only under the matrix's id, its reason still `parked: ...`.
    Returns the event's id."""
    with sqlite3.connect(state / "simulator" / "mintcash.sqlite") as books:
        event_id, payload = books.execute(
            "SELECT id, payload FROM events WHERE object_id = ? AND type = 'payment.succeeded'",
            (payment,),
        ).fetchone()
        books.execute("UPDATE outbox SET state = 'delivered' WHERE event_id = ?", (event_id,))
    body = payload.decode() if isinstance(payload, bytes) else str(payload)
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        db.execute("DELETE FROM deliveries WHERE object_id = ?", (payment,))
        db.execute(
            "INSERT INTO deliveries (run_id, event_id, type, provider_type, object_id, "
            "environment, verdict, reason, payload, received_at, via) "
            "VALUES (?, ?, 'payment.succeeded', 'payment.succeeded', ?, 'test', 'ignored', ?, "
            "?, ?, 'webhook')",
            (
                MATRIX,
                event_id,
                payment,
                f"parked: no run of this matrix had claimed {payment} yet",
                body,
                time.time(),
            ),
        )
    return str(event_id)


def test_resume_takes_in_what_the_matrix_parked_about_its_objects(tmp_path: Path) -> None:
    state = tmp_path / "s"
    (tmp_path / "parked.yaml").write_text(PLAN)
    crashed = rehearsal(
        "run", "parked.yaml", "--parallel", "1", "--plain",
        state=state, cwd=tmp_path, env={"REHEARSAL_FAILPOINT": "after-call:charge"},
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    [(run_id,)] = ledger(state, "SELECT id FROM runs")
    [(payment,)] = embedded_books(state, "SELECT id FROM payments")
    assert ledger(state, "SELECT object_id FROM steps WHERE step_id = 'charge'") == [(None,)]
    event = park(state, str(payment))

    resumed = rehearsal("resume", str(run_id), state=state, cwd=tmp_path, timeout=90)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # the charge found by its key (settle), and its webhook the one the matrix parked
    charge = ledger(
        state,
        "SELECT object_id, confirmed_by, event_id FROM steps WHERE run_id = ? "
        "AND step_id = 'charge'",
        run_id,
    )
    assert charge == [(payment, "webhook+api", event)]
    assert ledger(
        state, "SELECT verdict FROM deliveries WHERE run_id = ? AND event_id = ?", run_id, event
    ) == [("accepted",)]
    assert ledger(state, "SELECT reason FROM deliveries WHERE run_id = ?", MATRIX) == [
        (f"parked; routed to {run_id}",)
    ]
