"""The JSON report's document as types: what `json_report.build` returns, and what JUnit,
Markdown and a matrix's merge read. Each TypedDict is one object of the published schema
(`schema.json`); a field added here belongs there too. It holds no logic and imports
nothing of the engine.
"""

from __future__ import annotations

from typing import TypedDict

from rehearsal.ledger.totals import MoneyTotals


class Call(TypedDict):
    method: str
    path: str
    status: int | None  # None: no answer (timeout, connection lost)
    request_id: str | None
    duration_ms: float
    idempotent_replay: bool
    at: str | None


class ExpectedEvent(TypedDict):
    type: str  # the rehearsal's name of the transition
    provider_type: str | None  # the provider's own name of the event that arrived
    object_id: str | None
    within_s: float | None  # the plan's timeout, before --timeout-scale
    deadline: str | None
    event_id: str | None
    arrived_at: str | None
    after_deadline: bool
    latency_ms: float | None
    delivery_attempts: int
    duplicates: int
    signature: str | None  # "verified" | "verified, event refused" | None
    counted: bool


class StepObject(TypedDict):
    kind: str | None
    id: str
    status: str | None


class StepEvent(TypedDict):
    id: str
    latency_ms: float | None


class Step(TypedDict):
    id: str
    action: str
    status: str
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    idempotency_key: str | None
    amount: int | None
    card: str | None
    object: StepObject | None
    request_id: str | None
    confirmed_by: str | None
    message: str | None
    test_mode_refund: str | None  # "refused" | "refunded" | None
    calls: list[Call]
    expected_event: ExpectedEvent | None
    event: StepEvent | None


class Summary(TypedDict):
    steps: int
    passed: int
    failed: int
    skipped: int
    interrupted: int
    not_run: int


class ApiConfirmed(TypedDict):
    step: str
    object_id: str | None


class Compensation(TypedDict):
    step: str
    action: str
    object_id: str
    amount: int | None
    idempotency_key: str | None
    state: str
    request_id: str | None
    message: str | None
    at: str | None


class Delivery(TypedDict):
    event_id: str | None
    type: str | None
    provider_type: str | None
    via: str  # "webhook" | "events-api"
    object_id: str | None
    verdict: str
    reason: str | None
    duplicates: int
    received_at: str | None


# Where the run's money stands: the ledger's own totals (ledger/totals.run_totals), as the
# report and `status --json` carry them.
Money = MoneyTotals


class Report(TypedDict):
    schema: str
    run_id: str
    plan: str
    provider: str
    environment: str
    target: str
    currency: str
    timeout_scale: float
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    verdict: str | None
    exit_code: int | None
    message: str | None
    summary: Summary
    steps: list[Step]
    confirmed_only_by_api: list[ApiConfirmed]
    compensations: list[Compensation]
    compensation_calls: list[Call]
    deliveries: list[Delivery]
    money: Money
