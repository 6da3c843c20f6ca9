"""The provider's URL is checked and reached before anything else, and `--live` checks
everything it can before the operator is asked to arm (issue 12). Secrets never echoed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.test_live_guards import live_env, payments, plan
from tests.e2e.test_operator_terminal import Terminal, cli_env
from tests.e2e.test_run_cli import rehearsal

KEYS = {"MINTCASH_SECRET_KEY": "sk_test_secret_abc123", "MINTCASH_WEBHOOK_SECRET": "whsec_s3cr3t"}


def refused(tmp_path: Path, api_base: str, *args: str) -> tuple[int, str]:
    env = {**KEYS, "MINTCASH_API_BASE": api_base}
    result = rehearsal("run", *args, state=tmp_path / "s", cwd=tmp_path, env=env, timeout=30)
    out = result.stdout + result.stderr
    for secret in KEYS.values():
        assert secret not in out
    assert "Traceback" not in out
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("api_base", "says"),
    [
        ("not-a-url", "MINTCASH_API_BASE is not an http(s) URL (it has no http:// or https://)"),
        ("ftp://api.mintcash.example", "MINTCASH_API_BASE is not an http(s) URL (its scheme"),
        ("https://", "MINTCASH_API_BASE has no host"),
        ("http://127.0.0.1:port", "MINTCASH_API_BASE is not a valid URL"),
        ("http://api.mintcash.example", "MINTCASH_API_BASE uses http:// for api.mintcash.example"),
    ],
)
def test_a_malformed_api_base_says_what_is_wrong(tmp_path: Path, api_base: str, says: str) -> None:
    code, err = refused(tmp_path, api_base)
    assert code == 2, err
    assert says in err
    assert "cannot reach a receiver" not in err and "--tunnel" not in err


def test_an_unreachable_api_base_is_named_not_blamed_on_the_tunnel(tmp_path: Path) -> None:
    code, err = refused(tmp_path, "http://127.0.0.1:9")
    assert code == 3, err
    assert "cannot reach the provider at http://127.0.0.1:9 (connection refused)" in err
    assert "receiver" not in err and "--tunnel" not in err
    # Live mode never suggests the simulator.
    live = {**KEYS, "MINTCASH_SECRET_KEY": "sk_live_secret_abc123"}
    result = rehearsal(
        "run",
        "--live",
        state=tmp_path / "s",
        cwd=tmp_path,
        env={**live, "MINTCASH_API_BASE": "http://127.0.0.1:9"},
    )
    assert result.returncode == 3, result.stderr
    assert "cannot reach the provider" in result.stderr and "simulator" not in result.stderr


@pytest.fixture
def not_a_simulator() -> Iterator[str]:
    """Something that answers HTTP on this machine but is not the rehearsal simulator."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_tunnel_hint_only_when_it_is_true(tmp_path: Path, not_a_simulator: str) -> None:
    """A provider that answers, is not the simulator, and has no public path: then, and
    only then, the receiver cannot be reached and a tunnel is the fix."""
    code, err = refused(tmp_path, not_a_simulator)
    assert code == 2, err
    assert f"mintcash at {not_a_simulator} cannot reach a receiver on 127.0.0.1" in err
    assert "--tunnel ngrok|cloudflared" in err


def test_live_checks_the_plans_card_variable_before_arming(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    env = live_env(standalone)
    del env["REHEARSAL_CARD_TOKEN"]
    result = rehearsal(
        "run", plan(tmp_path, 300), "--live", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "$REHEARSAL_CARD_TOKEN, which is not set" in result.stderr
    assert "not armed" not in result.stderr and "REHEARSAL_LIVE_CONFIRM" not in result.stderr
    assert payments(standalone) == []


def test_live_checks_keys_before_arming(tmp_path: Path, standalone: dict[str, str]) -> None:
    env = live_env(standalone, MINTCASH_SECRET_KEY=standalone["MINTCASH_SECRET_KEY"])  # test key
    result = rehearsal(
        "run", plan(tmp_path, 300), "--live", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "MINTCASH_SECRET_KEY is a test key, in live mode" in result.stderr
    assert "not armed" not in result.stderr
    assert standalone["MINTCASH_SECRET_KEY"] not in result.stdout + result.stderr


def test_live_without_its_variables_never_suggests_the_simulator(tmp_path: Path) -> None:
    result = rehearsal("run", "--live", state=tmp_path / "s", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "MINTCASH_API_BASE, MINTCASH_SECRET_KEY, MINTCASH_WEBHOOK_SECRET not set" in result.stderr
    )
    assert "simulator" not in result.stderr and "not armed" not in result.stderr


def test_live_report_path_is_checked_before_arming(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    result = rehearsal(
        "run",
        plan(tmp_path, 300),
        "--live",
        "--report-json",
        str(afile / "r.json"),
        state=tmp_path / "s",
        cwd=tmp_path,
        env=live_env(standalone),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--report-json" in result.stderr and "not armed" not in result.stderr


def test_in_a_terminal_no_arming_prompt_for_a_run_that_cannot_start(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    env = live_env(standalone)
    del env["REHEARSAL_CARD_TOKEN"]
    term = Terminal(
        ["run", plan(tmp_path, 300), "--live", "--plain"], cli_env(env, tmp_path / "s"), tmp_path
    )
    code = term.finish()
    assert code == 2, term.screen
    assert "REHEARSAL_CARD_TOKEN" in term.screen
    assert "to arm this live run" not in term.screen and "LIVE MODE" not in term.screen
    assert payments(standalone) == []
