"""The settle engine's records: what the provider's API showed of each payment and
subscription (`observations`), the webhook registrations a run made through the API, and
each refund or cancel, written as an intent before it is sent.

Every intent here is durable (fsynced) before the call it announces; what the API showed is
a note, read again from the provider if a power loss takes it.
"""

from __future__ import annotations

import json
import time
from typing import cast

from rehearsal.ledger.connection import Connection
from rehearsal.ledger.rows import CompensationRow, ObservationRow, RegistrationRow, UntypedRow
from rehearsal.ledger.states import CompensationState, RegistrationState
from rehearsal.providers.base import ProviderObject


class Compensations(Connection):
    # --- what the provider's API showed (the settle engine's record of the books) ---------

    def observe(
        self,
        run_id: str,
        obj: ProviderObject,
        step_id: str | None = None,
        *,
        refund_unavailable: bool | None = None,
    ) -> None:
        """Record a payment or subscription as the provider's API just showed it."""
        if obj.kind == "refund":
            return  # a refund shows on its payment, which is observed instead
        self._note(
            "INSERT INTO observations (run_id, kind, object_id, step_id, status, amount, "
            "amount_refunded, currency, refund_unavailable, seen_at, refund_pending) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, kind, object_id) DO UPDATE SET status = excluded.status, "
            "amount = excluded.amount, amount_refunded = excluded.amount_refunded, "
            "refund_pending = excluded.refund_pending, "
            "currency = excluded.currency, seen_at = excluded.seen_at, "
            "step_id = COALESCE(observations.step_id, excluded.step_id), "
            "refund_unavailable = CASE WHEN ? IS NULL THEN observations.refund_unavailable "
            "ELSE excluded.refund_unavailable END",
            *(
                run_id,
                obj.kind,
                obj.id,
                step_id,
                obj.status,
                obj.amount,
                obj.amount_refunded,
                obj.currency,
                int(bool(refund_unavailable)),
                time.time(),
                obj.amount_refund_pending,
                refund_unavailable,
            ),
        )

    def observations(self, run_id: str) -> list[ObservationRow]:
        rows = self._rows(
            "SELECT * FROM observations WHERE run_id = ? ORDER BY seen_at, object_id", run_id
        )
        return cast(list[ObservationRow], rows)

    # --- webhook registrations made through a provider's API --------------------------------

    def registration_intent(
        self, run_id: str, url: str, state: RegistrationState = RegistrationState.INTENT
    ) -> int:
        """Written before the registering call: a killed run's registration is found later.
        LOOKING: the provider's webhooks are being listed, nothing changed yet."""
        row = self._exec(
            "INSERT INTO registrations (run_id, url, state, at) VALUES (?, ?, ?, ?)",
            run_id,
            url,
            state,
            time.time(),
        )
        return int(row or 0)

    def registration_prior(
        self, seq: int, endpoint_id: str, status: str, events: list[str]
    ) -> None:
        """Written before the run changes an existing webhook: what cleanup restores."""
        self._exec(
            "UPDATE registrations SET state = 'adopting', endpoint_id = ?, prior_status = ?, "
            "prior_events = ?, at = ? WHERE seq = ?",
            endpoint_id,
            status,
            json.dumps(events),
            time.time(),
            seq,
        )

    def registration_state(
        self, seq: int, state: RegistrationState, endpoint_id: str | None = None
    ) -> None:
        self._exec(
            "UPDATE registrations SET state = ?, endpoint_id = COALESCE(?, endpoint_id), "
            "at = ? WHERE seq = ?",
            state,
            endpoint_id,
            time.time(),
            seq,
        )

    def registrations(self, run_id: str) -> list[RegistrationRow]:
        rows = self._rows("SELECT * FROM registrations WHERE run_id = ? ORDER BY seq", run_id)
        return [_registration_row(r) for r in rows]

    # --- compensation -----------------------------------------------------------------------

    def compensation_intent(
        self,
        run_id: str,
        step_id: str,
        action: str,
        object_id: str,
        amount: int | None,
        key: str | None,
    ) -> int:
        """Written before the refund or cancel call; returns the row to settle."""
        row = self._exec(
            "INSERT INTO compensations (run_id, step_id, action, object_id, "
            "amount, idempotency_key, state, at) VALUES (?, ?, ?, ?, ?, ?, "
            "'intent', ?)",
            run_id,
            step_id,
            action,
            object_id,
            amount,
            key,
            time.time(),
        )
        return int(row or 0)

    def compensation_result(
        self,
        seq: int,
        state: CompensationState,
        request_id: str | None = None,
        message: str | None = None,
    ) -> None:
        self._exec(
            "UPDATE compensations SET state = ?, request_id = ?, message = ?, at = ? WHERE seq = ?",
            state,
            request_id,
            message,
            time.time(),
            seq,
        )

    def compensations(self, run_id: str) -> list[CompensationRow]:
        rows = self._rows("SELECT * FROM compensations WHERE run_id = ? ORDER BY seq", run_id)
        return [_compensation_row(r) for r in rows]


def _registration_row(row: UntypedRow) -> RegistrationRow:
    row["state"] = RegistrationState(row["state"])
    return cast(RegistrationRow, row)


def _compensation_row(row: UntypedRow) -> CompensationRow:
    row["state"] = CompensationState(row["state"])
    return cast(CompensationRow, row)
