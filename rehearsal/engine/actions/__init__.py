"""The step handlers, one per step kind, in a registry keyed by the plan's `action` (the tag
that discriminates the plan's step union). A new step kind is one handler and one entry
here; nothing else dispatches on a step's type."""

from __future__ import annotations

from typing import Never, TypeVar, cast

from rehearsal.engine.actions.base import Passed, PlanStep, StepAction
from rehearsal.engine.actions.manual import Manual
from rehearsal.engine.actions.payments import Charge, Refund
from rehearsal.engine.actions.subscriptions import AwaitRenewal, Cancel, Subscribe

__all__ = ["ACTIONS", "Passed", "StepAction", "action_for"]

# Contravariant in the step: a handler of any one kind is a StepAction[Never].
ACTIONS: dict[str, StepAction[Never]] = {
    "charge": Charge(),
    "refund": Refund(),
    "subscribe": Subscribe(),
    "await_renewal": AwaitRenewal(),
    "cancel": Cancel(),
    "manual": Manual(),
}

T = TypeVar("T", bound=PlanStep)


def action_for(step: T) -> StepAction[T]:
    """The handler of the step's kind: keyed by the tag pydantic chose the step's class by,
    so the entry handles exactly that class."""
    return cast(StepAction[T], ACTIONS[step.action])
