"""`rehearsal audit endpoint` against real merchant endpoints on 127.0.0.1: a correct one
passes every checkable item; each mistake fails the probe that catches it and names the
checklist item (and its seed line) it breaks. Run through the Typer CLI, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehearsal.cli.app import app
from tests.audit.merchants import Merchant, self_signed_cert, serving, trusted_cert

SECRET = "whsec_merchant_audit_0123456789abcdef"
MINTCASH_SEED = "002_81c8ed57c25681ee.txt"
PAYMONGO_SEED = "000_07836fc6655c87a2.txt"


def audit(
    url: str, tmp_path: Path, *extra: str, provider: str = "mintcash", scale: str | None = None
) -> tuple[int, dict[str, Any], str]:
    env = {"MINTCASH_WEBHOOK_SECRET": SECRET, "PAYMONGO_WEBHOOK_SECRET": SECRET}
    if scale:
        env["REHEARSAL_AUDIT_TIME_SCALE"] = scale
    report = tmp_path / "audit.json"
    args = ["audit", "endpoint", url, "--provider", provider, "--report-json", str(report)]
    args += ["--state-dir", str(tmp_path / "state"), *extra]
    result = CliRunner().invoke(app, args, env=env)
    doc = json.loads(report.read_text()) if report.exists() else {}
    assert SECRET not in result.output
    return result.exit_code, doc, result.output


def outcomes(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """probe -> (outcome, the checklist item's source)"""
    return {p["id"]: (p["outcome"], p["source"]) for p in doc["probes"]}


def failed(doc: dict[str, Any]) -> dict[str, str]:
    return {k: src for k, (o, src) in outcomes(doc).items() if o == "failed"}


def test_a_correct_endpoint_passes_every_checkable_item(tmp_path: Path) -> None:
    merchant = Merchant("mintcash", SECRET)
    with serving(merchant) as url:
        code, doc, out = audit(url, tmp_path, "--allow-http")
    assert code == 0, out
    assert failed(doc) == {}
    got = outcomes(doc)
    assert got["https"][0] == "not checkable"  # plain HTTP on loopback, allowed
    assert got["other-mode-slot"][0] == "not checkable"  # MintCash has one signature
    assert all(o == "passed" for k, (o, _) in got.items() if k not in ("https", "other-mode-slot"))
    timing = next(p for p in doc["probes"] if p["id"] == "timing")
    assert "median" in timing["detail"] and "worst" in timing["detail"]
    assert len(timing["deliveries"]) == 5
    dup = next(p for p in doc["probes"] if p["id"] == "duplicate")
    assert "cannot see side effects" in dup["detail"] and "--forward-to" in dup["detail"]
    assert doc["limit_s"] == 10.0
    assert merchant.hits >= 20  # every probe reached the handler
    assert "PASSED (exit 0)" in out


MISTAKES = [
    ("accepts-bad-signature", {"bad-signature": 12, "tampered-body": 12, "stale-timestamp": 12}),
    ("accepts-missing-signature", {"missing-signature": 12}),
    ("accepts-tampered-body", {"bad-signature": 12, "tampered-body": 12}),
    ("accepts-stale-timestamp", {"stale-timestamp": 12}),
    ("accepts-other-environment", {"other-environment": 13}),
    ("reserializes-body", {"raw-body": 12}),
    ("4xx-on-unknown-type", {"unknown-type": 15}),
    ("5xx-on-duplicate", {"duplicate": 14}),
]


@pytest.mark.parametrize(("mistake", "caught"), MISTAKES, ids=[m for m, _ in MISTAKES])
def test_each_mistake_fails_its_probe_and_names_the_checklist_item(
    mistake: str, caught: dict[str, int], tmp_path: Path
) -> None:
    with serving(Merchant("mintcash", SECRET, mistake=mistake)) as url:
        code, doc, out = audit(url, tmp_path, "--allow-http")
    assert code == 1, out
    assert failed(doc) == {probe: f"{MINTCASH_SEED}:{line}" for probe, line in caught.items()}
    assert "FAILED (exit 1)" in out


def test_a_slow_handler_fails_the_time_limit(tmp_path: Path) -> None:
    # REHEARSAL_AUDIT_TIME_SCALE=0.03: MintCash's 10 s limit becomes 0.3 s; the handler
    # takes 0.6 s over each new event.
    with serving(Merchant("mintcash", SECRET, mistake="slow", delay=0.6)) as url:
        code, doc, out = audit(url, tmp_path, "--allow-http", scale="0.03")
    assert code == 1, out
    assert set(failed(doc)) == {"timing", "burst"}
    assert failed(doc)["timing"] == f"{MINTCASH_SEED}:11"  # "responds inside 10 seconds"
    timing = next(p for p in doc["probes"] if p["id"] == "timing")
    assert "over the 0.3s limit" in timing["detail"]


def test_plain_http_without_allow_http_fails_https_and_sends_nothing(tmp_path: Path) -> None:
    merchant = Merchant("mintcash", SECRET)
    with serving(merchant) as url:
        code, doc, out = audit(url, tmp_path)
    assert code == 1, out
    assert failed(doc) == {"https": f"{MINTCASH_SEED}:11"}
    assert merchant.hits == 0
    assert all(o == "not checkable" for k, (o, _) in outcomes(doc).items() if k != "https")


def test_allow_http_is_refused_for_a_host_off_loopback(tmp_path: Path) -> None:
    code, _, out = audit("http://example.com/hooks", tmp_path, "--allow-http")
    assert code == 2
    assert "--allow-http is for an endpoint on loopback only" in out


def test_a_self_signed_certificate_fails_with_the_verifiers_reason(tmp_path: Path) -> None:
    merchant = Merchant("mintcash", SECRET)
    with serving(merchant, self_signed_cert(tmp_path)) as url:
        code, doc, out = audit(url, tmp_path)
    assert code == 1, out
    https = next(p for p in doc["probes"] if p["id"] == "https")
    assert https["outcome"] == "failed" and https["source"] == f"{MINTCASH_SEED}:11"
    assert "certificate not trusted: self-signed certificate" in https["detail"]
    assert merchant.hits == 0


def test_a_certificate_from_a_trusted_ca_passes_https(tmp_path: Path) -> None:
    chain, key, ca = trusted_cert(tmp_path)
    with serving(Merchant("mintcash", SECRET), (chain, key)) as url:
        code, doc, out = audit(url, tmp_path, "--ca-bundle", str(ca))
    assert code == 0, out
    assert outcomes(doc)["https"][0] == "passed"


def test_paymongo_correct_endpoint_and_the_other_mode_slot(tmp_path: Path) -> None:
    with serving(Merchant("paymongo", SECRET)) as url:
        code, doc, out = audit(url, tmp_path, "--allow-http", provider="paymongo")
    assert code == 0, out
    assert outcomes(doc)["other-mode-slot"][0] == "passed"
    assert doc["limit_s"] == 30.0
    with serving(Merchant("paymongo", SECRET, mistake="accepts-other-mode-slot")) as url:
        code, doc, out = audit(url, tmp_path, "--allow-http", provider="paymongo")
    assert code == 1, out
    # "Confirm test and live webhook environments are separated"
    assert failed(doc) == {"other-mode-slot": f"{PAYMONGO_SEED}:57"}


def test_reports_and_bad_input(tmp_path: Path) -> None:
    with serving(Merchant("mintcash", SECRET, mistake="accepts-missing-signature")) as url:
        junit, md = tmp_path / "a.xml", tmp_path / "a.md"
        code, _, _ = audit(
            url, tmp_path, "--allow-http", "--junit", str(junit), "--report-md", str(md)
        )
    assert code == 1
    xml = junit.read_text()
    assert 'failures="1"' in xml and "a missing signature" in xml
    assert "Signature verification implemented" in md.read_text()
    assert (tmp_path / "state" / "audits" / "mintcash-endpoint.json").exists()
    result = CliRunner().invoke(
        app,
        ["audit", "endpoint", "https://127.0.0.1:9/x", "--provider", "mintcash"],
        env={"MINTCASH_WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 2 and "MINTCASH_WEBHOOK_SECRET is not set" in result.output
    result = CliRunner().invoke(
        app,
        ["audit", "endpoint", "ftp://x", "--provider", "mintcash"],
        env={"MINTCASH_WEBHOOK_SECRET": SECRET},
    )
    assert result.exit_code == 2 and "expected an http(s) URL" in result.output
