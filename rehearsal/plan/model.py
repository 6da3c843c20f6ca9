"""Plans: the rehearsal as data, as pydantic models that refuse anything unknown.

A plan is an ordered list of steps (charge, refund, subscribe, await_renewal, cancel,
manual); each money step says what it expects (a normalized event type, matched to this
run's object, within a deadline). Later steps refer to earlier ones by id, and the models
check those references add up. They never read a file (plan/load.py does, with lines) and
never hold secrets or card numbers: cards are test-card names or `env:VAR`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_PAN_LIKE = re.compile(r"^\d[\d \-]{10,21}\d$")

Location = tuple[str | int, ...]  # a field's path in a plan, as pydantic gives it
Problem = tuple[int | None, str, str]  # a plan file's line, field path, what was expected

_STEP_ID = r"^[a-z][a-z0-9_]{0,39}$"
MAX_WITHIN = 7 * 86400.0  # a step's deadline; times --timeout-scale (at most 100) stays sane


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `500ms`, `10s`, `5m`, `2h`, `1d`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10, 10s, 5m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError("expected a duration such as 10, 10s, 5m, 2h or 1d")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("expected a finite duration greater than zero")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Strict):
    """What a step waits for: a normalized event about this run's object, in time."""

    event: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    within: float = 10.0
    status: str | None = None  # the object's status through the API; derived when absent
    # optional: the provider may send no event for this (PayMongo documents none for a
    # cancellation); the step then passes on the API's word, and says so (confirmed by api).
    webhook: Literal["required", "optional"] = "required"

    @field_validator("within", mode="before")
    @classmethod
    def _duration(cls, v: object) -> float:
        seconds = parse_duration(v)
        if seconds > MAX_WITHIN:
            raise ValueError("expected a deadline of at most 7d")
        return seconds


def _card(value: str) -> str:
    if _PAN_LIKE.match(value):
        raise ValueError(
            "card numbers never go in plan files; use a test-card name "
            "(visa, declined, insufficient_funds) or env:VARIABLE"
        )
    if not re.match(r"^(env:[A-Z_][A-Z0-9_]*|[a-z][a-z0-9_]*)$", value):
        raise ValueError("expected a test-card name such as visa, or env:VARIABLE")
    return value


class _Step(_Strict):
    id: str = Field(pattern=_STEP_ID)
    description: str | None = None


class ChargeStep(_Step):
    action: Literal["charge"]
    amount: int = Field(gt=0, strict=True, description="minor units (cents, centavos)")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    card: str | None = None
    expect: Expect = Expect(event="payment.succeeded")

    _check_card = field_validator("card")(lambda cls, v: v if v is None else _card(v))


class RefundStep(_Step):
    action: Literal["refund"]
    payment: str = Field(pattern=_STEP_ID, description="id of the charge step to refund")
    amount: int | None = Field(default=None, gt=0, strict=True, description="absent: what is left")
    reason: str | None = None
    # PayMongo refunds only live payments: in test mode its refusal is the expected finding,
    # reported and skipped; in live mode (or where refunds work) the step runs as usual.
    unavailable_in_test: bool = False
    expect: Expect = Expect(event="payment.refunded")


class SubscribeStep(_Step):
    action: Literal["subscribe"]
    amount: int = Field(gt=0, strict=True)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    card: str | None = None
    interval: Literal["day", "week", "month", "year"] = "month"
    expect: Expect = Expect(event="subscription.created")

    _check_card = field_validator("card")(lambda cls, v: v if v is None else _card(v))


class AwaitRenewalStep(_Step):
    action: Literal["await_renewal"]
    subscription: str = Field(pattern=_STEP_ID)
    advance_clock: bool = Field(
        default=True, description="ask the provider to advance time, where it can"
    )
    expect: Expect = Expect(event="subscription.renewed", within=30)


class CancelStep(_Step):
    action: Literal["cancel"]
    subscription: str = Field(pattern=_STEP_ID)
    reason: str | None = None
    expect: Expect = Expect(event="subscription.cancelled")


class ManualStep(_Step):
    action: Literal["manual"]
    instructions: str = Field(min_length=1)


# The steps that move or watch money, each expecting a transition (`expect`).
MoneyStep = ChargeStep | RefundStep | SubscribeStep | AwaitRenewalStep | CancelStep
Step = Annotated[
    ChargeStep | RefundStep | SubscribeStep | AwaitRenewalStep | CancelStep | ManualStep,
    Field(discriminator="action"),
]


class Plan(_Strict):
    version: Literal[1] = 1
    name: str = Field(min_length=1)
    description: str | None = None
    provider: str = Field(default="mintcash", pattern=r"^[a-z][a-z0-9_]*$")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    card: str = "visa"
    max_amount: int | None = Field(
        default=None, gt=0, strict=True, description="live mode: the cap on any one movement"
    )
    tunnel: Literal["none", "ngrok", "cloudflared", "events-api"] | None = Field(
        default=None, description="the public path for webhooks; --tunnel and $REHEARSAL_TUNNEL win"
    )
    tunnel_domain: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9.-]+$", description="ngrok: a reserved or dev domain"
    )
    steps: list[Step] = Field(min_length=1)

    _check_card = field_validator("card")(lambda cls, v: _card(v))

    @model_validator(mode="after")
    def _references(self) -> Plan:
        """Later steps must refer to earlier ones of the right kind, and add up."""
        problems: list[tuple[Location, str]] = []
        seen: dict[str, Step] = {}
        refunded: dict[str, int] = {}
        closed: set[str] = set()  # fully refunded charges, cancelled subscriptions
        for i, step in enumerate(self.steps):

            def problem(field: str, msg: str, i: int = i) -> None:
                problems.append((("steps", i, field), msg))

            if step.id in seen:
                problem("id", f"duplicate step id {step.id!r}")
            if isinstance(step, RefundStep):
                charge = seen.get(step.payment)
                if not isinstance(charge, ChargeStep):
                    problem(
                        "payment",
                        f"expected the id of an earlier charge step, got {step.payment!r}",
                    )
                elif charge.expect.event != "payment.succeeded":
                    problem(
                        "payment",
                        f"step {charge.id!r} does not expect payment.succeeded: nothing to refund",
                    )
                elif step.payment in closed:
                    problem("payment", f"step {charge.id!r} is already fully refunded")
                else:
                    before = refunded.get(step.payment, 0)
                    total = charge.amount if step.amount is None else before + step.amount
                    refunded[step.payment] = total
                    if total > charge.amount:
                        problem(
                            "amount",
                            f"refunds of {step.payment!r} add up to {total}, "
                            f"more than the charge of {charge.amount}",
                        )
                    elif step.amount is None or total == charge.amount:
                        closed.add(step.payment)
            if isinstance(step, AwaitRenewalStep | CancelStep):
                sub = seen.get(step.subscription)
                if not isinstance(sub, SubscribeStep):
                    problem(
                        "subscription",
                        f"expected the id of an earlier subscribe step, got {step.subscription!r}",
                    )
                elif step.subscription in closed:
                    problem("subscription", f"{step.subscription!r} is already cancelled")
                elif isinstance(step, CancelStep):
                    closed.add(step.subscription)
            seen.setdefault(step.id, step)
        if problems:
            raise PlanProblems(problems)
        return self

    def money_steps(self) -> list[MoneyStep]:
        """Every step that expects a transition (all but the manual checkpoints)."""
        return [s for s in self.steps if not isinstance(s, ManualStep)]


STEP_ACTIONS = frozenset(("charge", "refund", "subscribe", "await_renewal", "cancel", "manual"))


class PlanProblems(ValueError):
    """Cross-step problems, each with its own location (pydantic keeps only one per error)."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        super().__init__("; ".join(msg for _, msg in problems))
        self.problems = problems
