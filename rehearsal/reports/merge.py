"""Reports of many rehearsals: one JUnit file with a test suite per rehearsal, a JSON
summary beside one JSON report per run, and `rehearsal report merge` to combine the files
of a matrix's shards (each a CI job) into one.

Paths: `--report-json out/r.json` writes `out/r.1.json` ... `out/r.M.json` (one per run, in
the matrix's order) and `out/r.summary.json`; shards are numbered within their own slice,
so each CI job writes its own folder (or its own stem) and `merge` combines the summaries.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

from rehearsal.errors import UsageError

SUMMARY_KIND = "rehearsal-matrix-summary"
_COUNTS = ("tests", "failures", "errors", "skipped")

Row = Mapping[str, object]  # one rehearsal: name, run_id, verdict, exit_code, report


class MatrixSummary(TypedDict):
    kind: str
    matrix_ids: list[str]
    shards: list[str]
    rehearsals: list[Row]
    total: int
    passed: int
    not_passed: int
    exit_code: int  # the worst of the rehearsals'
    unrouted_events: int


def run_json_path(base: Path, n: int) -> Path:
    """The n-th run's JSON report (1-based) beside `base`: `r.json` -> `r.3.json`."""
    return base.with_name(f"{base.stem}.{n}{base.suffix or '.json'}")


def summary_path(base: Path) -> Path:
    return base.with_name(f"{base.stem}.summary{base.suffix or '.json'}")


def combine_junit(docs: list[str], name: str = "rehearsal") -> str:
    """One <testsuites> holding every <testsuite> of `docs` (each a JUnit document), with
    the totals added up."""
    suites = ET.Element("testsuites", name=name)
    for text in docs:
        root = ET.fromstring(text)
        for suite in [root] if root.tag == "testsuite" else root.findall("testsuite"):
            suites.append(suite)
    _totals(suites)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _totals(suites: ET.Element) -> None:
    sums = dict.fromkeys(_COUNTS, 0)
    time = 0.0
    for suite in suites.findall("testsuite"):
        for key in _COUNTS:
            sums[key] += int(suite.get(key, "0") or 0)
        time += float(suite.get("time", "0") or 0)
    for key, value in sums.items():
        suites.set(key, str(value))
    suites.set("time", f"{time:.3f}")


def summary(matrix_id: str, shard: str | None, rows: Sequence[Row], unrouted: int) -> MatrixSummary:
    """The matrix's summary: one row per run (name, run id, verdict, exit code, report)."""
    return _summary([matrix_id], [shard] if shard else [], list(rows), unrouted)


def _summary(ids: list[str], shards: list[str], rows: list[Row], unrouted: int) -> MatrixSummary:
    passed = sum(1 for r in rows if r["verdict"] == "passed")
    return {
        "kind": SUMMARY_KIND,
        "matrix_ids": ids,
        "shards": shards,
        "rehearsals": rows,
        "total": len(rows),
        "passed": passed,
        "not_passed": len(rows) - passed,
        "exit_code": max((_int(r["exit_code"]) for r in rows), default=0),
        "unrouted_events": unrouted,
    }


def _int(value: object) -> int:
    """A whole number from a summary row (an int; text such as "3" from an older file)."""
    return value if isinstance(value, int) else int(str(value))


def merge(out: Path, inputs: list[Path]) -> int:
    """`rehearsal report merge OUT IN...`: JUnit files (OUT ends in .xml) or JSON summaries
    (OUT ends in .json) of shards, combined. Returns the exit code (0)."""
    if not inputs:
        raise UsageError("nothing to merge", hint="rehearsal report merge OUT.xml IN.xml...")
    texts: list[tuple[Path, str]] = []
    for path in inputs:
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    if out.suffix == ".xml":
        docs = []
        for path, text in texts:
            try:
                ET.fromstring(text)
            except ET.ParseError as exc:
                raise UsageError(f"{path}: not a JUnit XML file ({exc})") from None
            docs.append(text)
        result = combine_junit(docs)
    elif out.suffix == ".json":
        result = json.dumps(merge_summaries(texts), indent=2) + "\n"
    else:
        raise UsageError(f"{out}: expected a .xml (JUnit) or .json (matrix summaries) output path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(result, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return 0


def merge_summaries(texts: list[tuple[Path, str]]) -> MatrixSummary:
    rows: list[Row] = []
    ids: list[str] = []
    shards: list[str] = []
    unrouted = 0
    for path, text in texts:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(doc, dict) or doc.get("kind") != SUMMARY_KIND:
            raise UsageError(
                f'{path}: not a matrix summary (expected "kind": "{SUMMARY_KIND}")',
                hint="merge the <stem>.summary.json files that `run --report-json` writes",
            )
        for row in doc["rehearsals"]:
            rows.append({**row, "report": _beside(path, row.get("report"))})
        ids += doc["matrix_ids"]
        shards += doc["shards"]
        unrouted += int(doc.get("unrouted_events", 0))
    return _summary(ids, shards, rows, unrouted)


def _beside(summary_file: Path, report: str | None) -> str | None:
    """A run report's path as written next to its summary, kept relative to that summary."""
    if report is None:
        return None
    return str(summary_file.parent / report) if summary_file.parent != Path(".") else report
