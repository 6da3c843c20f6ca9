"""What the runner reports as it goes. Views and reports consume these; the runner prints
nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rehearsal.providers.base import ApiCall


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    plan: str
    provider: str
    environment: str
    target: str
    steps: tuple[tuple[str, str], ...]  # (step id, action)


@dataclass(frozen=True)
class StepStarted:
    step_id: str
    action: str
    timeout: float | None
    detail: str
    expects: str | None = None  # the event the step waits for


@dataclass(frozen=True)
class ApiCalled:
    step_id: str | None
    call: ApiCall


@dataclass(frozen=True)
class WebhookArrived:
    step_id: str
    event_type: str
    event_id: str
    object_id: str
    latency_ms: float


@dataclass(frozen=True)
class StepPassed:
    step_id: str
    elapsed: float
    object_id: str | None
    status: str | None
    confirmed_by: str  # "webhook+api", "api", "operator"


@dataclass(frozen=True)
class StepFailed:
    step_id: str
    elapsed: float
    message: str


@dataclass(frozen=True)
class StepSkipped:
    step_id: str
    reason: str


@dataclass(frozen=True)
class Compensated:
    action: str  # "refund" | "cancel"
    object_id: str
    amount: int | None
    outcome: str  # "done" | "failed: ..."


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    verdict: str  # passed | failed | error | interrupted
    elapsed: float
    exit_code: int
    message: str | None = None


RunEvent = (
    RunStarted
    | StepStarted
    | ApiCalled
    | WebhookArrived
    | StepPassed
    | StepFailed
    | StepSkipped
    | Compensated
    | RunFinished
)


class Listener(Protocol):
    def __call__(self, event: RunEvent, /) -> None: ...
