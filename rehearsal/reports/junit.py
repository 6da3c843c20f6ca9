"""JUnit XML of a run: one test case per transition, so CI shows a failure by its name.

Rendered from the JSON report (not from the database directly), so the formats agree. The
shape is the one CI systems read (Jenkins, GitLab, GitHub test reporters): <testsuites> →
<testsuite> → <testcase classname name time> with <failure>, <error> or <skipped>.
A failed assertion is a <failure>; a provider, network or usage error, or an interrupt, is
an <error>; a step that never ran is <skipped>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import astuple, dataclass

from rehearsal.amounts import format_amount
from rehearsal.events import event_name
from rehearsal.reports.document import ExpectedEvent, Report, Step

RUN_ERRORS = ("error", "interrupted", "internal-error")  # verdicts a step failed as <error>


def _expected_name(e: ExpectedEvent) -> str:
    return event_name(e["type"], e.get("provider_type"))


def _name(step: Step) -> str:
    """`refund: payment.refunded`: the step and the transition it asserts."""
    expected = step["expected_event"]
    if expected:
        return f"{step['id']}: {_expected_name(expected)}"
    return f"{step['id']}: {step['action']}"


def _details(step: Step) -> str:
    lines = []
    for c in step["calls"]:
        lines.append(
            f"{c['method']} {c['path']} -> {c['status'] or 'no answer'} "
            f"({c['request_id'] or 'no request id'}, {c['duration_ms']:.0f} ms)"
        )
    e = step["expected_event"]
    if e:
        if e["arrived_at"]:
            late = ", after the deadline" if e["after_deadline"] else ""
            lines.append(
                f"webhook {_expected_name(e)} {e['event_id']} for {e['object_id']} arrived "
                f"{e['latency_ms']:.0f} ms after the call{late}; signature {e['signature']}; "
                f"{e['delivery_attempts']} delivery attempt(s)"
            )
        else:
            lines.append(
                f"webhook {e['type']} for {e['object_id'] or 'the object'}: none counted "
                f"(deadline {e['deadline'] or 'not reached'})"
            )
    if step["status"] == "passed" and step["message"]:
        lines.append(step["message"])  # what else the outcome shows (a test-mode refund)
    if step["confirmed_by"] == "api":
        lines.append("confirmed only through the API: its webhook never counted (a finding)")
    elif step["confirmed_by"]:
        lines.append(f"confirmed by {step['confirmed_by']}")
    return "\n".join(lines)


@dataclass
class _Counts:
    failures: int = 0
    errors: int = 0
    skipped: int = 0


def _outcome(case: ET.Element, step: Step, doc: Report, counts: _Counts) -> None:
    """The step's <failure>, <error> or <skipped> (nothing when it passed), counted."""
    status = step["status"]
    message = step["message"] or ""
    run_error = doc["verdict"] in RUN_ERRORS
    if status == "failed":
        tag = "error" if run_error else "failure"
        if run_error:
            counts.errors += 1
        else:
            counts.failures += 1
        el = ET.SubElement(
            case, tag, message=message, type="error" if run_error else "AssertionFailed"
        )
        el.text = message + "\n\n" + _details(step)
    elif status == "interrupted":
        counts.errors += 1
        el = ET.SubElement(case, "error", message="interrupted", type="Interrupted")
        el.text = _details(step)
    elif status in ("skipped", "pending"):
        counts.skipped += 1
        why = step["message"] or (
            "an earlier step did not pass"
            if status == "skipped"
            else "not run: `rehearsal cleanup` ended the run"
            if doc["verdict"] == "cleaned-up"
            else "not run yet"
        )
        ET.SubElement(case, "skipped", message=why)
    elif status != "passed":  # began in a process that is gone; resume to finish it
        counts.errors += 1
        el = ET.SubElement(case, "error", message=f"unfinished: {status}", type="Unfinished")
        el.text = _details(step)


def _run_cases(suite: ET.Element, doc: Report, classname: str, counts: _Counts) -> None:
    """Test cases for what no step carries: a run stopped outside any step, money left."""
    message = doc["message"]
    if doc["verdict"] in RUN_ERRORS and not any(
        s["status"] in ("failed", "interrupted") for s in doc["steps"]
    ):
        # The run stopped outside any step (the receiver, the tunnel, the provider's setup):
        # one test case carries it, or CI would show nothing red.
        counts.errors += 1
        case = ET.SubElement(suite, "testcase", classname=classname, name="run", time="0.000")
        verdict = str(doc["verdict"])
        ET.SubElement(case, "error", message=message or verdict, type=verdict).text = message or ""
    if doc["verdict"] == "unsettled":
        # Every step passed, but the run left money: a failure CI must show, never green.
        counts.failures += 1
        case = ET.SubElement(suite, "testcase", classname=classname, name="settle", time="0.000")
        ET.SubElement(case, "failure", message=message or "money left", type="Unsettled").text = (
            message or ""
        )


def _money_text(doc: Report) -> str:
    currency = doc.get("currency") or "USD"
    summary = [
        f"{c['action']} {c['object_id']} "
        f"{format_amount(c['amount'], currency) if c['amount'] else ''} "
        f"{c['state']}".replace("  ", " ")
        + (f": {c['message']}" if c["message"] else "")
        for c in doc["compensations"]
    ]
    m = doc["money"]
    summary.append(
        f"money: charged {format_amount(m['charged'], currency)}, refunded "
        f"{format_amount(m['refunded'], currency)}, outstanding "
        f"{format_amount(m['outstanding'], currency)} "
        "(the JSON report keeps minor units)"
    )
    return "\n".join(summary)


def render(doc: Report) -> str:
    steps = doc["steps"]
    classname = f"rehearsal.{doc['provider']}.{doc['plan']}"
    counts = _Counts()
    suite = ET.Element("testsuite")
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "provider", "environment", "target", "verdict", "exit_code"):
        ET.SubElement(props, "property", name=key, value=str(doc[key]))
    for step in steps:  # which behaviour the test-mode account showed
        if refund := step.get("test_mode_refund"):
            name = f"test_mode_refund.{step['id']}"
            ET.SubElement(props, "property", name=name, value=refund)
    for step in steps:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname,
            name=_name(step),
            time=f"{step['duration_s'] or 0:.3f}",
        )
        _outcome(case, step, doc, counts)
        out = _details(step) if step["status"] == "passed" else ""
        if out:
            ET.SubElement(case, "system-out").text = out
    _run_cases(suite, doc, classname, counts)
    ET.SubElement(suite, "system-out").text = _money_text(doc)
    total = str(len(suite.findall("testcase")))
    failures, errors, skipped = (str(n) for n in astuple(counts))
    suite.attrib.update(
        name=f"rehearsal {doc['plan']} ({doc['provider']} {doc['environment']})",
        tests=total,
        failures=failures,
        errors=errors,
        skipped=skipped,
        time=f"{doc['duration_s'] or 0:.3f}",
        timestamp=(doc["started_at"] or "")[:19],
        hostname="rehearsal",
    )
    root = ET.Element(
        "testsuites",
        name="rehearsal",
        tests=total,
        failures=failures,
        errors=errors,
        skipped=skipped,
        time=suite.attrib["time"],
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def refused(message: str, exit_code: int) -> str:
    """JUnit XML for a run refused before it was recorded (a bad plan, missing keys, live
    mode not armed): one <error> test case, so CI shows why instead of a missing file."""
    suites = ET.Element("testsuites", name="rehearsal", tests="1", failures="0", errors="1")
    suite = ET.SubElement(
        suites, "testsuite", name="rehearsal", tests="1", failures="0", errors="1", skipped="0"
    )
    case = ET.SubElement(suite, "testcase", classname="rehearsal", name="setup", time="0")
    error = ET.SubElement(case, "error", message=message, type=f"exit {exit_code}")
    error.text = message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
