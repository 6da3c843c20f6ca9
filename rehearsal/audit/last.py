"""The last audit of each kind per provider, kept in the state folder as its JSON report
(`<state folder>/audits/<provider>-<kind>.json`), beside the runs, for `rehearsal
checklist`. Only the report is kept: it holds no secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def path_of(state: Path, provider: str, kind: str) -> Path:
    return state / "audits" / f"{provider}-{kind}.json"


def keep(state: Path, doc: dict[str, Any]) -> Path:
    path = path_of(state, doc["provider"], doc["kind"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path


def load(state: Path, provider: str, kind: str) -> dict[str, Any] | None:
    path = path_of(state, provider, kind)
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == kind else None
