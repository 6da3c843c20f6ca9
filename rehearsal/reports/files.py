"""A run's reports written to files: the paths asked for (`--report-json`, `--junit`,
`--report-md`), each rendered from the ledger through the JSON document, the Markdown also
appended to $GITHUB_STEP_SUMMARY. Used by the run session at the end of a run (passed,
failed or interrupted), by the matrix and by `rehearsal report`. A path that cannot be
written is a usage error that names it, never a traceback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rehearsal.errors import RehearsalError, UsageError

if TYPE_CHECKING:
    from rehearsal.ledger.db import StateDB
    from rehearsal.reports.json_report import Stopped


FORMATS = ("json", "junit", "md")


@dataclass(frozen=True)
class ReportPaths:
    json: Path | None = None
    junit: Path | None = None
    md: Path | None = None

    def any(self) -> bool:
        return any((self.json, self.junit, self.md))


def render(store: StateDB, run_id: str, fmt: str, stopped: Stopped | None = None) -> str:
    from rehearsal.reports import json_report, junit, markdown

    doc = json_report.build(store, run_id, stopped)
    if fmt == "json":
        return json_report.render(doc)
    if fmt == "junit":
        return junit.render(doc)
    if fmt == "md":
        return markdown.render(doc)
    raise UsageError(f"unknown report format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")


def write_file(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="give a path in a folder you can write to",
        ) from None


def write_reports(
    store: StateDB, run_id: str, paths: ReportPaths, stopped: Stopped | None = None
) -> None:
    """Write the reports asked for; the Markdown also goes to $GITHUB_STEP_SUMMARY if set."""
    for fmt, path in (("json", paths.json), ("junit", paths.junit), ("md", paths.md)):
        if path is None:
            continue
        text = render(store, run_id, fmt, stopped)
        write_file(path, text)
        if fmt == "md" and (summary := os.environ.get("GITHUB_STEP_SUMMARY")):
            try:
                with open(summary, "a", encoding="utf-8") as f:
                    f.write(text + "\n")
            except OSError as exc:
                raise UsageError(
                    f"cannot append to $GITHUB_STEP_SUMMARY ({summary}): {exc.strerror or exc}"
                ) from None


def stopped_by(exc: BaseException) -> Stopped | None:
    """How a run that raised `exc` before recording its verdict ended, for its reports."""
    from rehearsal.ledger.states import RunVerdict
    from rehearsal.reports.json_report import Stopped

    if isinstance(exc, KeyboardInterrupt):
        return Stopped(RunVerdict.INTERRUPTED, 130, "interrupted before the run could finish")
    if isinstance(exc, RehearsalError):
        return Stopped(RunVerdict.ERROR, exc.exit_code, exc.message)
    return Stopped(
        RunVerdict.ERROR, None, f"{type(exc).__name__}: the run stopped on an internal error"
    )


def write_after_run(
    store: StateDB, run_id: str, paths: ReportPaths, exc: BaseException | None
) -> None:
    """At the end of `run`/`step`/`resume`, passed, failed or not. While another exception
    is on its way out, a report that cannot be written is said on stderr, not raised."""
    if not paths.any():
        return
    if exc is None:
        write_reports(store, run_id, paths)
        return
    try:
        write_reports(store, run_id, paths, stopped_by(exc))
    except RehearsalError as problem:
        print(f"error: {problem.message}", file=sys.stderr)
