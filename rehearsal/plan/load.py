"""Reading a plan file: YAML with its lines kept, so every problem names its file, line and
field; duplicate keys, secrets and card numbers refused (plan/scan.py) before validation;
every expected event checked against the provider's vocabulary before any money moves.

Loading never returns a half-valid plan: it raises PlanError with every problem found.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from rehearsal.errors import PlanError
from rehearsal.plan.model import (
    STEP_ACTIONS,
    Location,
    ManualStep,
    Plan,
    PlanProblems,
    Problem,
)
from rehearsal.plan.scan import secrets

if TYPE_CHECKING:
    import yaml
    from pydantic_core import ErrorDetails

PlanData = dict[str, object]  # a plan file's top-level mapping, as YAML reads it


def load_plan(path: Path, provider: str | None = None) -> Plan:
    """The plan at `path`, validated; its events are checked against the vocabulary of
    `provider` (default: the plan's own), so a misspelled event is refused before any
    money moves instead of blamed on the provider after."""
    label, root, data = read_plan_file(path)
    if "matrix" in data:
        line, field = locate(root, data, ("matrix",))
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


def read_plan_file(path: Path) -> tuple[str, yaml.Node, PlanData]:
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

    problems = _duplicate_keys(root) + secrets(root)
    if problems:
        raise PlanError(label, problems)
    return label, root, data


def validate_plan(label: str, root: yaml.Node, data: PlanData, provider: str | None) -> Plan:
    """`data` (read from `root`'s file) as a Plan, or every problem with its line."""
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        found: list[Problem] = []
        for err in exc.errors():
            ctx_error = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_error, PlanProblems):
                for loc, msg in ctx_error.problems:
                    found.append((*locate(root, data, loc), msg))
                continue
            found.append(_problem(root, data, err))
        raise PlanError(label, found) from None
    if problems := _unknown_events(plan, provider or plan.provider, root, data):
        raise PlanError(label, problems)
    return plan


def _problem(root: yaml.Node, data: PlanData, err: ErrorDetails) -> Problem:
    """One pydantic error as a line, a field path and words a plan's author reads."""
    loc = err["loc"]
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, "action")
    line, field = locate(root, data, loc)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "union_tag_invalid":
        msg = f"unknown action; expected one of: {', '.join(sorted(STEP_ACTIONS))}"
    elif err["type"] == "union_tag_not_found":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return line, field, msg


def _unknown_events(plan: Plan, provider: str, root: yaml.Node, data: PlanData) -> list[Problem]:
    """Each money step's `expect.event` that the provider cannot send, with its line."""
    from rehearsal import providers

    if provider not in providers.REGISTRY:
        return []  # refused, with the known names, where the target is opened
    declared = providers.declaration_of(provider)
    found: list[Problem] = []
    for i, step in enumerate(plan.steps):
        if isinstance(step, ManualStep):
            continue
        if why := declared.unknown_event(step.expect.event):
            found.append((*locate(root, data, ("steps", i, "expect", "event")), why))
    return found


def locate(root: yaml.Node, data: object, loc: Location) -> tuple[int | None, str]:
    """Follow a pydantic error location through the YAML nodes to a line and a field path
    (also for rehearsal/plan/matrix.py)."""
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
        elif isinstance(value, dict) and isinstance(key, str) and key not in STEP_ACTIONS:
            parts.append(f".{key}" if parts else key)  # a missing field: the parent's line
            break
        # else: a discriminator tag pydantic adds to the location; not in the file
    return line, "".join(parts)


def _duplicate_keys(node: yaml.Node, path: str = "") -> list[Problem]:
    import yaml

    found: list[Problem] = []
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
