"""Stripe through the CLI, as a user runs it on the built-in simulator: the whole loop with
its test clock, the card outcomes, and the events API as the delivery path. The simulator's
books judge the money, and `status --json` must say the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.faultlib import books_money, disagreements, status_json
from tests.e2e.test_reports_cli import validate
from tests.e2e.test_run_cli import rehearsal

ROOT = Path(__file__).resolve().parents[2]
PLAN = str(ROOT / "plans" / "stripe.yaml")
CARDS = str(ROOT / "plans" / "stripe-cards.yaml")


def run(tmp_path: Path, plan: str, *args: str) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.json"
    result = rehearsal(
        "run", plan, "--simulator", "--report-json", str(report), *args,
        state=tmp_path / "s", cwd=tmp_path,
    )  # fmt: skip
    doc = json.loads(report.read_text())
    validate(doc)
    return result.returncode, result.stdout + result.stderr, doc


def books(tmp_path: Path, doc: dict[str, Any]) -> Any:
    return books_money(tmp_path / "s" / "simulator" / "stripe.sqlite", doc["run_id"])


def test_the_stripe_loop_passes_with_its_test_clock_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    code, out, doc = run(tmp_path, PLAN)
    assert code == 0, out
    assert doc["verdict"] == "passed"
    assert all(s["status"] == "passed" for s in doc["steps"]), doc["steps"]
    provider_types = {
        s["id"]: (s["expected_event"] or {}).get("provider_type") for s in doc["steps"]
    }
    assert provider_types["charge"] == "payment_intent.succeeded"
    assert provider_types["renewal"] == "invoice.paid"
    assert provider_types["cancel"] == "customer.subscription.deleted"
    assert "/v1/test_helpers/test_clocks" in out  # the renewal came from advancing its clock
    # The provider's books: the charge and the subscription's two payments (first period,
    # renewal), all refunded; the subscription cancelled; one of each, never two.
    money = books(tmp_path, doc)
    assert money.dialect == "stripe"
    assert money.double_charges == []
    assert money.charged == money.refunded > 0
    assert [s["status"] for s in money.subscriptions] == ["cancelled"]
    assert len([p for p in money.payments if p["subscription_id"]]) == 2
    assert doc["money"]["charged"] == money.charged
    assert doc["money"]["outstanding"] == 0
    assert disagreements(money, status_json(doc["run_id"], tmp_path / "s")) == []
    assert "sk_test_" not in out  # the simulator's key is never printed


def test_declined_and_3d_secure_cards_are_rehearsed_and_nothing_is_charged(
    tmp_path: Path,
) -> None:
    code, out, doc = run(tmp_path, CARDS)
    assert code == 0, out
    statuses = {s["id"]: s["status"] for s in doc["steps"]}
    assert set(statuses.values()) == {"passed"}, statuses
    # Every step, 3-D Secure's too, confirmed by its webhook (payment_intent.requires_action).
    assert {s["confirmed_by"] for s in doc["steps"]} == {"webhook+api"}, doc["steps"]
    money = books(tmp_path, doc)
    assert money.charged == 0 and money.double_charges == []
    failed = [p for p in money.payments if p["status"] == "failed"]
    assert len(failed) >= 2  # a declined card and insufficient funds: the books hold both


def test_with_no_receiver_path_the_events_api_delivers_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    code, out, doc = run(tmp_path, PLAN, "--tunnel", "events-api")
    assert code == 0, out
    assert "events read through its events API" in doc["target"]
    used = [d for d in doc["deliveries"] if d["verdict"] == "accepted"]
    assert used and {d["via"] for d in doc["deliveries"]} == {"events-api"}
    for step in doc["steps"]:
        expected = step["expected_event"]
        if expected and expected.get("event_id"):
            assert expected["event_id"] in {d["event_id"] for d in used}
    money = books(tmp_path, doc)
    assert money.charged == money.refunded > 0
    assert disagreements(money, status_json(doc["run_id"], tmp_path / "s")) == []
