"""A Markdown summary of a run, for pull requests and CI summaries (GITHUB_STEP_SUMMARY).

Rendered from the JSON report. It shows the verdict, a table of the transitions, what went
wrong, what was confirmed only through the API, what was compensated, where the money
stands, and a Mermaid sequence diagram of the API calls and webhooks with their timings
(GitHub and GitLab render ```mermaid blocks).
"""

from __future__ import annotations

from datetime import datetime

from rehearsal.amounts import format_amount
from rehearsal.events import event_name
from rehearsal.reports.document import ExpectedEvent, Report, Step
from rehearsal.reports.json_report import shown_object


def _event(e: ExpectedEvent) -> str:
    """`payment.succeeded (payment.paid)`: the rehearsal's name and the provider's."""
    return event_name(e["type"], e.get("provider_type"))


ICON = {
    "passed": "✅",
    "failed": "❌",
    "skipped": "⏭️",
    "interrupted": "⛔",
    "error": "❌",
    "cleaned-up": "⏹️",
    None: "⏸️",
}


def _t(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _label(text: str) -> str:
    """Text Mermaid takes on a message line: no statement separators or entity escapes."""
    return text.replace(";", ",").replace("#", "").replace("%%", "%").replace("\n", " ")


def _offset(at: float | None, t0: float) -> str:
    return f"+{at - t0:.3f}s" if at is not None else "+?"


Timeline = list[tuple[float, int, list[str]]]  # (when, order at a tie, diagram lines)


def _step_lines(step: Step, t0: float, claimed: set[str | None]) -> Timeline:
    """A step's note, its API calls, its webhook (or the deadline it missed), its verdict."""
    start = _t(step["started_at"])
    if start is None:
        return []
    expect = step["expected_event"]
    what = f"{step['id']}" + (f": expects {expect['type']}" if expect else "")
    timeline: Timeline = [(start, 0, [f"    Note over R,W: {_label(what)} ({_offset(start, t0)})"])]
    for c in step["calls"]:
        at = _t(c["at"]) or start
        begun = at - c["duration_ms"] / 1000
        answer = f"{c['status'] or 'no answer'} in {c['duration_ms']:.0f} ms"
        call = _label(c["method"] + " " + c["path"])
        timeline.append(
            (
                begun,
                1,
                [
                    f"    R->>P: {call} ({_offset(begun, t0)})",
                    f"    P-->>R: {_label(answer)}",
                ],
            )
        )
    if expect and expect["arrived_at"]:
        claimed.add(expect["event_id"])
        late = ", LATE" if expect["after_deadline"] else ""
        latency = (
            f", {expect['latency_ms']:.0f} ms after the call"
            if expect["latency_ms"] is not None
            else ""
        )
        arrived = _t(expect["arrived_at"]) or start
        timeline.append(
            (
                arrived,
                2,
                [
                    f"    P-)W: {_label(_event(expect))} {_label(str(expect['object_id']))} "
                    f"({_offset(arrived, t0)}{latency}{late})"
                ],
            )
        )
    elif expect and step["status"] == "failed" and expect["deadline"]:
        due = _t(expect["deadline"]) or start
        missing = f"no {expect['type']} by the deadline ({_offset(due, t0)})"
        timeline.append((due, 2, [f"    Note over W: {_label(missing)}"]))
    end = _t(step["ended_at"])
    if step["status"] in ("passed", "failed", "interrupted") and end is not None:
        verdict = {"passed": "✓", "failed": "✗", "interrupted": "interrupted"}[step["status"]]
        by = f" by {step['confirmed_by']}" if step["confirmed_by"] else ""
        note = f"{verdict} {_label(step['id'])}{by} ({_offset(end, t0)})"
        timeline.append((end, 3, [f"    Note over R: {note}"]))
    return timeline


def _unclaimed(doc: Report, t0: float, claimed: set[str | None]) -> Timeline:
    """Webhooks no step counted (duplicates' first copy, refusals), and cleanup's calls."""
    timeline: Timeline = []
    for d in doc["deliveries"]:
        if d["event_id"] in claimed or d["verdict"] == "ignored":
            continue
        at = _t(d["received_at"]) or t0
        what = (
            f"{event_name(d['type'], d.get('provider_type'))} {d['object_id'] or ''}".strip()
            if d["type"]
            else "a webhook"
        )
        note = "" if d["verdict"] == "accepted" else f" REFUSED: {d['reason']}"
        timeline.append((at, 2, [f"    P-)W: {_label(what + note)} ({_offset(at, t0)})"]))
    for c in doc["compensation_calls"]:
        at = _t(c["at"]) or t0
        begun = at - c["duration_ms"] / 1000
        timeline.append(
            (
                begun,
                1,
                [
                    f"    R->>P: cleanup {_label(c['method'] + ' ' + c['path'])} "
                    f"({_offset(begun, t0)})",
                    f"    P-->>R: {c['status'] or 'no answer'} in {c['duration_ms']:.0f} ms",
                ],
            )
        )
    return timeline


def sequence(doc: Report) -> str:
    """A Mermaid sequenceDiagram: rehearsal ⇄ provider API, provider → webhook receiver."""
    t0 = _t(doc["started_at"]) or 0.0
    provider = doc["provider"]
    lines = [
        "sequenceDiagram",
        "    participant R as rehearsal",
        f"    participant P as {_label(provider)} API ({doc['environment']})",
        "    participant W as webhook receiver",
    ]
    claimed: set[str | None] = set()
    timeline = [entry for step in doc["steps"] for entry in _step_lines(step, t0, claimed)]
    timeline += _unclaimed(doc, t0, claimed)
    for _, _, block in sorted(timeline, key=lambda x: (x[0], x[1])):
        lines.extend(block)
    return "\n".join(lines)


def render(doc: Report) -> str:
    verdict = doc["verdict"]
    title = (verdict or "not finished").upper()
    duration = f" in {doc['duration_s']:.2f}s" if doc["duration_s"] is not None else ""
    exit_code = f", exit {doc['exit_code']}" if doc["exit_code"] is not None else ""
    out = [
        f"## {ICON.get(verdict, '❌')} rehearsal {title}: plan `{doc['plan']}`, "
        f"{doc['provider']} {doc['environment']} mode",
        "",
        f"Run `{doc['run_id']}` against {doc['target']}, started {doc['started_at']}"
        f"{duration}{exit_code}.",
        "",
        "| | step | transition | result | confirmed by | time |",
        "|---|---|---|---|---|---|",
    ]
    for s in doc["steps"]:
        e = s["expected_event"]
        obj = s["object"]
        shown = shown_object(s)
        # The ledger keeps the awaited object's status once the step passed; before that it
        # may be another object's (a refund's own status, next to its payment's id).
        status = obj["status"] if obj and obj["status"] and s["status"] == "passed" else ""
        result = f"`{shown}` {status}".strip() if shown else s["status"]
        timing = f"{s['duration_s']:.2f}s" if s["duration_s"] is not None else ""
        if e and e["latency_ms"] is not None and s["status"] == "passed":
            timing += f" (webhook {e['latency_ms']:.0f} ms)"
        out.append(
            f"| {ICON.get(s['status'], '⏳')} | {_cell(s['id'])} | "
            f"{_cell(_event(e) if e else s['action'])} | {_cell(result)} | "
            f"{_cell(s['confirmed_by'] or '')} | {timing} |"
        )
    problems = [s for s in doc["steps"] if s["status"] in ("failed", "interrupted")]
    if problems or (verdict in ("error", "interrupted") and doc["message"]):
        out += ["", "### What went wrong", ""]
        out += [f"- **{s['id']}**: {s['message'] or s['status']}" for s in problems]
        if not problems:
            out.append(f"- {doc['message']}")
    noted = [s for s in doc["steps"] if s["status"] == "skipped" and s["message"]]
    if noted:  # skipped for a reason of their own, e.g. a refund the plan expects refused
        out += ["", "### Skipped, as noted", ""]
        out += [f"- **{s['id']}**: {s['message']}" for s in noted]
    if doc["confirmed_only_by_api"]:
        out += ["", "### Confirmed only through the API (the webhook never counted)", ""]
        out += [f"- {c['step']}: `{c['object_id']}`" for c in doc["confirmed_only_by_api"]]
    currency = doc.get("currency") or "USD"
    if doc["compensations"]:
        # A run whose steps all passed refunds the subscription's own payments: that
        # settles the rehearsal's money; it compensates for nothing.
        settling = verdict in ("passed", "unsettled")
        title = "Settling the rehearsal's money" if settling else "Compensation"
        out += ["", f"### {title}", ""]
        for c in doc["compensations"]:
            amount = f" {format_amount(c['amount'], currency)}" if c["amount"] else ""
            note = f": {c['message']}" if c["message"] else ""
            out.append(f"- {c['action']}{amount} `{c['object_id']}`: {c['state']}{note}")
    m = doc["money"]
    subs = ", ".join(f"`{s}`" for s in m["active_subscriptions"]) or "none"
    out += [
        "",
        f"**Money**: charged {format_amount(m['charged'], currency)}, refunded "
        f"{format_amount(m['refunded'], currency)}, outstanding "
        f"{format_amount(m['outstanding'], currency)}; "
        f"active subscriptions: {subs}.",
        "",
        "### Sequence",
        "",
        "```mermaid",
        sequence(doc),
        "```",
        "",
    ]
    return "\n".join(out)
