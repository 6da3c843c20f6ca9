"""Reports rendered from a real ledger (SQLite) in states a passing CLI run never reaches:
a run stopped before its first step, a paused run, a webhook that came late and twice, and
the `report` command's errors. Webhooks go through the real receiver with real signatures."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehearsal.cli.app import app
from rehearsal.errors import ProviderError, UsageError
from rehearsal.ledger.db import StateDB
from rehearsal.plan.builtin import resolve_plan_path
from rehearsal.plan.load import load_plan
from rehearsal.providers.base import ApiCall
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver.endpoint import Receiver
from rehearsal.reports import json_report, markdown
from rehearsal.reports.files import ReportPaths, render, write_after_run
from tests.conftest import WEBHOOK_SECRET, event_body, signed_headers
from tests.e2e.test_reports_cli import validate

RUN = "20261123-120000-abcdef"
MARKER = "payload-only-marker-4111111111111111"  # a card-number-like value inside a body


@pytest.fixture
def ledger(store: StateDB) -> StateDB:
    plan = load_plan(resolve_plan_path("rehearsal"))
    store.create_run(
        RUN,
        plan=plan.name,
        plan_path="plans/rehearsal.yaml",
        provider="mintcash",
        environment="test",
        target="the built-in simulator",
        steps=[(s.id, s.action) for s in plan.steps],
        plan_json=plan.model_dump_json(),
    )
    return store


@pytest.fixture
def receiver(ledger: StateDB) -> Iterator[Receiver]:
    adapter = MintCash(
        api_base="http://127.0.0.1:9",  # never called: only its webhook verification is used
        secret_key="sk_test_unused",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )
    yield Receiver(adapter.verify_webhook, environment="test", store=ledger, run_id=RUN)
    adapter.close()


def all_formats(store: StateDB, **kw: Any) -> dict[str, str]:
    return {fmt: render(store, RUN, fmt, **kw) for fmt in ("json", "junit", "md")}


def test_a_late_duplicated_webhook_is_shown_but_not_counted(
    ledger: StateDB, receiver: Receiver
) -> None:
    now = time.time()
    ledger.update_step(RUN, "charge", started_at=now - 2, state="calling", called_at=now - 2)
    ledger.record_call(RUN, "charge", ApiCall("POST", "/payments", 201, "req_1", 5.0))
    ledger.update_step(
        RUN,
        "charge",
        state="failed",
        object_kind="payment",
        object_id="pay_fixture",
        awaited_object="pay_fixture",
        deadline_at=now - 1,
        ended_at=now - 0.5,
        message="step 'charge': no payment.succeeded webhook for pay_fixture within 1s",
    )
    obj = {
        "id": "pay_fixture",
        "object": "payment",
        "amount": 500,
        "currency": "USD",
        "status": "succeeded",
        "amountRefunded": 0,
        "refunds": [],
        "environment": "test",
        "description": MARKER,
    }
    body = event_body(obj=obj)
    for _ in range(2):  # the provider retried: the receiver counts a duplicate
        assert receiver.accept(signed_headers(body), body)[0] == 200
    assert receiver.accept(signed_headers(body, secret="whsec_wrong"), body)[0] == 400
    ledger.finish_run(RUN, "failed", 1, "step 'charge': no payment.succeeded webhook")

    doc = json_report.build(ledger, RUN)
    validate(doc)
    expected = doc["steps"][0]["expected_event"]
    assert expected["type"] == "payment.succeeded" and expected["object_id"] == "pay_fixture"
    assert expected["after_deadline"] and not expected["counted"]
    assert (expected["delivery_attempts"], expected["duplicates"]) == (2, 1)
    assert expected["signature"] == "verified"
    assert [d["verdict"] for d in doc["deliveries"]] == ["accepted", "rejected"]
    assert doc["deliveries"][1]["reason"].startswith("signature")

    texts = all_formats(ledger)
    assert "LATE" in texts["md"] and "REFUSED: signature" in texts["md"]
    for fmt, text in texts.items():
        assert MARKER not in text, f"a webhook body reached the {fmt} report"
        assert WEBHOOK_SECRET not in text
    case = ET.fromstring(texts["junit"]).find("./testsuite/testcase")
    assert case is not None and case.get("name") == "charge: payment.succeeded"
    failure = case.find("failure")
    assert failure is not None and "after the deadline" in (failure.text or "")


def test_a_run_stopped_before_its_first_step_reports_the_error(
    ledger: StateDB, tmp_path: Path
) -> None:
    paths = ReportPaths(tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.md")
    stop = ProviderError("the tunnel's probe never reached the receiver")
    write_after_run(ledger, RUN, paths, stop)

    doc = json.loads((tmp_path / "r.json").read_text())
    validate(doc)
    assert (doc["verdict"], doc["exit_code"]) == ("error", 3)
    assert doc["message"] == stop.message and doc["summary"]["not_run"] == 5
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("tests") == "6" and root.get("errors") == "1" and root.get("skipped") == "5"
    run_case = root.findall("./testsuite/testcase")[-1]
    error = run_case.find("error")
    assert run_case.get("name") == "run" and error is not None
    assert error.get("message") == stop.message
    md = (tmp_path / "r.md").read_text()
    assert "ERROR" in md and stop.message in md

    # A verdict the runner recorded wins over how the process stopped afterwards.
    ledger.finish_run(RUN, "passed", 0)
    write_after_run(ledger, RUN, paths, KeyboardInterrupt())
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "passed"


def test_a_paused_run_is_not_finished_and_its_steps_not_run_yet(ledger: StateDB) -> None:
    now = time.time()
    ledger.update_step(
        RUN, "charge", state="passed", started_at=now, ended_at=now + 0.1, confirmed_by="api"
    )
    doc = json_report.build(ledger, RUN)
    validate(doc)
    assert doc["verdict"] is None and doc["exit_code"] is None
    assert doc["confirmed_only_by_api"] == [{"step": "charge", "object_id": None}]
    texts = all_formats(ledger)
    skipped = ET.fromstring(texts["junit"]).findall("./testsuite/testcase/skipped")
    assert [s.get("message") for s in skipped] == ["not run yet"] * 4
    assert "NOT FINISHED" in texts["md"] and "Confirmed only through the API" in texts["md"]
    assert "confirmed only through the API" in texts["junit"]


def test_an_unwritable_report_is_a_usage_error_unless_another_error_is_on_its_way(
    ledger: StateDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    paths = ReportPaths(junit=blocker / "r.xml")
    with pytest.raises(UsageError, match=r"cannot write the report .*a-file/r\.xml"):
        write_after_run(ledger, RUN, paths, None)
    write_after_run(ledger, RUN, paths, KeyboardInterrupt())  # said, not raised
    assert "cannot write the report" in capsys.readouterr().err


def test_mermaid_labels_cannot_break_the_diagram() -> None:
    assert markdown._label("a;b #c %%d\ne") == "a,b c %d e"


def test_report_command_errors_exit_2(ledger: StateDB, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"REHEARSAL_STATE_DIR": str(ledger.path.parent)}
    bad = runner.invoke(app, ["report", RUN, "--format", "html"], env=env)
    assert bad.exit_code == 2 and "unknown report format 'html'" in bad.output
    missing = runner.invoke(app, ["report", "no-such-run"], env=env)
    assert missing.exit_code == 2 and "no run 'no-such-run'" in missing.output
    empty = runner.invoke(app, ["report"], env={"REHEARSAL_STATE_DIR": str(tmp_path / "none")})
    assert empty.exit_code == 2 and "no runs yet" in empty.output
    blocked = tmp_path / "file"
    blocked.write_text("")
    out = runner.invoke(app, ["report", RUN, "-o", str(blocked / "x.json")], env=env)
    assert out.exit_code == 2 and "cannot write the report" in out.output
    schema = runner.invoke(app, ["report", "schema", "-o", str(tmp_path / "s.json")])
    assert schema.exit_code == 0
    assert json.loads((tmp_path / "s.json").read_text())["properties"]["schema"] == {
        "const": json_report.SCHEMA_VERSION
    }


def test_a_step_skipped_for_its_own_reason_says_why(ledger: StateDB) -> None:
    reason = "unavailable in test mode, as the plan expects: only live payments refund"
    ledger.update_step(
        RUN, "refund", state="skipped", confirmed_by="expected-unavailable", message=reason
    )
    ledger.update_step(RUN, "subscribe", state="skipped")
    validate(json_report.build(ledger, RUN))
    texts = all_formats(ledger)
    skipped = ET.fromstring(texts["junit"]).findall("./testsuite/testcase/skipped")
    assert [s.get("message") for s in skipped][1:3] == [reason, "an earlier step did not pass"]
    assert f"- **refund**: {reason}" in texts["md"]


def test_a_run_ended_by_cleanup_says_so(ledger: StateDB) -> None:
    ledger.update_step(RUN, "charge", state="passed", started_at=time.time())
    ledger.finish_run(RUN, "cleaned-up")
    validate(json_report.build(ledger, RUN))
    texts = all_formats(ledger)
    skipped = ET.fromstring(texts["junit"]).findall("./testsuite/testcase/skipped")
    assert {s.get("message") for s in skipped} == {"not run: `rehearsal cleanup` ended the run"}
    assert texts["md"].startswith("## ⏹️ rehearsal CLEANED-UP")
