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
class Awaiting:
    """The step's call is made; now its webhook is awaited, until `within` seconds after
    the call (`waited` of them have gone already)."""

    step_id: str
    event_type: str
    object_id: str
    within: float
    waited: float = 0.0


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
    provider_type: str | None = None  # the provider's own name (PayMongo: payment.paid)


@dataclass(frozen=True)
class StepPassed:
    step_id: str
    elapsed: float
    object_id: str | None
    status: str | None
    confirmed_by: str  # "webhook+api", "api", "operator"
    note: str | None = None  # what else the outcome shows (a refund's history, test mode)


@dataclass(frozen=True)
class StepFailed:
    step_id: str
    elapsed: float
    message: str


@dataclass(frozen=True)
class StepInterrupted:
    step_id: str
    elapsed: float


@dataclass(frozen=True)
class StepSkipped:
    step_id: str
    reason: str


@dataclass(frozen=True)
class Compensated:
    action: str  # "refund" | "cancel"
    object_id: str
    amount: int | None  # minor units of the run's currency
    outcome: str  # "done" | "failed: ..."
    # True when a run that passed settles its own money (the subscription's payments):
    # the rehearsal's end, not a failure's compensation.
    settling: bool = False
    currency: str | None = None


@dataclass(frozen=True)
class Money:
    """Where a run's money stands at its end, in minor units of `currency`."""

    currency: str
    charged: int
    refunded: int
    outstanding: int
    active_subscriptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    verdict: str  # passed | unsettled | failed | error | interrupted | paused | ...
    elapsed: float
    exit_code: int
    message: str | None = None
    money: Money | None = None


RunEvent = (
    RunStarted
    | StepStarted
    | Awaiting
    | ApiCalled
    | WebhookArrived
    | StepPassed
    | StepFailed
    | StepInterrupted
    | StepSkipped
    | Compensated
    | RunFinished
)


def event_name(event_type: str, provider_type: str | None) -> str:
    """An event as a person compares it with the provider's dashboard: the rehearsal's
    name, and the provider's own when it differs (`payment.succeeded (payment.paid)`)."""
    if provider_type and provider_type != event_type:
        return f"{event_type} ({provider_type})"
    return event_type


class Listener(Protocol):
    def __call__(self, event: RunEvent, /) -> None: ...
