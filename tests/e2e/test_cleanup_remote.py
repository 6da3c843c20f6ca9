"""`rehearsal cleanup` against a provider that is not a simulator it recognises: API access
only, no receiver, no tunnel. Judged by the stand-in's own books."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from tests.e2e.test_run_cli import rehearsal
from tests.fakes.relay import Relay


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def charges(standalone: dict[str, str]) -> list[tuple[object, ...]]:
    books = httpx.get(
        f"{standalone['MINTCASH_API_BASE']}/_sim/books",
        headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
    ).json()
    return [
        (p["amount"], p["amount_refunded"], p["status"])
        for p in books["payments"]
        if p["subscription_id"] is None
    ]


def test_cleanup_of_a_crashed_run_against_a_remote_provider_needs_no_tunnel(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    # "MintCash" on 127.0.0.2 is not recognised as a simulator (no control routes): a real
    # provider as far as the CLI can tell. Its webhook URL is registered by hand, in front
    # of the receiver's --listen port, as the user's own proxy would be.
    token = "stable_webhook_token_cleanup_0123456789"
    provider = Relay(standalone["MINTCASH_API_BASE"], bind="127.0.0.2")
    port = free_port()
    proxy = Relay(f"http://127.0.0.1:{port}")
    state = tmp_path / "s"
    env = {**standalone, "MINTCASH_API_BASE": provider.url, "REHEARSAL_WEBHOOK_TOKEN": token}
    env.pop("LIVE_KEY")
    try:
        httpx.post(
            f"{standalone['MINTCASH_API_BASE']}/_sim/webhook_endpoints",
            json={"url": f"{proxy.url}/webhooks/{token}", "events": [], "environment": "test"},
            headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
        ).raise_for_status()
        crashed = rehearsal(
            "run",
            "--plain",
            "--public-url",
            proxy.url,
            "--listen",
            f"127.0.0.1:{port}",
            state=state,
            cwd=tmp_path,
            env={**env, "REHEARSAL_FAILPOINT": "after-call:charge"},
        )
        assert crashed.returncode == -9, crashed.stdout + crashed.stderr  # SIGKILL
        assert charges(standalone) == [(500, 0, "succeeded")]  # the provider holds the charge
        proxy.close()  # nothing listens for webhooks any more: cleanup must not need it

        status = rehearsal("status", "--json", state=state, cwd=tmp_path, env=env)
        run_id = json.loads(status.stdout)["run_id"]
        cleaned = rehearsal("cleanup", run_id, state=state, cwd=tmp_path, env=env)
    finally:
        proxy.close()
        provider.close()
    out = cleaned.stdout + cleaned.stderr
    assert cleaned.returncode == 0, out
    assert "cannot reach a receiver" not in out
    assert f"run {run_id}: nothing outstanding" in cleaned.stdout
    assert charges(standalone) == [(500, 500, "refunded")]  # the provider's own books
    for secret in (standalone["MINTCASH_SECRET_KEY"], standalone["MINTCASH_WEBHOOK_SECRET"]):
        assert secret not in out + crashed.stdout + crashed.stderr
