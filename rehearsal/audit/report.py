"""The audit's report: one JSON document, from which the JUnit XML, the Markdown and the
copy kept in the state folder (read by `rehearsal checklist`) are all rendered, so they
never disagree (as the rehearsal's reports, rehearsal/reports/).

It holds outcomes, statuses, timings, file names, lines, commits and masked values: never
a key or a webhook secret. A URL's long path segments (an unguessable token) are masked.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rehearsal.audit.checklist import FAILED, NOT_CHECKABLE, PASSED, roll_up
from rehearsal.audit.dialect import AuditDialect, item
from rehearsal.audit.probes import ProbeResult

SCHEMA_VERSION = "rehearsal.audit/v1"
ICON = {PASSED: "✅", FAILED: "❌", NOT_CHECKABLE: "⚪", "manual": "✋", "not checked": "⏸️"}
CANNOT_SEE = (
    "whether the handler compares signatures in constant time (timing cannot be measured "
    "reliably over a network)",
    "side effects: whether a duplicate was processed twice, whether work is done "
    "asynchronously (`rehearsal run --forward-to` asserts those)",
    "what the endpoint does with events it acknowledged (it only sees the HTTP answer)",
)


def shown_url(url: str) -> str:
    """The URL as it may be shown: any long path segment (a secret token) cut to its first
    4 characters, and no credentials, query or fragment."""
    parts = urlsplit(url)
    path = "/".join(s if len(s) <= 16 else f"{s[:4]}…" for s in parts.path.split("/"))
    netloc = parts.netloc.rpartition("@")[2]  # user:password@ never shown
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def document(
    *,
    kind: str,
    dialect: AuditDialect,
    environment: str,
    target: str,
    results: tuple[ProbeResult, ...],
    started: float,
    finished: float,
    limit_s: float | None = None,
    findings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    failed = any(r.outcome == FAILED for r in results)
    probes = []
    by_item: dict[str, list[ProbeResult]] = {}
    for r in results:
        it = item(dialect, dialect.probe_items[r.probe])
        by_item.setdefault(it.id, []).append(r)
        probes.append(
            {
                "id": r.probe,
                "title": r.title,
                "outcome": r.outcome,
                "detail": r.detail,
                "item": it.id,
                "item_text": it.text,
                "source": it.source,
                "deliveries": [
                    {"status": d.status, "ms": round(d.ms, 1), "error": d.error}
                    for d in r.deliveries
                ],
            }
        )
    items = [
        {
            "id": i.id,
            "section": i.section,
            "text": i.text,
            "source": i.source,
            "outcome": roll_up(r.outcome for r in by_item[i.id]),
            "probes": [r.probe for r in by_item[i.id]],
        }
        for i in dialect.items
        if i.id in by_item
    ]
    return {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "provider": dialect.provider,
        "environment": environment,
        "target": target,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "limit_s": limit_s,
        "verdict": FAILED if failed else PASSED,
        "exit_code": 1 if failed else 0,
        "probes": probes,
        "items": items,
        "findings": findings or [],
        "cannot_see": list(CANNOT_SEE) if kind == "endpoint" else [],
    }


def junit(doc: dict[str, Any]) -> str:
    suite = ET.Element("testsuite", name=f"rehearsal.audit.{doc['kind']}.{doc['provider']}")
    props = ET.SubElement(suite, "properties")
    for key in ("provider", "environment", "target", "verdict", "exit_code"):
        ET.SubElement(props, "property", name=key, value=str(doc[key]))
    failures = skipped = 0
    for p in doc["probes"]:
        total_ms = sum(d["ms"] for d in p["deliveries"])
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"rehearsal.audit.{doc['provider']}.{p['item']}",
            name=f"{p['title']} ({p['source']}: {p['item_text']})",
            time=f"{total_ms / 1000:.3f}",
        )
        if p["outcome"] == FAILED:
            failures += 1
            ET.SubElement(case, "failure", message=p["detail"]).text = p["detail"]
        elif p["outcome"] == NOT_CHECKABLE:
            skipped += 1
            ET.SubElement(case, "skipped", message=p["detail"])
    suite.set("tests", str(len(doc["probes"])))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> str:
    verdict = doc["verdict"].upper()
    lines = [
        f"## {ICON[doc['verdict']]} rehearsal audit {doc['kind']}: {verdict}",
        "",
        f"{doc['provider']} ({doc['environment']} mode), `{doc['target']}`, "
        f"{doc['started_at']}" + (f"; answer limit {doc['limit_s']:g}s" if doc["limit_s"] else ""),
        "",
        "| | check | checklist item | evidence |",
        "|---|---|---|---|",
    ]
    for p in doc["probes"]:
        lines.append(
            f"| {ICON[p['outcome']]} {p['outcome']} | {_cell(p['title'])} | "
            f"{_cell(p['item_text'])} (`{p['source']}`) | {_cell(p['detail'])} |"
        )
    if doc["findings"]:
        lines += ["", "| file | line | commit | kind | value |", "|---|---|---|---|---|"]
        for f in doc["findings"]:
            lines.append(
                f"| `{_cell(f['file'])}` | {f['line']} | {f['commit'] or 'working tree'} | "
                f"{_cell(f['kind'])} | `{f['masked']}` |"
            )
    if doc["cannot_see"]:
        lines += ["", "What the audit cannot see:", ""]
        lines += [f"- {text}" for text in doc["cannot_see"]]
    return "\n".join(lines) + "\n"


def write(
    doc: dict[str, Any], json_path: Path | None, junit_path: Path | None, md_path: Path | None
) -> list[Path]:
    render: dict[str, Callable[[dict[str, Any]], str]] = {
        "json": lambda d: json.dumps(d, indent=2) + "\n",
        "junit": junit,
        "md": markdown,
    }
    written = []
    for path, fmt in ((json_path, "json"), (junit_path, "junit"), (md_path, "md")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render[fmt](doc), encoding="utf-8")
            written.append(path)
    return written
