"""A provider that names its events otherwise (PayMongo's payment.paid): the output and
every report show its name next to the rehearsal's, as its dashboard shows them. The
reports keep amounts in minor units and say so; what a person reads shows money."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rehearsal.reports.json_report import schema_text
from tests.e2e.test_run_cli import rehearsal


def test_paymongo_event_names_show_in_the_output_and_every_report(tmp_path: Path) -> None:
    result = rehearsal(
        "run",
        "paymongo",
        "--simulator",
        "--plain",
        "--report-json",
        "r.json",
        "--junit",
        "r.xml",
        "--report-md",
        "r.md",
        state=tmp_path / "s",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "⇠ payment.succeeded (payment.paid) pay_" in out
    assert "⇠ subscription.renewed (subscription.invoice.paid) subs_" in out
    assert "▶ charge: charge PHP 200.00" in out
    assert "report: r.json, r.xml, r.md" in out

    doc = json.loads((tmp_path / "r.json").read_text())
    charge = doc["steps"][0]["expected_event"]
    assert (charge["type"], charge["provider_type"]) == ("payment.succeeded", "payment.paid")
    assert {(d["type"], d["provider_type"]) for d in doc["deliveries"]} >= {
        ("payment.succeeded", "payment.paid"),
        ("subscription.renewed", "subscription.invoice.paid"),
    }
    # The JSON keeps integers in minor units, and its schema says so.
    assert doc["currency"] == "PHP" and doc["steps"][0]["amount"] == 20000
    assert doc["money"]["charged"] == 60000
    assert "minor units" in json.loads(schema_text())["description"]

    cases = [c.get("name") for c in ET.parse(tmp_path / "r.xml").iter("testcase")]
    assert "charge: payment.succeeded (payment.paid)" in cases
    assert "renewal: subscription.renewed (subscription.invoice.paid)" in cases
    assert "money: charged PHP 600.00" in (tmp_path / "r.xml").read_text()

    md = (tmp_path / "r.md").read_text()
    assert "| payment.succeeded (payment.paid) |" in md
    assert "P-)W: payment.succeeded (payment.paid) pay_" in md
    assert "**Money**: charged PHP 600.00" in md
    # Every step passed: the last refunds settle the rehearsal's money.
    assert "### Settling the rehearsal's money" in md and "### Compensation" not in md
