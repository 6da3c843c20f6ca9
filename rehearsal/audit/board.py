"""The provider's go-live checklist, each item marked by what was last shown: the last
endpoint and keys audits (kept in the state folder, rehearsal/audit/last.py) and the last
rehearsal of that provider (the state database). Marks: passed, failed, not checked (no
audit or run has shown it yet, or it could not be checked), manual (only a person can).
Reads only; contacts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rehearsal.audit import last
from rehearsal.audit.dialect import AuditDialect

PASSED, FAILED, NOT_CHECKED, MANUAL = "passed", "failed", "not checked", "manual"


@dataclass(frozen=True)
class Row:
    section: str
    text: str
    source: str
    mark: str
    evidence: str


def _last_run(state: Path, provider: str) -> dict[str, object] | None:
    from rehearsal.ledger.db import STATE_DB, StateDB

    if not (state / STATE_DB).exists():
        return None
    store = StateDB(state / STATE_DB)
    try:
        for run in store.runs():
            if run["provider"] == provider and run["verdict"]:
                return dict(run)
    finally:
        store.close()
    return None


def rows(dialect: AuditDialect, state: Path) -> list[Row]:
    from rehearsal.ledger.states import RunVerdict

    audited: dict[str, tuple[str, str]] = {}
    for kind in ("endpoint", "keys"):
        doc = last.load(state, dialect.provider, kind)
        if doc is None:
            continue
        for entry in doc.get("items", []):
            outcome = entry["outcome"]
            mark = NOT_CHECKED if outcome == "not checkable" else outcome
            if audited.get(entry["id"], ("", ""))[0] == FAILED:
                continue  # a failure in one audit is not hidden by the other
            audited[entry["id"]] = (mark, f"audit {kind} {doc['finished_at']}")
    run = _last_run(state, dialect.provider)
    result = []
    for item in dialect.items:
        mark, evidence = NOT_CHECKED, ""
        if item.how == "manual":
            mark, evidence = MANUAL, "a person checks this"
        elif item.how == "rehearsal":
            if run is None:
                evidence = f"no finished rehearsal of {dialect.provider} yet"
            elif item.needs_live and run["environment"] != "live":
                evidence = f"last rehearsal {run['id']} ran in test mode; this needs a live one"
            else:
                mark = PASSED if run["verdict"] == RunVerdict.PASSED else FAILED
                evidence = f"rehearsal {run['id']} ({run['environment']}): {run['verdict']}"
        elif item.id in audited:
            mark, evidence = audited[item.id]
        else:
            evidence = f"run `rehearsal audit {item.how}`"
        result.append(Row(item.section, item.text, item.source, mark, evidence))
    return result


ICON = {PASSED: "✅", FAILED: "❌", NOT_CHECKED: "⏸️", MANUAL: "✋"}


def markdown(provider: str, table: list[Row]) -> str:
    lines = [f"## Go-live checklist: {provider}", ""]
    section = None
    for row in table:
        if row.section != section:
            section = row.section
            lines += [
                "",
                f"### {section}",
                "",
                "| | item | source | evidence |",
                "|---|---|---|---|",
            ]
        text = row.text.replace("|", "\\|")
        lines.append(f"| {ICON[row.mark]} {row.mark} | {text} | `{row.source}` | {row.evidence} |")
    return "\n".join(lines) + "\n"


def plain(provider: str, table: list[Row]) -> str:
    lines = [f"go-live checklist: {provider}"]
    section = None
    for row in table:
        if row.section != section:
            section = row.section
            lines.append(f"{section}")
        lines.append(
            f"  [{row.mark}] {row.text} ({row.source}){': ' + row.evidence if row.evidence else ''}"
        )
    return "\n".join(lines) + "\n"
