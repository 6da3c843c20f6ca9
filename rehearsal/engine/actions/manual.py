"""The manual checkpoint: the operator confirms what the plan's instructions ask (a step no
API can check). It moves no money and waits for no webhook; without an operator (no
terminal) the run is refused before it starts."""

from __future__ import annotations

from rehearsal.engine.actions.base import Passed, StepAction
from rehearsal.engine.context import StepContext
from rehearsal.errors import AssertionFailed, UsageError
from rehearsal.plan.model import ManualStep, Plan
from rehearsal.providers.base import Provider


class Manual(StepAction[ManualStep]):
    def describe(self, step: ManualStep, plan: Plan) -> str:
        return step.instructions

    def expect(self, step: ManualStep) -> None:
        return None

    def preflight(
        self, plan: Plan, provider: Provider, step: ManualStep, *, has_operator: bool
    ) -> None:
        if not has_operator:
            raise UsageError(
                f"step {step.id!r} is a manual checkpoint and needs an operator",
                hint="run this plan in a terminal, or use a plan without manual steps",
            )

    def perform(self, run: StepContext, step: ManualStep) -> Passed:
        confirm = run.options.confirm_manual
        assert confirm is not None  # preflight refused the run otherwise
        if not confirm(step):
            raise AssertionFailed(
                f"step {step.id!r}: the operator did not confirm: {step.instructions}"
            )
        return Passed(None, None, "operator")
