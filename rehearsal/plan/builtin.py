"""The built-in plans: where they are (inside the installed package, or the repository's
plans/ folder), their names, and which file a plan argument names. It never reads a plan's
content (plan/load.py does).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rehearsal.errors import UsageError

DEFAULT_PLAN = "plans/rehearsal.yaml"


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
