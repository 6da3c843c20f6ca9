"""`rehearsal audit keys`: key modes from the environment, distinct environments, and the
scan of a temporary git repository with keys planted in an old commit (then deleted) and
in the working tree: each reported with file, line and commit, the value masked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rehearsal.cli.app import app

OLD_KEY = "sk_live_" + "Planted0ldCommitKey4567"
TREE_KEY = "sk_test_" + "PlantedInTheTree9876"
WEBHOOK = "whsec_" + "PlantedWebhookSecretAbCd"
STRIPE_RK = "rk_live_" + "PlantedRestrictedKeyWxYz"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "shop"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "config.py").write_text(f'DEBUG = True\nKEY = "{OLD_KEY}"\nHOOK = "{WEBHOOK}"\n')
    (repo / "README.md").write_text("Set MINTCASH_SECRET_KEY=sk_test_… (placeholder)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    (repo / "config.py").write_text('import os\nKEY = os.environ["MINTCASH_SECRET_KEY"]\n')
    git(repo, "commit", "-qam", "keys from the environment")
    (repo / "settings.toml").write_text(f'[pay]\n\nkey = "{TREE_KEY}"\nrk = "{STRIPE_RK}"\n')
    return repo


def run_keys(
    repo: Path, tmp_path: Path, env: dict[str, str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "keys.json"
    args = ["audit", "keys", "--provider", "mintcash", "--repo", str(repo)]
    args += ["--report-json", str(report), "--state-dir", str(tmp_path / "state"), *extra]
    result = CliRunner().invoke(app, args, env=env)
    return (
        result.exit_code,
        json.loads(report.read_text()) if report.exists() else {},
        result.output,
    )


def test_the_scan_finds_planted_keys_in_history_and_tree_masked(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").strip()[:12]
    code, doc, out = run_keys(repo, tmp_path, {"MINTCASH_SECRET_KEY": "sk_test_fromenv123456"})
    assert code == 1, out
    found = {(f["file"], f["line"], f["commit"], f["kind"], f["masked"]) for f in doc["findings"]}
    assert found == {
        ("config.py", 2, first, "secret key (live)", "sk_live_…4567"),
        ("config.py", 3, first, "webhook secret", "whsec_…AbCd"),
        ("settings.toml", 3, None, "secret key (test)", "sk_test_…9876"),
        ("settings.toml", 4, None, "restricted key (live)", "rk_live_…WxYz"),
    }
    text = json.dumps(doc) + out
    for secret in (OLD_KEY, TREE_KEY, WEBHOOK, STRIPE_RK, "sk_test_fromenv123456"):
        assert secret not in text
    probes = {p["id"]: (p["outcome"], p["source"]) for p in doc["probes"]}
    assert probes["committed-secrets"] == ("failed", "002_81c8ed57c25681ee.txt:6")
    assert probes["committed-webhook-secrets"][0] == "failed"
    assert probes["secret-key-mode"][0] == "passed"
    assert f"config.py:2 ({first}): secret key (live) sk_live_…4567" in out


def test_key_modes_and_distinct_environments(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    env = {
        "PAYMONGO_SECRET_KEY": "sk_live_FAKE_not_a_real_key",
        "PAYMONGO_PUBLIC_KEY": "pk_test_FAKE_not_a_real_key",
        "PAYMONGO_WEBHOOK_SECRET": "whsec_same_for_both",
        "OTHER_HOOK_SECRET": "whsec_same_for_both",
    }
    report = tmp_path / "k.json"
    result = CliRunner().invoke(
        app,
        ["audit", "keys", "--provider", "paymongo", "--live", "--repo", str(clean),
         "--report-json", str(report), "--state-dir", str(tmp_path / "s"),
         "--test-endpoint", "https://shop.example/hooks", "--live-endpoint",
         "https://shop.example/hooks/", "--other-secret-from", "OTHER_HOOK_SECRET"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    doc = json.loads(report.read_text())
    probes = {p["id"]: p for p in doc["probes"]}
    assert probes["secret-key-mode"]["outcome"] == "passed"
    assert probes["public-key-mode"]["outcome"] == "failed"  # a test public key with live
    assert "test-mode key" in probes["public-key-mode"]["detail"]
    distinct = probes["distinct-environments"]
    assert distinct["outcome"] == "failed" and distinct["source"].endswith(":57")
    assert "same URL" in distinct["detail"] and "share a webhook secret" in distinct["detail"]
    assert probes["committed-secrets"]["outcome"] == "passed"
    assert "whsec_same_for_both" not in result.output + report.read_text()
