"""The ledger's rows as typed dictionaries: mypy checks every column name and type a
module reads, where `dict[str, Any]` let a misspelt or mistyped column through.

States, outcomes and verdicts are stored as the string values of the enums in states.py
and come back as those enums (StrEnum members compare equal to the strings).
"""

from __future__ import annotations

from typing import Any, TypedDict

from rehearsal.ledger.states import (
    CallOutcome,
    CompensationState,
    RegistrationState,
    RunVerdict,
    StepState,
)

# A row of a table no module here types yet (deliveries, api_calls, forwards): by column.
UntypedRow = dict[str, Any]


class RunRow(TypedDict):
    id: str
    plan: str
    plan_path: str
    provider: str
    environment: str
    target: str
    started_at: float
    ended_at: float | None
    verdict: RunVerdict | None  # None while paused or running
    target_kind: str  # "embedded" | "env"
    api_base: str | None
    plan_json: str | None
    timeout_scale: float
    exit_code: int | None
    message: str | None
    webhook_endpoint: str | None
    http_timeout: float | None


class StepRow(TypedDict):
    run_id: str
    step_id: str
    position: int
    action: str
    state: StepState
    idempotency_key: str | None
    amount: int | None
    object_kind: str | None
    object_id: str | None
    status: str | None
    request_id: str | None
    called_at: float | None
    confirmed_at: float | None
    confirmed_by: str | None
    event_id: str | None
    latency_ms: float | None
    message: str | None
    baseline: int | None
    started_at: float | None
    ended_at: float | None
    deadline_at: float | None
    awaited_object: str | None
    card: str | None
    first_called_at: float | None
    outcome: CallOutcome | None  # None for rows older than the column
    gave_up_at: float | None


class CompensationRow(TypedDict):
    seq: int
    run_id: str
    step_id: str
    action: str
    object_id: str
    amount: int | None
    idempotency_key: str | None
    state: CompensationState
    request_id: str | None
    message: str | None
    at: float


class ObservationRow(TypedDict):
    run_id: str
    kind: str
    object_id: str
    step_id: str | None
    status: str
    amount: int
    amount_refunded: int
    currency: str | None
    refund_unavailable: int
    seen_at: float
    refund_pending: int  # of amount_refunded, still pending at the provider


class RegistrationRow(TypedDict):
    seq: int
    run_id: str
    url: str
    endpoint_id: str | None
    state: RegistrationState
    at: float
    prior_status: str | None  # an adopted webhook's status before the run; None: created
    prior_events: str | None  # its events before the run (JSON list)
