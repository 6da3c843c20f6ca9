"""PayMongo's webhooks across runs, through the CLI, against the simulator reached as if it
were PayMongo itself (a stand-in on 127.0.0.2 behind a relay: no control routes): one
webhook per URL, adopted by each run on a stable URL and given back as it was."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_paymongo_cli import PLAN, clean_env, standalone  # noqa: F401
from tests.e2e.test_run_cli import rehearsal
from tests.fakes.relay import Relay


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stable(standalone: dict[str, str]) -> Iterator[dict[str, Any]]:  # noqa: F811
    """PayMongo (the stand-in behind a relay) and a stable public URL for the receiver."""
    port = _free_port()
    provider = Relay(standalone["PAYMONGO_API_BASE"], bind="127.0.0.2")
    proxy = Relay(f"http://127.0.0.1:{port}")
    token = secrets.token_urlsafe(24)
    try:
        yield {
            "port": port,
            "provider": provider,
            "proxy": proxy,
            "url": f"{proxy.url}/webhooks/{token}",
            "env": clean_env(
                PAYMONGO_API_BASE=provider.url,
                PAYMONGO_SECRET_KEY=standalone["PAYMONGO_SECRET_KEY"],
                REHEARSAL_WEBHOOK_TOKEN=token,
            ),
            "api": standalone["PAYMONGO_API_BASE"],
            "auth": (standalone["PAYMONGO_SECRET_KEY"], ""),
        }
    finally:
        proxy.close()
        provider.close()


def _run(stable: dict[str, Any], tmp_path: Path) -> str:
    result = rehearsal(
        "run",
        PLAN,
        "--plain",
        "--public-url",
        stable["proxy"].url,
        "--listen",
        f"127.0.0.1:{stable['port']}",
        "--timeout-scale",
        "0.5",
        state=tmp_path / "s",
        cwd=tmp_path,
        env=stable["env"],
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "⇠ payment.succeeded" in out and "⇠ subscription.created" in out  # it received
    return out


def _hooks(stable: dict[str, Any]) -> list[dict[str, Any]]:
    listed = httpx.get(f"{stable['api']}/v1/webhooks", auth=stable["auth"]).json()["data"]
    return [h["attributes"] | {"id": h["id"]} for h in listed]


def test_a_second_run_on_the_same_url_within_a_day_receives_its_webhooks(
    stable: dict[str, Any], tmp_path: Path
) -> None:
    """The first run creates the webhook and disables it at the end; the second (minutes
    later, inside PayMongo's 24 h Idempotency-Key window) finds it, enables it, receives
    its webhooks, and disables it again."""
    _run(stable, tmp_path)
    [first] = _hooks(stable)
    assert (first["url"], first["status"]) == (stable["url"], "disabled")
    out = _run(stable, tmp_path)
    [second] = _hooks(stable)  # the same webhook, not a second one for the URL
    assert (second["id"], second["status"]) == (first["id"], "disabled")
    assert second["events"] == first["events"]
    assert second["secret_key"] not in out


def test_a_disabled_webhook_for_the_url_is_enabled_for_the_run_and_given_back(
    stable: dict[str, Any], tmp_path: Path
) -> None:
    """A webhook the merchant registered for this URL, disabled, with other events: the run
    enables it and sets the events it needs, then gives it back disabled, events restored."""
    made = httpx.post(
        f"{stable['api']}/v1/webhooks",
        auth=stable["auth"],
        json={"data": {"attributes": {"url": stable["url"], "events": ["payment.failed"]}}},
    ).json()["data"]
    httpx.post(f"{stable['api']}/v1/webhooks/{made['id']}/disable", auth=stable["auth"])
    _run(stable, tmp_path)
    [hook] = _hooks(stable)
    assert (hook["id"], hook["status"], hook["events"]) == (
        made["id"],
        "disabled",
        ["payment.failed"],
    )


def test_an_enabled_webhook_for_the_url_stays_enabled_with_its_events(
    stable: dict[str, Any], tmp_path: Path
) -> None:
    made = httpx.post(
        f"{stable['api']}/v1/webhooks",
        auth=stable["auth"],
        json={"data": {"attributes": {"url": stable["url"], "events": ["payment.paid"]}}},
    ).json()["data"]
    _run(stable, tmp_path)
    [hook] = _hooks(stable)
    assert (hook["id"], hook["status"], hook["events"]) == (made["id"], "enabled", ["payment.paid"])
