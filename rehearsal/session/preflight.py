"""Before any money moves: the run's own checks (the plan's cards and their variables, an
operator where one is needed), then, for a live run, the operator's word (`arm`). A
function of the plan, the adapter and the operator: it builds no runner, writes nothing to
the ledger and calls nothing that moves money."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from rehearsal.plan.model import ManualStep, Plan
    from rehearsal.providers.base import Provider
    from rehearsal.ui.operator import Operator


def confirm_manual(operator: Operator) -> Callable[[ManualStep], bool] | None:
    """How a manual checkpoint is confirmed: by the operator at a terminal, or not at all."""
    if not sys.stdin.isatty():
        return None

    def confirm(step: ManualStep) -> bool:
        return operator.confirm(f"Manual checkpoint {step.id!r}: {step.instructions} Done?")

    return confirm


def preflight(plan: Plan, provider: Provider, *, has_operator: bool) -> None:
    """Refuse, before any money moves and before a live run is armed, what would stop the
    run halfway (UsageError)."""
    from rehearsal.engine.runner import check_plan

    check_plan(plan, provider, has_operator=has_operator)


def preflight_and_arm(
    plan: Plan,
    provider: Provider,
    operator: Operator,
    *,
    name: str,
    described: str,
    yes: bool,
    cap: int | None,
) -> None:
    """A live run: everything that can be checked is checked (keys and URLs were, by
    open_target; here the plan's cards and variables), and only then is the operator asked
    to arm. A phrase typed for a run that then fails on a typo teaches to type it."""
    from rehearsal.engine.guards import arm

    preflight(plan, provider, has_operator=confirm_manual(operator) is not None)
    arm(plan, name, described, yes=yes, cap=cap, operator=operator)
