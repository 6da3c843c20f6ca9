"""Each tunnel mode through the CLI, with the standalone simulator as the "remote provider"
and the fake ngrok/cloudflared binaries on PATH: the whole rehearsal passes, the probe
guards the money, a tunnel that dies mid-run reads as a tunnel failure, the webhook is
removed at the end, and no tunnel process outlives the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rehearsal.providers import signatures
from tests.e2e.test_run_cli import rehearsal
from tests.fakes import pids, tunnel_env, wait_gone
from tests.fakes.relay import Relay


def books(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "books.sqlite") as db:
        return db.execute(sql).fetchall()


def check_clean(tmp_path: Path, env: dict[str, str], output: str) -> None:
    """No tunnel process left, no webhook endpoint left enabled, no secret in the output."""
    started = pids(Path(env["FAKE_TUNNEL_PIDFILE"]))
    assert wait_gone(started) == [], f"tunnel processes outlived the CLI: {started}"
    assert books(tmp_path, "SELECT COUNT(*) FROM endpoints WHERE enabled = 1") == [(0,)]
    state = tmp_path / "s" / "rehearsal.sqlite"
    stored = state.read_bytes() if state.exists() else b""
    for name in ("NGROK_AUTHTOKEN", "MINTCASH_SECRET_KEY", "MINTCASH_WEBHOOK_SECRET"):
        if env.get(name):
            assert env[name] not in output
            assert env[name].encode() not in stored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["ngrok", "cloudflared", "public-url", "none"])
def test_full_rehearsal_through_each_tunnel(
    mode: str, standalone: dict[str, str], tmp_path: Path
) -> None:
    env = {**standalone, **tunnel_env(tmp_path)}
    relay = None
    if mode == "public-url":  # the user's own proxy: public URL → --listen
        port = free_port()
        relay = Relay(f"http://127.0.0.1:{port}")
        args = ["--public-url", relay.url, "--listen", f"127.0.0.1:{port}"]
    else:
        args = ["--tunnel", mode]
    try:
        result = rehearsal(
            "run",
            "--plain",
            "--timeout-scale",
            "0.2",
            *args,
            state=tmp_path / "s",
            cwd=tmp_path,
            env=env,
        )
    finally:
        if relay is not None:
            relay.close()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "PASSED" in result.stdout
    assert result.stdout.count("⇠ ") == 5
    assert "is not https" not in result.stderr  # the simulator takes http
    registered = books(tmp_path, "SELECT url FROM endpoints")
    assert len(registered) == 1
    if mode == "none":
        assert registered[0][0].startswith("http://127.0.0.1:")
        assert "tunnel:" not in result.stderr
    else:
        assert "probe reached the receiver in" in result.stderr
        public = result.stderr.split(f"tunnel: {mode} ", 1)[1].split()[0]
        assert registered[0][0].startswith(f"{public}/webhooks/")
    if mode == "ngrok":
        assert "tunnel: inspect deliveries at http://127.0.0.1:" in result.stderr
    if mode in ("ngrok", "cloudflared"):
        assert len(pids(Path(env["FAKE_TUNNEL_PIDFILE"]))) == 1
    if mode == "cloudflared":  # started by us: no key or secret in its environment
        [names] = [f.read_text().split() for f in tmp_path.glob("tunnel.pids.env-*")]
        assert "PATH" in names
        assert not {"MINTCASH_SECRET_KEY", "MINTCASH_WEBHOOK_SECRET", "NGROK_AUTHTOKEN"} & set(
            names
        )
    check_clean(tmp_path, env, out)


def test_failed_probe_stops_before_money_moves(standalone: dict[str, str], tmp_path: Path) -> None:
    env = {**standalone, **tunnel_env(tmp_path), "FAKE_TUNNEL_DROP": "1"}  # answers 200, drops
    result = rehearsal(
        "run",
        "--plain",
        "--tunnel",
        "cloudflared",
        "--timeout-scale",
        "0.05",
        state=tmp_path / "s",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "error: the tunnel probe did not reach the receiver within 0.5s" in result.stderr
    assert "time(s) to http://127.0.0.1:" in result.stderr and "HTTP 200" in result.stderr
    assert "no money was moved" in result.stderr
    assert books(tmp_path, "SELECT COUNT(*) FROM payments") == [(0,)]
    check_clean(tmp_path, env, result.stdout + result.stderr)


def test_tunnel_dying_mid_run_is_a_tunnel_failure_and_money_is_compensated(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    # The agent dies as the renewal's webhook goes through it, and again after the one
    # reconnect: the run must say "tunnel", exit 3, and cancel and refund what it made.
    env = {**standalone, **tunnel_env(tmp_path), "FAKE_TUNNEL_DIE_ON": "subscription.renewed"}
    result = rehearsal(
        "run",
        "--plain",
        "--tunnel",
        "ngrok",
        "--timeout-scale",
        "0.2",
        "--probe-every",
        "0.2",
        state=tmp_path / "s",
        cwd=tmp_path,
        env=env,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    failure = next(line for line in result.stdout.splitlines() if "✗ renewal" in line)
    assert "tunnel failure, not a payment failure" in failure
    assert "tunnel: DEAD: " in result.stderr  # its process ended (or, a moment before, the probe)
    assert "tunnel: reconnecting ngrok once" in result.stderr
    assert "webhook never arrived" not in out
    assert books(tmp_path, "SELECT status FROM subscriptions") == [("cancelled",)]
    assert books(
        tmp_path,
        "SELECT COUNT(*) FROM payments WHERE amount_refunded < amount AND status != 'failed'",
    ) == [(0,)]
    assert len(pids(Path(env["FAKE_TUNNEL_PIDFILE"]))) == 2  # the first and the reconnect
    check_clean(tmp_path, env, out)


def test_tunnel_dying_once_reconnects_and_the_run_passes(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **standalone,
        **tunnel_env(tmp_path),
        "FAKE_TUNNEL_DIE_ON": "subscription.renewed",
        "FAKE_TUNNEL_DIE_ONCE": str(tmp_path / "died"),
    }
    result = rehearsal(
        "run",
        "--plain",
        "--tunnel",
        "cloudflared",
        "--timeout-scale",
        "0.2",
        "--probe-every",
        "0.2",
        state=tmp_path / "s",
        cwd=tmp_path,
        env=env,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "tunnel: reconnected at http://127.0.0.1:" in result.stderr
    # The run's one endpoint now points at the new URL: the retried renewal found it there.
    new = result.stderr.split("tunnel: reconnected at ", 1)[1].split()[0]
    ((url,),) = books(tmp_path, "SELECT url FROM endpoints")
    assert url.startswith(f"{new}/webhooks/")
    assert len(pids(Path(env["FAKE_TUNNEL_PIDFILE"]))) == 2
    check_clean(tmp_path, env, out)


def test_sigterm_during_a_wait_ends_the_tunnel(standalone: dict[str, str], tmp_path: Path) -> None:
    httpx.put(
        f"{standalone['MINTCASH_API_BASE']}/_sim/faults",
        json={"faults": ["drop:subscription.renewed"]},
        headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
    ).raise_for_status()
    env = {**os.environ, **standalone, **tunnel_env(tmp_path)}
    env.update({"REHEARSAL_STATE_DIR": str(tmp_path / "s"), "NO_COLOR": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", "--plain", "--tunnel", "ngrok"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the renewal waits 30 s for a webhook that never comes
        if "▶ renewal" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    assert books(tmp_path, "SELECT status FROM subscriptions") == [("cancelled",)]
    check_clean(tmp_path, env, out + err)


@pytest.mark.parametrize(
    ("mode", "sig"), [("cloudflared", signal.SIGINT), ("ngrok", signal.SIGTERM)]
)
def test_tunnel_command_shows_deliveries_and_exits_0(
    mode: str, sig: signal.Signals, tmp_path: Path
) -> None:
    secret = "whsec_tunnel_command_test_0123456789"
    env = {**os.environ, **tunnel_env(tmp_path), "MINTCASH_WEBHOOK_SECRET": secret}
    env.pop("REHEARSAL_TUNNEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "tunnel", "--tunnel", mode],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = ""
    head = []
    for line in proc.stdout:
        head.append(line)
        if line.startswith("webhook URL: "):
            url = line.split(": ", 1)[1].strip()
        if line.startswith("waiting for deliveries"):
            break
    assert "/webhooks/" in url
    assert any(line.startswith(f"tunnel: {mode} http://127.0.0.1:") for line in head)
    if mode == "ngrok":
        assert any(line.startswith("tunnel: inspect deliveries at http://") for line in head)
    event = {
        "eventId": "evt_tunnel_cmd_1",
        "type": "payment.succeeded",
        "environment": "test",
        "createdAt": "2026-11-23T10:00:00.000Z",
        "data": {
            "object": {
                "id": "pay_1",
                "object": "payment",
                "amount": 5,
                "currency": "USD",
                "status": "succeeded",
                "amountRefunded": 0,
                "refunds": [],
                "environment": "test",
            }
        },
    }
    body = json.dumps(event).encode()
    headers = {
        "MintCash-Signature": signatures.sign(secret, body),
        "Content-Type": "application/json",
    }
    assert httpx.post(url, content=body, headers=headers, timeout=5).status_code == 200
    assert (  # a forgery is refused, as a correct endpoint refuses it
        httpx.post(
            url, content=body, headers={**headers, "MintCash-Signature": "t=1,v1=00"}, timeout=5
        ).status_code
        == 400
    )
    deadline = time.monotonic() + 5
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "delivery 2:" in line or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    text = "".join(seen) + out
    assert proc.returncode == 0, text + err
    assert "delivery 1: payment.succeeded evt_tunnel_cmd_1 pay_1, signature ok (test)" in text
    assert "delivery 2:" in text and "REJECTED" in text
    assert "stopping: 2 deliveries received" in text
    assert secret not in text + err
    assert wait_gone(pids(tmp_path / "tunnel.pids")) == []


def test_remote_provider_without_a_tunnel_names_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rehearsal.cli.app import app

    monkeypatch.delenv("REHEARSAL_TUNNEL", raising=False)
    env = {
        # Another machine (never contacted: without a public path it could not reach us).
        "MINTCASH_API_BASE": "https://api.mintcash.invalid",
        "MINTCASH_SECRET_KEY": "sk_test_abc",
        "MINTCASH_WEBHOOK_SECRET": "whsec_x",
        "REHEARSAL_STATE_DIR": str(tmp_path),
    }
    for extra in ([], ["--tunnel", "none"]):
        result = CliRunner().invoke(app, ["run", *extra], env=env)
        assert result.exit_code == 2, result.output
        assert "cannot reach a receiver on 127.0.0.1" in result.output
        assert "--tunnel ngrok|cloudflared (or REHEARSAL_TUNNEL)" in result.output
    result = CliRunner().invoke(app, ["run", "--tunnel", "ngrk"], env=env)
    assert result.exit_code == 2
    assert "--tunnel: unknown tunnel 'ngrk'" in result.output
    # Nothing answers on this machine's port 9: that is said, not the tunnel hint (issue 12).
    result = CliRunner().invoke(
        app, ["run"], env={**env, "MINTCASH_API_BASE": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 3, result.output
    assert "cannot reach the provider at http://127.0.0.1:9" in result.output
    assert "cannot reach a receiver" not in result.output and "--tunnel" not in result.output


def test_remote_provider_with_a_url_registered_by_hand(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    # "MintCash" on 127.0.0.2 is not recognised as a simulator: no control routes, so the
    # webhook URL is registered by hand (here: beforehand, as an account manager would),
    # with a stable token from the environment and the user's own proxy in front.
    token = "stable_webhook_token_0123456789abcdef"
    provider = Relay(standalone["MINTCASH_API_BASE"], bind="127.0.0.2")
    port = free_port()
    proxy = Relay(f"http://127.0.0.1:{port}")
    try:
        httpx.post(
            f"{standalone['MINTCASH_API_BASE']}/_sim/webhook_endpoints",
            json={"url": f"{proxy.url}/webhooks/{token}", "events": [], "environment": "test"},
            headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
        ).raise_for_status()
        env = {
            **standalone,
            **tunnel_env(tmp_path),
            "MINTCASH_API_BASE": provider.url,
            "REHEARSAL_WEBHOOK_TOKEN": token,
        }
        result = rehearsal(
            "run",
            "--plain",
            "--timeout-scale",
            "0.2",
            "--public-url",
            proxy.url,
            "--listen",
            f"127.0.0.1:{port}",
            state=tmp_path / "s",
            cwd=tmp_path,
            env=env,
        )
    finally:
        proxy.close()
        provider.close()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"mintcash at {provider.url} (test mode, webhooks through a public URL)" in out
    assert (
        f"register this webhook URL with mintcash: {proxy.url}/webhooks/$REHEARSAL_WEBHOOK_TOKEN"
        in result.stderr
    )
    assert "probe reached the receiver" in result.stderr
    assert f"tunnel: warning: {proxy.url} is not https" in result.stderr
    assert result.stdout.count("⇠ ") == 5 and "PASSED" in result.stdout
    assert token not in out
    for secret in (standalone["MINTCASH_SECRET_KEY"], standalone["MINTCASH_WEBHOOK_SECRET"]):
        assert secret not in out


def test_a_url_registered_by_hand_must_not_change_between_runs(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    """Without a stable path token, the URL is new each run: nobody can have registered it,
    and the probe (sent to our own URL) would pass while every webhook got lost."""
    provider = Relay(standalone["MINTCASH_API_BASE"], bind="127.0.0.2")
    port = free_port()
    try:
        env = {**standalone, **tunnel_env(tmp_path), "MINTCASH_API_BASE": provider.url}
        env.pop("REHEARSAL_WEBHOOK_TOKEN", None)
        result = rehearsal(
            "run",
            "--plain",
            "--public-url",
            f"http://127.0.0.1:{port}",
            "--listen",
            f"127.0.0.1:{port}",
            state=tmp_path / "s",
            cwd=tmp_path,
            env=env,
        )
        payments = httpx.get(
            f"{standalone['MINTCASH_API_BASE']}/_sim/books",
            headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
        ).json()["payments"]
    finally:
        provider.close()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "registered by hand, so it must be the same every run" in result.stderr
    assert "REHEARSAL_WEBHOOK_TOKEN" in result.stderr
    assert payments == []  # refused before any money moved


LIVE_PLAN = """version: 1
name: live-charge
card: env:REHEARSAL_CARD_TOKEN
steps:
  - id: charge
    action: charge
    amount: 300
  - id: refund
    action: refund
    payment: charge
"""


def test_live_against_a_remote_provider_through_a_public_url(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    """Live mode reaches a real provider only through a public path: armed first, the path
    proven by the probe, then one real-money charge, refunded."""
    token = "stable_webhook_token_live_0123456789ab"
    provider = Relay(standalone["MINTCASH_API_BASE"], bind="127.0.0.2")
    port = free_port()
    proxy = Relay(f"http://127.0.0.1:{port}")
    plan = tmp_path / "live.yaml"
    plan.write_text(LIVE_PLAN)
    try:
        httpx.post(
            f"{standalone['MINTCASH_API_BASE']}/_sim/webhook_endpoints",
            json={"url": f"{proxy.url}/webhooks/{token}", "events": [], "environment": "live"},
            headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
        ).raise_for_status()
        env = {
            **standalone,
            **tunnel_env(tmp_path),
            "MINTCASH_API_BASE": provider.url,
            "MINTCASH_SECRET_KEY": standalone["LIVE_KEY"],
            "REHEARSAL_WEBHOOK_TOKEN": token,
            "REHEARSAL_CARD_TOKEN": "pm_card_visa",
        }
        args = ["run", str(plan), "--live", "--plain", "--public-url", proxy.url]
        args += ["--listen", f"127.0.0.1:{port}", "--timeout-scale", "0.2"]
        unarmed = rehearsal(*args, state=tmp_path / "s", cwd=tmp_path, env=env)
        armed = rehearsal(
            *args,
            "--yes",
            state=tmp_path / "s",
            cwd=tmp_path,
            env={**env, "REHEARSAL_LIVE_CONFIRM": "mintcash:300"},
        )
        books = httpx.get(
            f"{standalone['MINTCASH_API_BASE']}/_sim/books",
            headers={"Authorization": f"Bearer {standalone['LIVE_KEY']}"},
        ).json()
    finally:
        proxy.close()
        provider.close()
    assert unarmed.returncode == 4, unarmed.stdout + unarmed.stderr
    out = armed.stdout + armed.stderr
    assert armed.returncode == 0, out
    assert f"mintcash at {provider.url} (live mode, webhooks through a public URL)" in out
    assert "probe reached the receiver" in armed.stderr
    assert [(p["env"], p["amount"], p["status"]) for p in books["payments"]] == [
        ("live", 300, "refunded")
    ]
    assert standalone["LIVE_KEY"] not in out and token not in out


def test_short_webhook_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rehearsal.errors import UsageError
    from rehearsal.tunnels.public_path import fixed_token

    monkeypatch.setenv("REHEARSAL_WEBHOOK_TOKEN", "short")
    with pytest.raises(UsageError, match="at least 24 characters"):
        fixed_token()
    monkeypatch.setenv("REHEARSAL_WEBHOOK_TOKEN", "x" * 23 + "/")
    with pytest.raises(UsageError):
        fixed_token()


def test_step_and_resume_each_open_their_own_tunnel(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    env = {**standalone, **tunnel_env(tmp_path), "REHEARSAL_TUNNEL": "cloudflared"}
    state = tmp_path / "s"
    started = rehearsal("start", state=state, cwd=tmp_path, env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    stepped = rehearsal("step", run_id, "--plain", state=state, cwd=tmp_path, env=env)
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    assert "paused after 'charge'" in stepped.stdout
    first = stepped.stderr.split("tunnel: cloudflared ", 1)[1].split()[0]
    resumed = rehearsal("resume", run_id, "--plain", state=state, cwd=tmp_path, env=env)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    second = resumed.stderr.split("tunnel: cloudflared ", 1)[1].split()[0]
    assert first != second  # a quick tunnel's URL is new on every start ...
    ((url,),) = books(tmp_path, "SELECT url FROM endpoints")  # ... so the endpoint moved
    assert url.startswith(f"{second}/webhooks/")
    assert len(pids(Path(env["FAKE_TUNNEL_PIDFILE"]))) == 2
    check_clean(tmp_path, env, stepped.stdout + stepped.stderr + out)


def test_agent_left_by_a_killed_run_is_ended_by_the_next(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    # SIGKILL leaves no chance to end the agent (it would then hold the ngrok domain:
    # "already online"). The next run in the same state folder finds and ends it.
    env = {**standalone, **tunnel_env(tmp_path)}
    state = tmp_path / "s"
    # Output to a file, not a pipe: the orphaned agent inherits the CLI's stderr and would
    # hold a pipe open.
    with open(tmp_path / "out", "w+") as out_file:
        killed = subprocess.run(
            [sys.executable, "-m", "rehearsal", "run", "--plain", "--tunnel", "ngrok"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                **env,
                "REHEARSAL_STATE_DIR": str(state),
                "NO_COLOR": "1",
                "REHEARSAL_FAILPOINT": "before-step:refund",
            },
            timeout=60,
        )
        out_file.seek(0)
        killed_out = out_file.read()
    assert killed.returncode == -signal.SIGKILL, killed_out
    (orphan,) = pids(Path(env["FAKE_TUNNEL_PIDFILE"]))
    assert wait_gone([orphan], 0.2) == [orphan]  # still running, nobody ended it
    (record,) = (state / "tunnels").glob("*.json")
    private = Path(json.loads(record.read_text())["private"])
    assert env["NGROK_AUTHTOKEN"] in (private / "ngrok.yml").read_text()  # left behind too
    run_id = killed_out.split("] run ", 1)[1].split(":", 1)[0]
    resumed = rehearsal(
        "resume", run_id, "--plain", "--tunnel", "ngrok", state=state, cwd=tmp_path, env=env
    )
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert f"tunnel: ended a ngrok process (pid {orphan}) left by a killed run" in out
    assert wait_gone([orphan], 0) == []
    assert list((state / "tunnels").glob("*.json")) == []
    assert not private.exists()  # the token's file went with the agent
    check_clean(tmp_path, env, out)
