"""Live-mode guards: nothing moves real money until the operator has armed the run.

Arming shows what will happen (provider, target, every amount, the most the run can
charge) and asks for a confirmation that names the provider and that total, so a changed
plan needs a new confirmation. In a terminal the operator types it; without one, `--yes`
plus REHEARSAL_LIVE_CONFIRM=<provider>:<total> must both be given. Every amount must also
stay under a cap (a small default; the plan's `max_amount` or `--max-amount` moves it).
All of this runs before the first API call.
"""

from __future__ import annotations

import os

from rehearsal.amounts import format_amount
from rehearsal.errors import SafetyRefusal
from rehearsal.plan.model import ChargeStep, Plan, SubscribeStep
from rehearsal.ui.operator import Operator

DEFAULT_CAP = 1000  # minor units per money movement: 10.00 in a two-decimal currency
CONFIRM_ENV = "REHEARSAL_LIVE_CONFIRM"


def exposure(plan: Plan) -> int:
    """The most the plan can charge: charges, plus each subscription's first period and
    every renewal the plan awaits."""
    total = 0
    for step in plan.steps:
        if isinstance(step, ChargeStep):
            total += step.amount
        elif isinstance(step, SubscribeStep):
            renewals = sum(
                1
                for s in plan.steps
                if getattr(s, "subscription", None) == step.id and s.action == "await_renewal"
            )
            total += step.amount * (1 + renewals)
    return total


def check_cap(plan: Plan, cap: int | None) -> int:
    limit = cap or plan.max_amount or DEFAULT_CAP
    for step in plan.steps:
        if isinstance(step, ChargeStep | SubscribeStep) and step.amount > limit:
            raise SafetyRefusal(
                f"step {step.id!r} moves "
                f"{format_amount(step.amount, step.currency or plan.currency)}, "
                f"over the live cap of {format_amount(limit, plan.currency)}",
                hint="lower the amount, or raise the cap with --max-amount (or max_amount in "
                "the plan); the confirmation names the new total",
            )
    return limit


def arm(
    plan: Plan,
    provider: str,
    target: str,
    *,
    yes: bool,
    cap: int | None,
    operator: Operator | None = None,
) -> None:
    """Refuse a live run unless the operator confirmed exactly this exposure. The
    confirmation counts minor units (`mintcash:500`), the summary shows money."""
    limit = check_cap(plan, cap)
    total = exposure(plan)
    phrase = f"{provider}:{total}"
    summary = (
        f"LIVE MODE: real money on {provider} ({target}).\n"
        f"  plan {plan.name!r}: up to {format_amount(total, plan.currency)} "
        f"({total} in minor units), at most {format_amount(limit, plan.currency)} "
        f"per movement; card from the plan ({plan.card}).\n"
        "  Everything charged is refunded and every subscription cancelled at the "
        "end, or on failure."
    )
    operator = operator or Operator()
    if operator.present and not yes:
        operator.say(summary)
        try:
            typed = operator.ask(f"Type {phrase} to arm this live run: ")
        except EOFError:
            typed = ""
        if typed != phrase:
            raise SafetyRefusal("live run not armed: the confirmation did not match")
        return
    given = os.environ.get(CONFIRM_ENV, "")
    if not yes or given != phrase:
        missing = ([] if yes else ["--yes"]) + (
            [] if given == phrase else [f"{CONFIRM_ENV}={phrase}"]
        )
        raise SafetyRefusal(
            "live run not armed: "
            + (
                "the confirmation does not match this plan"
                if yes and given
                else "no confirmation given"
            ),
            hint=f"without a terminal, give {' and '.join(missing)} (it names the provider and "
            f"the most the run can charge in minor units: {total}, "
            f"{format_amount(total, plan.currency)})",
        )
