"""The tunnel modes in-process: the real pyngrok code path against the fake agent, the
cloudflared banner parser against the fake, choosing a mode, and finding binaries."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rehearsal.errors import UsageError
from rehearsal.tunnels import TunnelSpec, choose, open_tunnel
from rehearsal.tunnels.base import TunnelError
from rehearsal.tunnels.binaries import find_binary
from rehearsal.tunnels.cloudflared import open_cloudflared
from rehearsal.tunnels.ngrok import open_ngrok
from tests.fakes import pids, tunnel_env, wait_gone


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = tunnel_env(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # pyngrok must never touch the user's own ngrok folder: point HOME somewhere we can see.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    for var in ("REHEARSAL_TUNNEL", "NGROK_DOMAIN", "REHEARSAL_NGROK_BIN", "PYNGROK_NGROK_PATH"):
        monkeypatch.delenv(var, raising=False)
    yield env
    assert wait_gone(pids(Path(env["FAKE_TUNNEL_PIDFILE"]))) == [], "a tunnel process outlived"


@pytest.fixture
def upstream() -> Iterator[str]:
    """A tiny real HTTP server standing in for the receiver."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from rehearsal.net.server import ServerThread

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"got": body.decode(), "probe": request.headers.get("x-test")})

    with ServerThread(Starlette(routes=[Route("/echo", echo, methods=["POST"])])) as server:
        yield server.url


def _through(public: str) -> dict[str, str]:
    r = httpx.post(f"{public}/echo", content=b"hello", headers={"x-test": "1"}, timeout=5)
    assert r.status_code == 200
    return dict(r.json())


def test_ngrok_through_real_pyngrok(fakes: dict[str, str], upstream: str, tmp_path: Path) -> None:
    began = time.monotonic()
    tunnel = open_ngrok(upstream, domain=None, deadline=10)
    try:
        assert time.monotonic() - began < 5
        assert _through(tunnel.public_url) == {"got": "hello", "probe": "1"}
        assert tunnel.inspect_url and tunnel.inspect_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{tunnel.inspect_url}/api/endpoints").status_code == 200
        assert tunnel.pid is not None and tunnel.alive()
        # The auth token is not on the agent's command line (ps shows argv to everyone) ...
        argv = Path(f"/proc/{tunnel.pid}/cmdline").read_bytes().split(b"\0")
        assert fakes["NGROK_AUTHTOKEN"].encode() not in b" ".join(argv)
        assert b"--authtoken" not in argv
        # ... it sits in a private config file, and the user's own config is untouched.
        config = Path(argv[argv.index(b"--config") + 1].decode())
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
        assert not (tmp_path / "home").exists()
    finally:
        tunnel.close()
    assert not tunnel.alive()
    assert not config.exists()
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{tunnel.public_url}/echo", timeout=2)


def test_ngrok_hung_agent_is_ended_at_our_deadline(
    fakes: dict[str, str], upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_HANG", "1")
    began = time.monotonic()
    with pytest.raises(TunnelError) as err:
        open_ngrok(upstream, domain=None, deadline=1.0)
    assert time.monotonic() - began < 4  # pyngrok alone blocks here forever
    assert "did not come up within 1s" in err.value.message
    (pid,) = pids(Path(fakes["FAKE_TUNNEL_PIDFILE"]))
    assert f"pid {pid}" in err.value.message
    assert wait_gone([pid], 2) == []


def test_ngrok_already_online_says_so(
    fakes: dict[str, str], upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_ALREADY_ONLINE", "1")
    with pytest.raises(TunnelError) as err:
        open_ngrok(upstream, domain="my-app.ngrok-free.app", deadline=10)
    assert "https://my-app.ngrok-free.app is already online (ERR_NGROK_334)" in err.value.message
    assert err.value.hint and "stop the other agent" in err.value.hint
    assert err.value.exit_code == 3


def test_ngrok_bad_token_and_missing_token(
    fakes: dict[str, str], upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN")
    with pytest.raises(UsageError, match="NGROK_AUTHTOKEN"):
        open_ngrok(upstream, domain=None, deadline=5)
    monkeypatch.setenv("NGROK_AUTHTOKEN", "")
    with pytest.raises(UsageError):
        open_ngrok(upstream, domain=None, deadline=5)


def test_ngrok_domain_is_requested(fakes: dict[str, str], upstream: str) -> None:
    tunnel = open_ngrok(upstream, domain="my-app.ngrok-free.app", deadline=10)
    try:
        assert tunnel.inspect_url is not None
        (endpoint,) = httpx.get(f"{tunnel.inspect_url}/api/endpoints").json()["endpoints"]
        assert endpoint["requested_url"] == "https://my-app.ngrok-free.app"
    finally:
        tunnel.close()


def test_cloudflared_banner_and_close(fakes: dict[str, str], upstream: str) -> None:
    tunnel = open_cloudflared(upstream, deadline=10)
    try:
        assert tunnel.public_url.startswith("http://127.0.0.1:")
        assert _through(tunnel.public_url)["got"] == "hello"
        assert any("Registered tunnel connection" in line for line in tunnel.lines)
    finally:
        tunnel.close()
    assert not tunnel.alive()


def test_cloudflared_without_url_is_ended_at_the_deadline(
    fakes: dict[str, str], upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLOUDFLARED_HANG", "1")
    with pytest.raises(TunnelError, match=r"gave no URL and connection within 0.5s"):
        open_cloudflared(upstream, deadline=0.5)


def test_static_modes(upstream: str) -> None:
    none = open_tunnel(TunnelSpec("none"), upstream)
    assert none.public_url == upstream and none.alive() and none.pid is None
    mine = open_tunnel(TunnelSpec("public-url", public_url="https://hooks.example"), upstream)
    assert mine.public_url == "https://hooks.example"


def test_pyngrok_python_wrapper_on_path_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv-bin"
    venv.mkdir()
    wrapper = venv / "ngrok"  # what `pip install pyngrok` puts on PATH
    wrapper.write_text("#!/usr/bin/python3\nfrom pyngrok.ngrok import main\nmain()\n")
    wrapper.chmod(0o755)
    monkeypatch.delenv("REHEARSAL_NGROK_BIN", raising=False)
    monkeypatch.delenv("PYNGROK_NGROK_PATH", raising=False)
    monkeypatch.setenv("PATH", str(venv))
    with pytest.raises(UsageError) as err:
        find_binary("ngrok", "REHEARSAL_NGROK_BIN", install="install it")
    assert f"skipped {wrapper}" in err.value.message
    real = tmp_path / "bin"
    real.mkdir()
    (real / "ngrok").write_text("#!/bin/sh\nexit 0\n")
    (real / "ngrok").chmod(0o755)
    monkeypatch.setenv("PATH", f"{venv}{os.pathsep}{real}")
    assert find_binary("ngrok", "REHEARSAL_NGROK_BIN", install="x") == str(real / "ngrok")
    monkeypatch.setenv("REHEARSAL_NGROK_BIN", str(wrapper))
    with pytest.raises(UsageError, match="is a Python wrapper"):
        find_binary("ngrok", "REHEARSAL_NGROK_BIN", install="x")


def test_choose_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REHEARSAL_TUNNEL", raising=False)
    assert choose() is None
    assert choose(plan="ngrok") == TunnelSpec("ngrok")
    monkeypatch.setenv("REHEARSAL_TUNNEL", "cloudflared")
    assert choose(plan="ngrok").mode == "cloudflared"  # type: ignore[union-attr]
    spec = choose(public_url="https://h.example/", listen="127.0.0.1:9000", plan="ngrok")
    assert spec == TunnelSpec("public-url", "https://h.example", ("127.0.0.1", 9000))
    assert choose("none", plan="ngrok").mode == "none"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flag": "ngrk"}, "--tunnel: unknown tunnel 'ngrk'"),
        ({"public_url": "https://h.example"}, "--public-url needs --listen HOST:PORT"),
        ({"public_url": "https://h", "listen": "nowhere"}, "expected HOST:PORT"),
        ({"public_url": "ftp://h", "listen": "127.0.0.1:1"}, "is not an http(s) URL"),
        ({"listen": "127.0.0.1:1"}, "--listen needs --public-url"),
        ({"flag": "ngrok", "public_url": "https://h"}, "exclude each other"),
    ],
)
def test_choose_refuses_clearly(
    kwargs: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REHEARSAL_TUNNEL", raising=False)
    with pytest.raises(UsageError) as err:
        choose(**kwargs)
    assert message in err.value.message
    assert err.value.exit_code == 2


def test_leftovers_end_only_a_dead_runs_tunnel(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from rehearsal.tunnels import leftovers

    def child() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    mine, orphan, recycled = child(), child(), child()
    try:
        leftovers.record(tmp_path, mine.pid, "ngrok")  # owned by this live process
        folder = tmp_path / "tunnels"
        for proc, started in ((orphan, leftovers._started(orphan.pid)), (recycled, "1")):
            record = {
                "pid": proc.pid,
                "started": started,
                "mode": "cloudflared",
                "owner": 999_999_999,
                "owner_started": "1",
            }
            (folder / f"{proc.pid}.json").write_text(json.dumps(record))
        said: list[str] = []
        assert leftovers.reap(tmp_path, said.append) == [orphan.pid]
        assert orphan.wait(timeout=5) == -15  # SIGTERM
        assert mine.poll() is None and recycled.poll() is None  # not ours / not the same
        assert said == [
            f"tunnel: ended a cloudflared process (pid {orphan.pid}) left by a killed run"
        ]
        assert sorted(p.name for p in folder.glob("*.json")) == [f"{mine.pid}.json"]
        leftovers.forget(tmp_path, mine.pid)
        assert list(folder.glob("*.json")) == []
    finally:
        for proc in (mine, orphan, recycled):
            proc.kill()
            proc.wait()


def test_plan_tunnel_fields(tmp_path: Path) -> None:
    from rehearsal.errors import PlanError
    from rehearsal.plan.load import load_plan

    steps = "steps:\n  - id: charge\n    action: charge\n    amount: 5\n"
    good = tmp_path / "good.yaml"
    good.write_text(f"name: t\ntunnel: ngrok\ntunnel_domain: my-app.ngrok-free.app\n{steps}")
    plan = load_plan(good)
    assert (plan.tunnel, plan.tunnel_domain) == ("ngrok", "my-app.ngrok-free.app")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: t\ntunnel: ngrock\n{steps}")
    with pytest.raises(PlanError) as err:
        load_plan(bad)
    assert f"{bad}:2: tunnel" in err.value.message


def test_rehearsal_tunnel_checks_deliveries_in_the_mode_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`rehearsal tunnel --live` shows live events as verified, and a test-mode event as
    refused; without --live, the other way round."""
    from rehearsal.commands.tunnel import _judge
    from rehearsal.providers import signatures
    from tests.conftest import event_body

    secret = "whsec_tunnel_modes_0123456789abcdef"
    monkeypatch.setenv("MINTCASH_WEBHOOK_SECRET", secret)
    live = event_body(event_id="evt_live_1", environment="live")
    test = event_body(event_id="evt_test_1", environment="test")

    def headers(body: bytes) -> dict[str, str]:
        return {"MintCash-Signature": signatures.sign(secret, body)}

    in_live, in_test = _judge("mintcash", live=True), _judge("mintcash", live=False)
    assert "signature ok (live)" in in_live(headers(live), live).text
    assert "REJECTED" in in_live(headers(test), test).text
    assert "signature ok (test)" in in_test(headers(test), test).text
    assert "REJECTED" in in_test(headers(live), live).text
