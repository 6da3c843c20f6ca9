"""`rehearsal plans`: the built-in plans, each with its one-line description, and how to
copy one as the template of your own. Reads the YAML only (no validation): quick."""

from __future__ import annotations

import shlex

from rehearsal.plan.builtin import builtin_plan_names, builtin_plans_dir


def _description(name: str) -> str:
    import yaml

    try:
        data = yaml.safe_load((builtin_plans_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "(cannot be read)"
    described = data.get("description") if isinstance(data, dict) else None
    return " ".join(str(described).split()) if described else "(no description)"


def plans() -> int:
    names = builtin_plan_names()
    width = max((len(n) for n in names), default=4) + 2
    for name in names:
        print(f"{name:{width}}{_description(name)}")
    folder = builtin_plans_dir()
    example = shlex.quote(str(folder / "rehearsal.yaml"))
    print()
    print(f"Run one by name: rehearsal run {names[0] if names else 'rehearsal'}")
    print(f"Each is a YAML file in {folder}; copy one as the template of your own plan:")
    print(f"  cp {example} my-plan.yaml && rehearsal run my-plan.yaml")
    print("Every plan field is described in docs/plans.md.")
    return 0
