"""`rehearsal checklist`: the seed's items, each marked by the last audits and the last
rehearsal kept in the state folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rehearsal.cli.app import app
from tests.audit.merchants import Merchant, serving
from tests.audit.test_endpoint import SECRET


def test_checklist_marks_items_from_the_last_audit_and_rehearsal(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = CliRunner()
    empty = runner.invoke(app, ["checklist", "--provider", "paymongo", "--state-dir", str(state)])
    assert empty.exit_code == 0, empty.output
    assert "[not checked] Confirm signature verification is implemented" in empty.output
    assert "[manual] Confirm key access is restricted to the minimum team" in empty.output

    with serving(Merchant("paymongo", SECRET, mistake="4xx-on-unknown-type")) as url:
        audited = runner.invoke(
            app,
            ["audit", "endpoint", url, "--provider", "paymongo", "--allow-http",
             "--state-dir", str(state)],
            env={"PAYMONGO_WEBHOOK_SECRET": SECRET},
        )  # fmt: skip
    assert audited.exit_code == 1, audited.output
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYMONGO_", "MINTCASH_"))}
    env |= {"REHEARSAL_STATE_DIR": str(state), "NO_COLOR": "1"}
    rehearsed = subprocess.run(
        [sys.executable, "-m", "rehearsal", "run", "paymongo", "--simulator", "--plain"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rehearsed.returncode == 0, rehearsed.stdout[-2000:] + rehearsed.stderr[-2000:]

    md = tmp_path / "checklist.md"
    shown = runner.invoke(
        app,
        ["checklist", "--provider", "paymongo", "--state-dir", str(state), "--report-md", str(md)],
    )
    out = shown.output
    assert shown.exit_code == 0, out
    assert "[passed] Confirm signature verification is implemented (000_" in out
    assert "[failed] Confirm a 2xx response is returned for unrecognized event types" in out
    assert "[passed] Confirm your full integration works with test mode events" in out
    assert "[not checked] Confirm your webhook secret is stored securely" in out  # no keys audit
    text = md.read_text()
    assert "❌ failed | Confirm a 2xx response is returned for unrecognized event types" in text
    assert "`000_07836fc6655c87a2.txt:60`" in text
