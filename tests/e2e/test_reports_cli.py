"""The reports as a user gets them: `rehearsal run` writes JSON, JUnit and Markdown at once
(a passing run, a failing one, an interrupted one), and `rehearsal report` renders the same
run again from the ledger. Each run is one subprocess; the checks share it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from rehearsal.cli.app import app
from tests.e2e.test_run_cli import TRANSITIONS, rehearsal, sim_keys

STEPS = ["charge", "refund", "subscribe", "renewal", "cancel"]


def schema() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["report", "schema"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


def validate(report: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(report)]
    assert not errors, errors


def reports(folder: Path) -> list[str]:
    return ["--report-json", str(folder / "r.json"), "--junit", str(folder / "r.xml"),
            "--report-md", str(folder / "r.md")]  # fmt: skip


def cases_of(path: Path) -> list[ET.Element]:
    return ET.parse(path).getroot().findall("./testsuite/testcase")


@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("passed")
    summary = tmp / "step-summary.md"
    summary.write_text("# earlier step\n")
    result = rehearsal(
        "run",
        *reports(tmp / "out"),
        state=tmp / "state",
        cwd=tmp,
        env={"GITHUB_STEP_SUMMARY": str(summary), "NO_COLOR": ""},  # no terminal: no colour
    )
    return {"tmp": tmp, "out": tmp / "out", "state": tmp / "state", "result": result}


def test_passing_run_writes_every_format(passed: dict[str, Any]) -> None:
    result, out = passed["result"], passed["out"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout + result.stderr  # not a terminal: plain lines

    data = json.loads((out / "r.json").read_text())
    validate(data)
    assert data["verdict"] == "passed" and data["exit_code"] == 0
    assert data["summary"] == {
        "steps": 5,
        "passed": 5,
        "failed": 0,
        "skipped": 0,
        "interrupted": 0,
        "not_run": 0,
    }
    assert [s["expected_event"]["type"] for s in data["steps"]] == TRANSITIONS
    for step in data["steps"]:
        event = step["expected_event"]
        assert event["signature"] == "verified" and event["counted"]
        assert event["delivery_attempts"] == 1 + event["duplicates"]
        assert step["started_at"] <= event["arrived_at"] <= event["deadline"]
        assert event["latency_ms"] >= 0 and step["duration_s"] > 0
        assert event["object_id"].startswith(("pay_", "sub_"))
        assert all(c["request_id"].startswith("req_") for c in step["calls"])
    refund = data["steps"][1]["expected_event"]
    assert refund["object_id"] == data["steps"][0]["object"]["id"]  # the payment, not re_
    assert data["confirmed_only_by_api"] == []
    assert data["money"]["outstanding"] == 0
    assert {c["action"] for c in data["compensations"]} == {"refund_subscription_payment"}

    cases = cases_of(out / "r.xml")
    assert [c.get("name") for c in cases] == [
        f"{s}: {t}" for s, t in zip(STEPS, TRANSITIONS, strict=True)
    ]
    assert not [c for c in cases if len(c.findall("failure")) + len(c.findall("error"))]
    assert all(float(c.get("time", "-1")) > 0 for c in cases)
    suite = ET.parse(out / "r.xml").getroot()
    assert suite.get("tests") == "5" and suite.get("failures") == "0"

    md = (out / "r.md").read_text()
    assert "PASSED" in md and "```mermaid\nsequenceDiagram" in md
    assert md.count("P-)W: ") >= 5 and "R->>P: POST /payments" in md
    for transition in TRANSITIONS:
        assert f"| {transition} |" in md
    # GitHub's step summary: appended to what earlier steps wrote, not replacing it.
    summary = (passed["tmp"] / "step-summary.md").read_text()
    assert summary.startswith("# earlier step\n") and md in summary


def test_reports_hold_no_secret(passed: dict[str, Any]) -> None:
    secrets = sim_keys(passed["state"])
    assert len(secrets) == 3
    for name in ("r.json", "r.xml", "r.md"):
        text = (passed["out"] / name).read_text()
        for secret in secrets:
            assert secret not in text, f"a simulator secret in {name}"
        assert "4242424242424242" not in text  # the simulator's visa test card number
    steps = json.loads((passed["out"] / "r.json").read_text())["steps"]
    assert [s["card"] for s in steps if s["action"] in ("charge", "subscribe")] == [
        "visa ••4242",
        "visa ••4242",
    ]  # all a report shows of the card: brand and last four digits


def test_report_command_renders_the_stored_run_again(passed: dict[str, Any]) -> None:
    env = {"REHEARSAL_STATE_DIR": str(passed["state"]), "GITHUB_STEP_SUMMARY": ""}
    run_id = json.loads((passed["out"] / "r.json").read_text())["run_id"]
    runner = CliRunner()
    for fmt, name in (("json", "r.json"), ("junit", "r.xml"), ("md", "r.md")):
        again = runner.invoke(app, ["report", run_id, "--format", fmt], env=env)
        assert again.exit_code == 0, again.output
        assert again.output == (passed["out"] / name).read_text(), fmt
    latest = runner.invoke(app, ["report", "-f", "junit"], env=env)  # no RUN: the latest
    assert latest.output == (passed["out"] / "r.xml").read_text()
    target = passed["tmp"] / "again" / "r.md"
    written = runner.invoke(app, ["report", run_id, "-f", "md", "-o", str(target)], env=env)
    assert written.exit_code == 0 and target.read_text() == (passed["out"] / "r.md").read_text()


def test_failing_run_names_the_transition_in_every_format(tmp_path: Path) -> None:
    result = rehearsal(
        "run",
        "--sim-fault",
        "drop:payment.refunded",
        "--timeout-scale",
        "0.1",
        *reports(tmp_path),
        state=tmp_path / "state",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr

    data = json.loads((tmp_path / "r.json").read_text())
    validate(data)
    assert data["verdict"] == "failed" and data["exit_code"] == 1
    refund = data["steps"][1]
    assert refund["status"] == "failed"
    assert "no payment.refunded webhook" in refund["message"]
    assert "webhook never arrived" in refund["message"]
    assert refund["expected_event"]["arrived_at"] is None
    assert refund["expected_event"]["delivery_attempts"] == 0
    assert refund["expected_event"]["deadline"] is not None
    assert [s["status"] for s in data["steps"][2:]] == ["skipped"] * 3
    assert data["money"]["outstanding"] == 0

    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("tests") == "5" and root.get("failures") == "1" and root.get("skipped") == "3"
    failed = [c for c in cases_of(tmp_path / "r.xml") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["refund: payment.refunded"]
    failure = failed[0].find("failure")
    assert failure is not None
    assert failure.get("message") == refund["message"]
    assert 0.5 <= float(failed[0].get("time", "0")) < 5  # waited its (scaled) 1s deadline

    md = (tmp_path / "r.md").read_text()
    assert "FAILED" in md and "### What went wrong" in md and refund["message"] in md
    assert "Note over W: no payment.refunded by the deadline" in md


def test_interrupted_run_still_writes_its_reports(tmp_path: Path) -> None:
    # The refund call is held open by the simulator; Ctrl-C arrives while it hangs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    env.update(REHEARSAL_STATE_DIR=str(tmp_path / "state"), NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", "--sim-fault", "hold:POST /refund=1.5",
         *reports(tmp_path)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    for line in proc.stdout:
        if "▶ refund" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err

    data = json.loads((tmp_path / "r.json").read_text())
    validate(data)
    assert data["verdict"] == "interrupted" and data["exit_code"] == 130
    assert [s["status"] for s in data["steps"][:2]] == ["passed", "interrupted"]
    errors = [c for c in cases_of(tmp_path / "r.xml") if c.find("error") is not None]
    assert [c.get("name") for c in errors] == ["refund: payment.refunded"]
    assert "INTERRUPTED" in (tmp_path / "r.md").read_text()


def test_step_and_resume_write_reports_of_the_run_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # resume turns SIGTERM and SIGHUP into an interrupt
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith(("MINTCASH_", "REHEARSAL_", "GITHUB_"))]:
        monkeypatch.delenv(name)
    env = {"REHEARSAL_STATE_DIR": str(tmp_path / "state")}
    runner = CliRunner()
    try:
        started = runner.invoke(app, ["start"], env=env)
        assert started.exit_code == 0, started.output
        run_id = started.stdout.strip()  # the hint of what to type next is on stderr
        paused = runner.invoke(
            app, ["step", run_id, "--report-json", "a.json", "--junit", "a.xml"], env=env
        )
        assert paused.exit_code == 0, paused.output
        data = json.loads((tmp_path / "a.json").read_text())
        validate(data)
        assert data["verdict"] is None
        assert [s["status"] for s in data["steps"]] == ["passed"] + ["pending"] * 4
        root = ET.parse(tmp_path / "a.xml").getroot()
        assert (root.get("tests"), root.get("skipped"), root.get("failures")) == ("5", "4", "0")

        ended = runner.invoke(app, ["resume", run_id, "--junit", "b.xml", "--report-md", "b.md"],
                              env=env)  # fmt: skip
        assert ended.exit_code == 0, ended.output
        root = ET.parse(tmp_path / "b.xml").getroot()
        assert (root.get("tests"), root.get("skipped"), root.get("failures")) == ("5", "0", "0")
        assert "PASSED" in (tmp_path / "b.md").read_text()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_at_a_terminal_no_color_keeps_the_live_table_without_colour(tmp_path: Path) -> None:
    from tests.e2e.test_operator_terminal import Terminal
    from tests.test_reports_terminal import COLOUR

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    env.update(REHEARSAL_STATE_DIR=str(tmp_path / "s"), TERM="xterm-256color", NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    term = Terminal(["run"], env, tmp_path)
    assert term.finish() == 0, term.screen
    assert "┏" in term.screen and "PASSED" in term.screen  # the rich live table, not lines
    assert not COLOUR.search(term.screen), repr(term.screen[-300:])


def test_a_run_refused_before_it_starts_still_leaves_a_junit_file(tmp_path: Path) -> None:
    """CI uploads the JUnit file whatever happens: a bad plan must show up there too."""
    plan = tmp_path / "bad.yaml"
    plan.write_text("version: 1\nname: bad\nsteps:\n  - id: charge\n    action: charge\n")
    junit = tmp_path / "out" / "r.xml"
    result = rehearsal("run", str(plan), "--junit", str(junit), state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    root = ET.parse(junit).getroot()
    [case] = root.iter("testcase")
    assert case.get("name") == "setup"
    [error] = case.findall("error")
    assert "bad.yaml" in (error.get("message") or "") and error.get("type") == "exit 2"
