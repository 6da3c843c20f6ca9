"""The webhook deliveries a run's receiver stored, and what the merchant's handler answered
to each event forwarded to it (--forward-to).

Every verified delivery is stored before the receiver answers, several to a commit at
NORMAL (the receiver's group commit, receiver/batch.py). A payload stored is the
provider's event body exactly as it was verified: card brand and last four digits at most,
never a secret.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import NamedTuple

from rehearsal.ledger.connection import Connection
from rehearsal.ledger.rows import UntypedRow
from rehearsal.providers.base import NormalizedEvent


class Delivery(NamedTuple):
    """One delivery to store: a verified event (None for one refused before parsing)."""

    run_id: str
    event: NormalizedEvent | None
    verdict: str
    reason: str | None = None
    via: str = "webhook"
    raw: bytes | None = None  # the body as received and verified: stored as it came


class Deliveries(Connection):
    def record_delivery(
        self,
        run_id: str,
        event: NormalizedEvent | None,
        *,
        verdict: str,
        reason: str | None = None,
        via: str = "webhook",
    ) -> bool:
        """Store a delivery; for a verified event seen before, count a duplicate instead.

        Returns True when the event is new.
        """
        return self.record_deliveries([Delivery(run_id, event, verdict, reason, via)])[0]

    def note_delivery(self, run_id: str, event_id: str, reason: str) -> None:
        """Say what became of a stored delivery (a matrix's parked event: routed or not)."""
        self._commits.write(
            lambda db: db.execute(
                "UPDATE deliveries SET reason = ? WHERE run_id = ? AND event_id = ?",
                (reason, run_id, event_id),
            ),
            durable=False,
        )

    def record_deliveries(self, batch: Sequence[Delivery]) -> list[bool]:
        """Store several deliveries in one transaction (one commit, one fsync: the receiver's
        group commit); each verified event seen before counts a duplicate instead. Returns,
        for each, True when its event is new. All are stored, or none (the error is raised).
        """
        now = time.time()
        # durable=False: in the WAL, in the OS, before it returns (a crash of rehearsal
        # loses nothing acknowledged); on disk at the ledger's next FULL commit, the run's
        # end at the latest. The fsync would set the receiver's latency floor
        # (bench/README.md: "Durability"). Sharing a commit with other writes, it is FULL.
        return self._commits.write(
            lambda db: [_store_delivery(db, d, now) for d in batch], durable=False
        )

    def deliveries(self, run_id: str) -> list[UntypedRow]:
        return self._rows("SELECT * FROM deliveries WHERE run_id = ? ORDER BY seq", run_id)

    def parked_deliveries(self, since: float) -> list[UntypedRow]:
        """Verified events a matrix stored under its own id since `since` (parked: no run
        had claimed their object yet), whether routed on later or never owned."""
        return self._rows(
            "SELECT run_id, event_id, payload, via FROM deliveries "
            "WHERE run_id LIKE 'matrix-%' AND verdict = 'ignored' AND event_id IS NOT NULL "
            "AND payload IS NOT NULL AND received_at >= ? "
            "AND (reason LIKE 'parked:%' OR reason LIKE 'no run of this matrix owns %') "
            "ORDER BY seq",
            since,
        )

    def has_delivery(self, run_id: str, event_id: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM deliveries WHERE run_id = ? AND event_id = ? LIMIT 1",
                run_id,
                event_id,
            )
        )

    # --- events forwarded to the merchant's own handler -------------------------------------

    def record_forward(
        self,
        run_id: str,
        event_id: str,
        event_type: str,
        status: int | None,
        duration_ms: float,
        problem: str | None,
    ) -> None:
        """What the merchant's own handler answered to a forwarded event (--forward-to)."""
        self._exec(
            "INSERT OR REPLACE INTO forwards (run_id, event_id, type, status, duration_ms, "
            "problem, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            run_id,
            event_id,
            event_type,
            status,
            duration_ms,
            problem,
            time.time(),
        )

    def forwards(self, run_id: str) -> list[UntypedRow]:
        return self._rows("SELECT * FROM forwards WHERE run_id = ? ORDER BY at", run_id)


def _payload_text(d: Delivery) -> str:
    """The event as stored: the verified body exactly as the provider signed it (no second
    encoding on the writer's thread), or the parsed payload encoded again when there is no
    body (an event read from an events API) or it is not UTF-8."""
    if d.raw is not None:
        try:
            return d.raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    assert d.event is not None
    return json.dumps(dict(d.event.payload))


def _store_delivery(db: sqlite3.Connection, d: Delivery, now: float) -> bool:
    """Insert one delivery (in the caller's transaction); for a verified event seen before,
    count a duplicate instead. True when its event is new."""
    event = d.event
    if event is None:
        db.execute(
            "INSERT INTO deliveries (run_id, verdict, reason, received_at, via) "
            "VALUES (?, ?, ?, ?, ?)",
            (d.run_id, d.verdict, d.reason, now, d.via),
        )
        return False
    stored = db.execute(
        "INSERT INTO deliveries (run_id, event_id, type, provider_type, "
        "object_id, environment, verdict, reason, payload, received_at, via) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, event_id) WHERE event_id IS NOT NULL DO NOTHING",
        (
            d.run_id,
            event.event_id,
            event.type,
            event.provider_type,
            event.object.id if event.object else None,
            event.environment,
            d.verdict,
            d.reason,
            _payload_text(d),
            now,
            d.via,
        ),
    )
    if stored.rowcount == 1:
        return True
    db.execute(  # seen before (the unique index deliveries_event): a duplicate
        "UPDATE deliveries SET duplicates = duplicates + 1 WHERE run_id = ? AND event_id = ?",
        (d.run_id, event.event_id),
    )
    return False
