"""PayMongo refunds through the CLI, as a user runs `rehearsal run plans/paymongo.yaml` on
the built-in simulator: the documented test-mode refusal (the default), a test-mode account
that refunds (`--sim-fault test-refunds`: pending, then succeeded), and a refund that ends
`failed` (`fail-refund`). The report says which behaviour the account showed; the
simulator's books judge the money."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.e2e.faultlib import books_money
from tests.e2e.test_paymongo_cli import PLAN
from tests.e2e.test_reports_cli import validate
from tests.e2e.test_run_cli import rehearsal


def run(tmp_path: Path, *faults: str) -> tuple[int, str, dict[str, Any], ET.Element]:
    args = [f"--sim-fault={f}" for f in faults]
    report, junit = tmp_path / "report.json", tmp_path / "report.xml"
    result = rehearsal(
        "run",
        PLAN,
        "--simulator",
        *args,
        "--report-json",
        str(report),
        "--junit",
        str(junit),
        state=tmp_path / "s",
        cwd=tmp_path,
    )
    doc = json.loads(report.read_text())
    validate(doc)
    return result.returncode, result.stdout + result.stderr, doc, ET.parse(junit).getroot()


def step(doc: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in doc["steps"] if s["id"] == step_id)
    return found


def books(tmp_path: Path, doc: dict[str, Any]) -> Any:
    return books_money(tmp_path / "s" / "simulator" / "paymongo.sqlite", doc["run_id"])


def properties(junit: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in junit.iter("property")}


def test_by_default_the_refund_is_refused_as_documented_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    code, out, doc, junit = run(tmp_path)
    assert code == 0, out
    refund = step(doc, "refund")
    assert (refund["status"], refund["test_mode_refund"]) == ("skipped", "refused")
    assert "refund_not_allowed" in refund["message"]
    assert properties(junit)["test_mode_refund.refund"] == "refused"
    assert all(s["test_mode_refund"] is None for s in doc["steps"] if s["id"] != "refund")


def test_a_test_mode_account_that_refunds_passes_pending_then_succeeded(tmp_path: Path) -> None:
    code, out, doc, junit = run(tmp_path, "test-refunds")
    assert code == 0, out
    refund = step(doc, "refund")
    assert (refund["status"], refund["test_mode_refund"]) == ("passed", "refunded")
    assert refund["confirmed_by"] == "webhook+api"
    assert re.fullmatch(
        r"refunded in test mode: the plan expects the documented refusal "
        r"\(unavailable_in_test\); refund ref_\w+ pending, then succeeded",
        refund["message"],
    )
    # On the terminal: the step's outcome says it, with PayMongo's event name.
    assert re.search(
        r"✓ refund pay_\w+ succeeded, confirmed by webhook\+api .*refunded in test", out
    )
    assert re.search(
        r"⇠ payment\.refunded( \(payment\.refund\.updated\))? pay_\w+ \(evt_\w+\) \d+ ms after", out
    ), out
    assert refund["expected_event"]["counted"]
    assert refund["expected_event"]["provider_type"] in (
        "payment.refunded",
        "payment.refund.updated",
    )
    assert refund["object"]["status"] == "succeeded"  # the payment: PayMongo's `paid`
    assert ("POST", "/v1/refunds") in [(c["method"], c["path"]) for c in refund["calls"]]
    assert any(c["path"].startswith("/v1/refunds/ref_") for c in refund["calls"])
    assert properties(junit)["test_mode_refund.refund"] == "refunded"
    [case] = [c for c in junit.iter("testcase") if c.get("name", "").startswith("refund:")]
    assert "refunded in test mode" in (case.findtext("system-out") or "")
    # A refund that succeeded in test mode is a refund: nothing is "not refundable".
    money = doc["money"]
    assert money["not_refundable_in_test"] == 0
    assert money["outstanding"] == 0 and money["refunded"] == money["charged"]
    held = books(tmp_path, doc)
    assert (held.charged, held.refunded, held.active_subscriptions) == (
        money["charged"],
        money["refunded"],
        [],
    )
    assert held.double_charges == []


def test_a_refund_that_fails_fails_its_step_and_the_run_still_settles(tmp_path: Path) -> None:
    code, out, doc, _ = run(tmp_path, "test-refunds", "fail-refund:*-refund")
    assert code == 1, out
    refund = step(doc, "refund")
    assert refund["status"] == "failed"
    assert re.fullmatch(
        r"step 'refund': refund ref_\w+ failed: the payment\.refund_failed "
        r"\(payment\.refund\.updated\) webhook for pay_\w+ says so",
        refund["message"],
    ), refund["message"]
    assert refund["test_mode_refund"] is None
    assert [s["status"] for s in doc["steps"][2:]] == ["skipped"] * 3
    # Cleanup's own refund (another key) succeeds: the books hold nothing charged.
    assert doc["verdict"] == "failed"
    assert [(c["action"], c["state"]) for c in doc["compensations"]] == [("refund", "done")]
    held = books(tmp_path, doc)
    assert (held.charged, held.refunded, held.active_subscriptions) == (20000, 20000, [])
    money = doc["money"]
    assert (money["charged"], money["refunded"], money["outstanding"]) == (20000, 20000, 0)
