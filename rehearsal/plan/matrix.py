"""Matrix plans: one file, many rehearsals, each a plan of its own.

A plan may declare `matrix:`, a mapping of names to lists of values. Every combination is one
rehearsal, named for its values (`paymongo[card=visa,currency=PHP]`). A value applies in
one of two ways, and no other: the names `card` and `currency` set the plan's own fields
(the steps' default card and currency); any name is also a reference, `${matrix.NAME}`, in
a string of a step (a whole-string reference takes the value's type, so `amount:
${matrix.amount}` is a number). Every rehearsal is validated before anything runs, and a
problem is reported once, at its line, with the rehearsals it concerns.

`--repeat K` and `--shard I/N` select from the expanded list: each rehearsal K times
(`name#2`), then every N-th item from the I-th (stable: by position, never by time or hash).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rehearsal.errors import PlanError, UsageError
from rehearsal.plan.load import PlanData, locate, read_plan_file, validate_plan
from rehearsal.plan.model import Location, Plan, Problem

if TYPE_CHECKING:
    import yaml

PLAN_FIELDS = ("card", "currency")  # matrix names that set the plan's own field
MAX_REHEARSALS = 1000  # combinations of one file; past that it is a typo, not a plan
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_REFERENCE = re.compile(r"\$\{matrix\.([^}]*)\}")

Scalar = str | int


@dataclass(frozen=True)
class Rehearsal:
    """One plan to run: a file's plan, or one combination of its matrix."""

    name: str  # stable: the plan's name, its matrix values, and its repeat (`#2`)
    plan: Plan
    path: Path


def expand(path: Path, provider: str | None = None) -> list[Rehearsal]:
    """The rehearsals of the plan file at `path`: one without a matrix, one per combination
    with one. Raises PlanError with every problem (file, line, field) before anything runs."""
    label, root, data = read_plan_file(path)
    if "matrix" not in data:
        plan = validate_plan(label, root, data, provider)
        return [Rehearsal(plan.name, plan, path)]
    matrix = _matrix(label, root, data)
    body = {k: v for k, v in data.items() if k != "matrix"}
    problems = _references(root, data, matrix)
    problems += [
        (*locate(root, data, (name,)), f"set both here and in matrix.{name}; keep one")
        for name in PLAN_FIELDS
        if name in matrix and name in body
    ]
    if problems:
        raise PlanError(label, problems)
    names = list(matrix)
    found: dict[Problem, list[str]] = {}
    rehearsals: list[Rehearsal] = []
    for values in itertools.product(*(matrix[n] for n in names)):
        chosen = dict(zip(names, values, strict=True))
        label_values = ",".join(f"{n}={v}" for n, v in chosen.items())
        expanded = _apply(body, chosen)
        expanded["name"] = f"{body.get('name', '')}[{label_values}]"
        try:
            plan = validate_plan(label, root, expanded, provider)
        except PlanError as exc:
            for line, field, msg in exc.problems:
                if field in chosen and field in PLAN_FIELDS:
                    line, field = locate(root, data, ("matrix", field))
                found.setdefault((line, field, msg), []).append(label_values)
            continue
        rehearsals.append(Rehearsal(plan.name, plan, path))
    if found:
        raise PlanError(
            label,
            [(line, field, f"{msg} (in {_which(w)})") for (line, field, msg), w in found.items()],
        )
    return rehearsals


def _which(combos: list[str]) -> str:
    shown = "; ".join(f"[{c}]" for c in combos[:3])
    return shown + (f" and {len(combos) - 3} more" if len(combos) > 3 else "")


def _matrix(label: str, root: yaml.Node, data: PlanData) -> dict[str, list[Scalar]]:
    raw = data["matrix"]

    def at(*loc: str | int) -> tuple[int | None, str]:
        return locate(root, data, ("matrix", *loc))

    if not isinstance(raw, dict) or not raw:
        raise PlanError(
            label, [(*at(), "expected a mapping of names to lists, e.g. card: [visa, declined]")]
        )
    problems: list[Problem] = []
    matrix: dict[str, list[Scalar]] = {}
    for name, values in raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append((*at(), f"{name!r}: expected a name such as card or amount"))
            continue
        if not isinstance(values, list) or not values:
            problems.append(
                (*at(name), "expected a non-empty list of values, e.g. [visa, declined]")
            )
            continue
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, str | int)]
        if bad:
            problems.append((*at(name), f"expected text or whole numbers, got {bad[0]!r}"))
            continue
        if len(set(values)) != len(values):
            problems.append((*at(name), "a value is listed twice"))
            continue
        matrix[name] = list(values)
    if problems:
        raise PlanError(label, problems)
    total = 1
    for values in matrix.values():
        total *= len(values)
    if total > MAX_REHEARSALS:
        raise PlanError(
            label, [(*at(), f"{total} combinations; at most {MAX_REHEARSALS} in one file")]
        )
    return matrix


def _references(root: yaml.Node, data: PlanData, matrix: dict[str, list[Scalar]]) -> list[Problem]:
    """`${matrix.X}` naming no matrix value, anywhere but in steps; a name used nowhere."""
    problems: list[Problem] = []
    used: set[str] = set()
    for loc, text in _strings(data, ()):
        for ref in _REFERENCE.findall(text):
            if loc[:1] != ("steps",):
                problems.append((*locate(root, data, loc), "${matrix.…} is allowed in steps only"))
            elif ref not in matrix:
                known = ", ".join(matrix)
                problems.append(
                    (*locate(root, data, loc), f"no matrix value {ref!r}; the matrix has: {known}")
                )
            used.add(ref)
    for name in matrix:
        if name not in PLAN_FIELDS and name not in used:
            problems.append(
                (
                    *locate(root, data, ("matrix", name)),
                    f"used nowhere: refer to it as ${{matrix.{name}}} in a step "
                    f"(only {' and '.join(PLAN_FIELDS)} apply to the plan by name)",
                )
            )
    return problems


def _strings(value: object, loc: Location) -> list[tuple[Location, str]]:
    if isinstance(value, str):
        return [(loc, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k != "matrix" for s in _strings(v, (*loc, k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, (*loc, i))]
    return []


def _apply(body: PlanData, chosen: dict[str, Scalar]) -> PlanData:
    out = {k: _substitute(v, chosen) if k == "steps" else v for k, v in body.items()}
    for name in PLAN_FIELDS:
        if name in chosen:
            out[name] = chosen[name]
    return out


def _substitute(value: object, chosen: dict[str, Scalar]) -> object:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return chosen[whole.group(1)]
        return _REFERENCE.sub(lambda m: str(chosen[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _substitute(v, chosen) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, chosen) for v in value]
    return value


# --- selection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise UsageError(
                f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4",
                hint="in GitHub Actions: --shard ${{ matrix.shard }}/${{ strategy.job-total }}",
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def select(
    rehearsals: list[Rehearsal], repeat: int = 1, shard: Shard | None = None
) -> list[Rehearsal]:
    """Each rehearsal `repeat` times (repeats named `#k`), then the shard's slice: items
    I-1, I-1+N, I-1+2N, ... of that list, so every shard's share is fixed by position."""
    if repeat < 1:
        raise UsageError("--repeat must be 1 or more")
    items = [
        r if repeat == 1 else Rehearsal(f"{r.name}#{k}", r.plan, r.path)
        for r in rehearsals
        for k in range(1, repeat + 1)
    ]
    if shard is not None:
        items = items[shard.index - 1 :: shard.count]
    return items
