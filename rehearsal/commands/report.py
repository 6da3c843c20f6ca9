"""`rehearsal report RUN` and the report flags of `run`, `step` and `resume`.

Every format is rendered from the ledger through the JSON document, so a report written at
the end of a run and one rendered later from the same run say the same thing.
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


def _write(path: Path, text: str) -> None:
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
        _write(path, text)
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


def main(
    run_id: str | None, paths: list[Path], fmt: str, output: Path | None, folder: Path | None
) -> int:
    """`rehearsal report`: a stored run (`report`), the JSON Schema (`schema`), or shards'
    files combined (`merge OUT IN...`)."""
    if run_id == "schema":
        return schema(output)
    if run_id == "merge":
        from rehearsal.reports.merge import merge

        return merge(paths[0], paths[1:]) if paths else merge(Path("-"), [])
    return report(run_id, fmt, output, folder)


def report(run_id: str | None, fmt: str, output: Path | None, folder: Path | None) -> int:
    """Render a stored run (the latest without RUN) to stdout or `output`."""
    from rehearsal.commands.ledger import find_run, open_store

    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
    store = open_store(folder)
    try:
        text = render(store, find_run(store, run_id)["id"], fmt)
    finally:
        store.close()
    if output is None:
        sys.stdout.write(text)
    else:
        _write(output, text)
    return 0


def schema(output: Path | None) -> int:
    """Print (or write) the JSON Schema of the JSON report."""
    from rehearsal.reports.json_report import schema_text

    if output is None:
        sys.stdout.write(schema_text())
    else:
        _write(output, schema_text())
    return 0
