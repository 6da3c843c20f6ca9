"""What a step handler is: one class per step kind (the plan's `action`), each saying how
its step reads, what it checks before the run, what it rebuilds on resume, how it runs and
how `cleanup --replay` sends its call again. A handler moves money only after its intent is
durable (StepContext.intent); it reports how the step passed and leaves the verdict's
ledger write to the runner."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

from rehearsal.engine.context import StepContext
from rehearsal.errors import UsageError
from rehearsal.ledger.rows import StepRow
from rehearsal.plan.model import (
    AwaitRenewalStep,
    CancelStep,
    ChargeStep,
    Expect,
    ManualStep,
    Plan,
    RefundStep,
    SubscribeStep,
)
from rehearsal.providers.base import NormalizedEvent, Provider, ProviderObject

PlanStep = ChargeStep | RefundStep | SubscribeStep | AwaitRenewalStep | CancelStep | ManualStep
S = TypeVar("S", bound=PlanStep, contravariant=True)


@dataclass(frozen=True)
class Passed:
    """How a step passed: the object it leaves, as the API showed it last (None: there is
    none, the operator's word), and the webhook that confirmed it (None: the API alone)."""

    obj: ProviderObject | None
    event: NormalizedEvent | None
    confirmed_by: str  # "webhook+api", "api", "operator"

    @classmethod
    def confirmed(cls, obj: ProviderObject, event: NormalizedEvent | None) -> Passed:
        # api only: a finding (the webhook was not heard), see confirm.py
        return cls(obj, event, "webhook+api" if event is not None else "api")


class StepAction(ABC, Generic[S]):
    """One step kind. `perform` returns None when the step was skipped as the plan expects
    (it wrote and said so itself); it raises AssertionFailed when the step fails."""

    @abstractmethod
    def describe(self, step: S, plan: Plan) -> str:
        """The step in a few words, as the views show it when it starts."""

    @abstractmethod
    def expect(self, step: S) -> Expect | None:
        """What the step waits for; None: it waits for no webhook."""

    def preflight(self, plan: Plan, provider: Provider, step: S, *, has_operator: bool) -> None:
        """Refuse, before any money moves, what would stop the run at this step."""

    def restore(self, run: StepContext, step: S, row: StepRow) -> None:
        """Rebuild what the step produced, when it passed in an earlier process."""

    @abstractmethod
    def perform(self, run: StepContext, step: S) -> Passed | None:
        """Run the step: its calls, its confirmation, what it records of its objects."""

    def replay(
        self, plan: Plan, provider: Provider, step: S, key: str, row: StepRow
    ) -> ProviderObject:
        """The step's money call sent again exactly as the runner sent it (cleanup --replay)."""
        raise UsageError(f"step {step.id!r} ({step.action}) cannot be replayed")


def resolve_card(plan: Plan, provider: Provider, card: str | None) -> str:
    """A step's card (or the plan's) to send: a test-card name, or a token from env."""
    name = card or plan.card
    if name.startswith("env:"):
        var = name.removeprefix("env:")
        value = os.environ.get(var)
        if not value:
            raise UsageError(
                f"the plan's card comes from ${var}, which is not set",
                hint=f"export {var} with the payment method token of your card",
            )
        return provider.resolve_card(value)
    return provider.resolve_card(name)


def card_name(plan: Plan, card: str | None) -> str:
    """A step's card as a step's description reads it."""
    c = card or plan.card
    return f"card from ${c.removeprefix('env:')}" if c.startswith("env:") else f"{c} card"
