"""A matrix's reports (paths: rehearsal/reports/merge.py): one JSON per run plus a
summary, one JUnit file with a suite per rehearsal, one Markdown file with every run; and
`Slot`, what the matrix knows of each rehearsal. Written from the ledger once the matrix
has stopped; it never moves money."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rehearsal.ledger.db import StateDB
    from rehearsal.plan.matrix import Rehearsal, Shard
    from rehearsal.session.options import RunArgs


@dataclass
class Slot:
    rehearsal: Rehearsal
    run_id: str
    exit_code: int | None = None
    verdict: str | None = None


def write_matrix_reports(
    args: RunArgs,
    store: StateDB | None,
    slots: list[Slot],
    unrouted: int,
    shard: Shard | None,
    matrix_id: str = "matrix-empty",
    stopped: BaseException | None = None,
) -> None:
    """One JSON per run plus a summary; one JUnit file with a suite per rehearsal; one
    Markdown file with every run. Paths: rehearsal/reports/merge.py."""
    from rehearsal.reports.files import ReportPaths, render, stopped_by, write_reports
    from rehearsal.reports.merge import combine_junit, run_json_path, summary, summary_path

    why = stopped_by(stopped) if stopped is not None else None
    rows: list[dict[str, Any]] = []
    junit: list[str] = []
    markdown: list[str] = []
    for n, slot in enumerate(slots, start=1):
        report = None
        if args.report_json is not None and store is not None:
            path = run_json_path(args.report_json, n)
            write_reports(store, slot.run_id, ReportPaths(json=path), why)
            report = path.name
        if args.junit is not None and store is not None:
            junit.append(render(store, slot.run_id, "junit", why))
        if args.report_md is not None and store is not None:
            markdown.append(render(store, slot.run_id, "md", why))
        rows.append(
            {
                "name": slot.rehearsal.name,
                "run_id": slot.run_id,
                "verdict": str(slot.verdict) if slot.verdict else "not run",
                "exit_code": slot.exit_code or 0,
                "report": report,
            }
        )
    doc = summary(matrix_id, str(shard) if shard else None, rows, unrouted)
    if args.report_json is not None:
        _write(summary_path(args.report_json), json.dumps(doc, indent=2) + "\n")
    if args.junit is not None:
        _write(args.junit, combine_junit(junit))
    if args.report_md is not None:
        head = [
            f"# Matrix {matrix_id}: {doc['passed']} of {doc['total']} passed",
            "",
            "| rehearsal | verdict | run |",
            "|---|---|---|",
            *(f"| {r['name']} | {r['verdict']} | {r['run_id']} |" for r in rows),
            "",
        ]
        _write(args.report_md, "\n".join(head + markdown))


def _write(path: Path, text: str) -> None:
    from rehearsal.reports.files import write_file as write

    write(path, text)
