"""Plans: the rehearsal as data, validated before anything runs.

A plan is an ordered list of steps (charge, refund, subscribe, await_renewal, cancel,
manual); each money step says what it expects (a normalized event type, matched to this
run's object, within a deadline). Later steps refer to earlier ones by id. Loading never
returns a half-valid plan: every problem is reported with its file, line and field.
Plans never hold secrets or card numbers: cards are test-card names or `env:VAR`.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rehearsal.errors import PlanError, UsageError

DEFAULT_PLAN = "plans/rehearsal.yaml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SECRET_LIKE = re.compile(r"\b(?:sk|rk)_(?:test|live)_\w+|\bwhsec_\w+")
_PAN_LIKE = re.compile(r"^\d[\d \-]{10,21}\d$")
_PAN_IN_TEXT = re.compile(r"(?<![\d-])\d(?:[ \-]?\d){12,18}(?![\d-])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _has_card_number(text: str) -> bool:
    return any(_luhn(re.sub(r"\D", "", m.group())) for m in _PAN_IN_TEXT.finditer(text))


_STEP_ID = r"^[a-z][a-z0-9_]{0,39}$"
MAX_WITHIN = 7 * 86400.0  # a step's deadline; times --timeout-scale (at most 100) stays sane


def parse_duration(value: Any) -> float:
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
    def _duration(cls, v: Any) -> float:
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
        problems: list[tuple[tuple[Any, ...], str]] = []
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
            raise _PlanProblems(problems)
        return self

    def money_steps(self) -> list[Step]:
        return [s for s in self.steps if not isinstance(s, ManualStep)]


class _PlanProblems(ValueError):
    """Cross-step problems, each with its own location (pydantic keeps only one per error)."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]) -> None:
        super().__init__("; ".join(msg for _, msg in problems))
        self.problems = problems


# --- loading -------------------------------------------------------------------------------


def builtin_plans_dir() -> Path:
    """Where the shipped plans are: inside the installed package, or the repo's plans/."""
    packaged = Path(str(resources.files("rehearsal"))) / "builtin_plans"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "plans"


def builtin_plan_names() -> list[str]:
    return sorted(p.stem for p in builtin_plans_dir().glob("*.yaml"))


def resolve_plan_path(arg: str | None) -> Path:
    """A path as given if it exists, else a built-in plan by name (`rehearsal`, `plans/x.yaml`)."""
    arg = arg or DEFAULT_PLAN
    path = Path(arg)
    if path.is_file():
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    builtin = builtin_plans_dir() / f"{stem}.yaml"
    if builtin.is_file():
        return builtin
    raise UsageError(
        f"no plan file {arg!r}",
        hint=f"give a path to a YAML plan, or one of the built-in plans: "
        f"{', '.join(builtin_plan_names())}",
    )


def load_plan(path: Path, provider: str | None = None) -> Plan:
    """The plan at `path`, validated; its events are checked against the vocabulary of
    `provider` (default: the plan's own), so a misspelled event is refused before any
    money moves instead of blamed on the provider after."""
    label, root, data = read_plan_file(path)
    if "matrix" in data:
        line, field = _locate(root, data, ("matrix",))
        raise PlanError(
            label,
            [
                (
                    line,
                    field,
                    "this plan declares a matrix: several rehearsals; run them with "
                    "`rehearsal run PLAN [--parallel N]` (docs/plans.md, Matrix)",
                )
            ],
        )
    return validate_plan(label, root, data, provider)


def read_plan_file(path: Path) -> tuple[str, Any, dict[str, Any]]:
    """The file's YAML: its label for errors, its nodes (for lines) and its data; refused,
    with lines, when it is not YAML, not a mapping, or holds duplicate keys or secrets."""
    import yaml

    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(
            label, [(None, "", f"cannot read the file ({exc.__class__.__name__})")]
        ) from None
    # One parse gives both the nodes and the data, with libyaml's parser when PyYAML has it
    # (the wheels do): four pure-Python parses were ~10% of a run's start (bench/README.md).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise PlanError(label, [(line, "", f"not valid YAML: {exc.problem}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or root is None:
        raise PlanError(label, [(1, "", "expected a mapping with name and steps")])

    problems = _duplicate_keys(root) + _secrets(root)
    if problems:
        raise PlanError(label, problems)
    return label, root, data


def validate_plan(label: str, root: Any, data: dict[str, Any], provider: str | None) -> Plan:
    """`data` (read from `root`'s file) as a Plan, or every problem with its line."""
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        found: list[tuple[int | None, str, str]] = []
        for err in exc.errors():
            ctx_error = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_error, _PlanProblems):
                for loc, msg in ctx_error.problems:
                    found.append((*_locate(root, data, loc), msg))
                continue
            loc = err["loc"]
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "action")
            line, field = _locate(root, data, loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "union_tag_invalid":
                msg = f"unknown action; expected one of: {', '.join(sorted(_step_actions()))}"
            elif err["type"] == "union_tag_not_found":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "missing":
                msg = "required field is missing"
            found.append((line, field, msg))
        raise PlanError(label, found) from None
    if problems := _unknown_events(plan, provider or plan.provider, root, data):
        raise PlanError(label, problems)
    return plan


def _unknown_events(
    plan: Plan, provider: str, root: Any, data: Any
) -> list[tuple[int | None, str, str]]:
    """Each money step's `expect.event` that the provider cannot send, with its line."""
    from rehearsal import providers

    if provider not in providers.REGISTRY:
        return []  # refused, with the known names, where the target is opened
    declared = providers.declaration_of(provider)
    found: list[tuple[int | None, str, str]] = []
    for i, step in enumerate(plan.steps):
        if isinstance(step, ManualStep):
            continue
        if why := declared.unknown_event(step.expect.event):
            found.append((*_locate(root, data, ("steps", i, "expect", "event")), why))
    return found


def _locate(root: Any, data: Any, loc: tuple[Any, ...]) -> tuple[int | None, str]:
    """Follow a pydantic error location through the YAML nodes to a line and a field path."""
    node, value = root, data
    line: int | None = root.start_mark.line + 1
    parts: list[str] = []
    for key in loc:
        if isinstance(value, list) and isinstance(key, int) and key < len(value):
            node, value = node.value[key], value[key]
            parts.append(f"[{key}]")
            line = node.start_mark.line + 1
        elif isinstance(value, dict) and isinstance(key, str) and key in value:
            for k, v in node.value:
                if k.value == key:
                    node = v
                    line = k.start_mark.line + 1
                    break
            value = value[key]
            parts.append(f".{key}" if parts else key)
        elif isinstance(value, dict) and isinstance(key, str) and key not in _step_actions():
            parts.append(f".{key}" if parts else key)  # a missing field: the parent's line
            break
        # else: a discriminator tag pydantic adds to the location; not in the file
    return line, "".join(parts)


def _step_actions() -> set[str]:
    return {"charge", "refund", "subscribe", "await_renewal", "cancel", "manual"}


def _duplicate_keys(node: Any, path: str = "") -> list[tuple[int | None, str, str]]:
    import yaml

    found: list[tuple[int | None, str, str]] = []
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for k, v in node.value:
            sub = f"{path}.{k.value}" if path else str(k.value)
            if k.value in keys:
                found.append((k.start_mark.line + 1, sub, "duplicate key"))
            keys.add(k.value)
            found += _duplicate_keys(v, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found += _duplicate_keys(v, f"{path}[{i}]")
    return found


def _secrets(node: Any, path: str = "") -> list[tuple[int | None, str, str]]:
    """Anything that looks like a key, a webhook secret or a card number; never echoed."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        value = str(node.value)
        if _SECRET_LIKE.search(value):
            return [
                (
                    node.start_mark.line + 1,
                    path,
                    "looks like an API key or webhook secret; secrets come from the "
                    "environment, never from plan files",
                )
            ]
        if _has_card_number(value):
            return [
                (
                    node.start_mark.line + 1,
                    path,
                    "card numbers never go in plan files; use a test-card name "
                    "(visa, declined, insufficient_funds) or env:VARIABLE",
                )
            ]
        return []
    found: list[tuple[int | None, str, str]] = []
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key_problems = _secrets(k, path or "(top level)")
            if key_problems:
                found += [(line, path, f"a key {msg}") for line, _, msg in key_problems]
                continue
            found += _secrets(v, f"{path}.{k.value}" if path else str(k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found += _secrets(v, f"{path}[{i}]")
    return found


def locate(root: Any, data: Any, loc: tuple[Any, ...]) -> tuple[int | None, str]:
    """The line and field path of `loc` in a plan file (for rehearsal/plan/matrix.py)."""
    return _locate(root, data, loc)
