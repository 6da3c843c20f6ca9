"""PayMongo refunds through the CLI, as a user runs `rehearsal run plans/paymongo.yaml` on
the built-in simulator: the documented test-mode refusal (the default), a test-mode account
that refunds (`--sim-fault test-refunds`: pending, then succeeded), and a refund that ends
`failed` (`fail-refund`). The report says which behaviour the account showed; the
simulator's books judge the money."""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.e2e.faultlib import books_money, standalone_simulator
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


def test_a_compensating_refund_that_fails_later_is_money_left_not_settled(
    tmp_path: Path,
) -> None:
    """Every refund fails after starting `pending`, compensation's own too: the run waits
    for it to leave `pending`, and says what the books say (outstanding), not "refunded"."""
    code, out, doc, _ = run(tmp_path, "test-refunds", "fail-refund:*")
    assert code == 1, out
    assert [(c["action"], c["state"]) for c in doc["compensations"]] == [("refund", "failed")]
    held = books(tmp_path, doc)
    assert (held.charged, held.refunded) == (20000, 0)
    money = doc["money"]
    assert (money["charged"], money["refunded"], money["outstanding"]) == (20000, 0, 20000)
    assert money["refunds_pending"] == 0
    assert "outstanding PHP 200.00" in out and "rehearsal cleanup" in out


def test_cleanup_sends_a_failed_refund_again_under_a_new_key(tmp_path: Path) -> None:
    """The subscription's payments' refunds fail at the provider after starting pending:
    the run ends unsettled, as the books say. Once refunds work again, `cleanup` refunds
    them: under new keys, since the first ones would only replay the failed refunds."""
    with standalone_simulator(
        tmp_path / "sim", ["test-refunds", "fail-refund:*-cleanup-*"], provider="paymongo"
    ) as sim:
        env = sim.cli_env()
        report = tmp_path / "report.json"
        ran = rehearsal(
            "run", PLAN, "--report-json", str(report), state=tmp_path / "s", cwd=tmp_path, env=env
        )
        assert ran.returncode == 3, ran.stdout + ran.stderr  # passed, but money was left
        doc = json.loads(report.read_text())
        held = books_money(sim.db, doc["run_id"])
        left = held.charged - held.refunded
        assert left == 40000 and doc["money"]["outstanding"] == left  # both renewals' payments
        assert {c["state"] for c in doc["compensations"]} == {"failed"}

        sim.set_faults(["test-refunds"])  # the provider refunds again
        cleaned = rehearsal("cleanup", doc["run_id"], state=tmp_path / "s", cwd=tmp_path, env=env)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
        held = books_money(sim.db, doc["run_id"])
        assert held.charged == held.refunded == 60000
        status = rehearsal(
            "status", doc["run_id"], "--json", state=tmp_path / "s", cwd=tmp_path, env=env
        )
        money = json.loads(status.stdout)["money"]
        assert (money["charged"], money["refunded"], money["outstanding"]) == (60000, 60000, 0)
        with sqlite3.connect(tmp_path / "s" / "rehearsal.sqlite") as db:
            rows = db.execute("SELECT state, idempotency_key FROM compensations ORDER BY seq")
            attempts = [(state, str(key)) for state, key in rows]
        # The failed first attempts stay failed in the ledger; the second ones did the work,
        # each under its first key and `-2`.
        assert [state for state, _ in attempts] == ["failed", "failed", "done", "done"]
        assert all(key.endswith("-20000") for _, key in attempts[:2]), attempts
        assert [key for _, key in attempts[2:]] == [key + "-2" for _, key in attempts[:2]]
