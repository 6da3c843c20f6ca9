"""PayMongo through the CLI, as a user runs it: the built-in simulator, a standalone
`rehearsal simulator --provider paymongo`, key checks, and live 3-D Secure in a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import run_standalone
from tests.e2e.test_run_cli import rehearsal

REPO = Path(__file__).resolve().parents[2]
PLAN = str(REPO / "plans" / "paymongo.yaml")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: "" for k in os.environ if k.startswith("PAYMONGO_")}
    env.update(extra)
    return env


def test_the_paymongo_plan_passes_on_the_built_in_simulator(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = rehearsal(
        "run", PLAN, "--simulator", "--report-json", str(report), state=tmp_path / "s", cwd=tmp_path
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "plan 'paymongo', paymongo test mode" in out and "no real money" in out
    events = ["payment.succeeded", "subscription.created", "subscription.renewed"]
    positions = [out.index(f"⇠ {e}") for e in events]
    assert positions == sorted(positions)
    assert "POST /v1/refunds → 400" in out
    assert (
        "refund: skipped (unavailable in test mode, as the plan expects: PayMongo refuses this "
        "refund in test mode (HTTP 400 refund_not_allowed: Only live transactions can be "
        "refunded.))"
    ) in out
    assert "POST /v1/subscriptions/" in out and "/test_cycle → 200" in out
    assert re.search(r"✓ cancel subs_\w+ cancelled, confirmed by (webhook\+)?api", out)
    assert "PASSED" in out
    data = json.loads(report.read_text())
    assert data["verdict"] == "passed"
    # PayMongo refunds live payments only: cleanup's refunds are refused in test mode, which
    # is expected (test money), not money left outstanding.
    assert "not possible in test mode" in out
    money = data["money"]
    assert (money["outstanding"], money["not_refundable_in_test"]) == (0, money["charged"])
    assert {c["state"] for c in data["compensations"]} == {"unavailable"}
    # The simulator's keys and webhook secret never reach the output, the report or the
    # rehearsal's state database (the simulator's own books keep them, by design).
    with sqlite3.connect(tmp_path / "s" / "simulator" / "paymongo.sqlite") as books:
        secrets = [v for (v,) in books.execute("SELECT value FROM meta WHERE key LIKE '%secret'")]
    assert len(secrets) == 3
    state = b"".join(p.read_bytes() for p in (tmp_path / "s").glob("*.sqlite*"))
    assert b"pay_" in state, "the ledger holds the run"
    for secret in secrets:
        assert secret not in out + result.stderr + report.read_text()
        assert secret.encode() not in state


@pytest.mark.parametrize(
    ("env", "code", "says"),
    [
        ({"PAYMONGO_SECRET_KEY": "sk_live_abc"}, 4, "PAYMONGO_SECRET_KEY is a live key"),
        ({"PAYMONGO_SECRET_KEY": "pk_test_abc"}, 2, "PAYMONGO_SECRET_KEY has an unknown prefix"),
        (
            {"PAYMONGO_SECRET_KEY": "sk_test_abc", "PAYMONGO_PUBLIC_KEY": "pk_live_x"},
            4,
            "PAYMONGO_PUBLIC_KEY is a live key",
        ),
    ],
)
def test_keys_must_match_the_mode_before_any_call(
    tmp_path: Path, env: dict[str, str], code: int, says: str
) -> None:
    result = rehearsal("run", PLAN, state=tmp_path / "s", cwd=tmp_path, env=clean_env(**env))
    assert result.returncode == code, result.stdout + result.stderr
    assert says in result.stderr
    for value in env.values():
        assert value not in result.stdout + result.stderr.replace(says, "")


def test_a_test_key_alone_targets_paymongo_itself_which_needs_a_public_url(tmp_path: Path) -> None:
    result = rehearsal(
        "run",
        PLAN,
        state=tmp_path / "s",
        cwd=tmp_path,
        env=clean_env(PAYMONGO_SECRET_KEY="sk_test_x"),
    )
    assert result.returncode == 2
    assert "paymongo at https://api.paymongo.com cannot reach a receiver" in result.stderr


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A standalone PayMongo simulator."""
    yield from run_standalone(tmp_path, "paymongo")


def test_a_standalone_paymongo_simulator_through_the_environment(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    env = clean_env(**{k: v for k, v in standalone.items() if k.startswith("PAYMONGO_")})
    result = rehearsal(
        "run", PLAN, "--timeout-scale", "0.5", state=tmp_path / "s", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the rehearsal simulator at http://127.0.0.1" in result.stdout
    assert standalone["PAYMONGO_SECRET_KEY"] not in result.stdout + result.stderr


def test_unconfigured_subscriptions_stop_with_paymongos_message(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    base = standalone["PAYMONGO_API_BASE"]
    httpx.put(
        f"{base}/_sim/paymongo/subscriptions",
        json={"enabled": False},
        headers={"Authorization": f"Bearer {standalone['PAYMONGO_SECRET_KEY']}"},
    ).raise_for_status()
    env = clean_env(**{k: v for k, v in standalone.items() if k.startswith("PAYMONGO_")})
    result = rehearsal("run", PLAN, state=tmp_path / "s", cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "PayMongo has not enabled subscriptions on this account" in out
    assert "Subscriptions is not yet configured for this organization." in out
    assert "renewal: skipped" in out and "cancel: skipped" in out
    # The charge was cleaned up as far as PayMongo allows: in test mode it refuses refunds.
    assert "compensation: refund PHP 200.00 pay_" in out


LIVE_PLAN = """version: 1
name: paymongo-live
provider: paymongo
currency: PHP
card: env:PAYMONGO_CARD
max_amount: 2000
steps:
  - id: charge
    action: charge
    amount: 2000
    expect: {event: payment.succeeded, within: 20s}
  - id: refund
    action: refund
    payment: charge
    unavailable_in_test: true
    expect: {event: payment.refunded, within: 10s}
"""


def read_until(fd: int, pattern: str, seen: list[str], deadline: float) -> re.Match[str]:
    """Read the terminal until `pattern` shows up (a deadline, no sleeps)."""
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        if match := regex.search("".join(seen)):
            return match
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode("utf-8", "replace"))
            except OSError:
                break
    raise AssertionError(f"{pattern!r} not shown; the terminal showed:\n{''.join(seen)}")


def test_live_3ds_in_a_terminal(tmp_path: Path, standalone: dict[str, str]) -> None:
    """A live run in a pseudo-terminal: the operator arms it, is shown the 3-D Secure URL
    (and a QR code), opens it and authorizes; the run carries on, charges and refunds."""
    base, live_key = standalone["PAYMONGO_API_BASE"], standalone["LIVE_KEY"]
    card = {"card_number": "4343434343434345", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    method = httpx.post(
        f"{base}/v1/payment_methods",
        auth=(live_key, ""),
        json={"data": {"attributes": {"type": "card", "details": card}}},
    ).json()["data"]["id"]
    plan = tmp_path / "live.yaml"
    plan.write_text(LIVE_PLAN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYMONGO_", "REHEARSAL_"))}
    env.update(
        PAYMONGO_API_BASE=base,
        PAYMONGO_SECRET_KEY=live_key,
        PAYMONGO_WEBHOOK_SECRET=standalone["PAYMONGO_WEBHOOK_SECRET"],
        PAYMONGO_CARD=method,
        REHEARSAL_STATE_DIR=str(tmp_path / "s"),
        NO_COLOR="1",
        COLUMNS="120",
    )
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", str(plan), "--live", "--plain"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        cwd=tmp_path,
        close_fds=True,
    )
    os.close(child)
    seen: list[str] = []
    deadline = time.monotonic() + 30
    try:
        read_until(main, r"Type paymongo:2000 to arm this live run: ", seen, deadline)
        os.write(main, b"paymongo:2000\n")
        found = read_until(main, r"(http://127\.0\.0\.1:\d+/_sim/paymongo/3ds/\S+)", seen, deadline)
        url = found.group(1)
        assert "█" in "".join(seen) or "▀" in "".join(seen), "a QR code is drawn"
        page = httpx.get(url)  # the operator opens the URL ...
        assert "Authorize Test Payment" in page.text
        assert httpx.post(url, data={"action": "authorize"}).status_code == 200  # ... authorizes
        read_until(main, r"PASSED", seen, deadline)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    screen = "".join(seen)
    assert "paymongo live mode" in screen
    assert "✓ refund" in screen
    assert live_key not in screen
    books = httpx.get(f"{base}/_sim/books", headers={"Authorization": f"Bearer {live_key}"}).json()
    assert [(p["env"], p["status"]) for p in books["payments"]] == [("live", "refunded")]


def test_cancel_without_its_webhook_is_confirmed_through_the_api(tmp_path: Path) -> None:
    """PayMongo documents no cancellation event: when none comes, the API's word counts and
    the run says so, instead of failing on a webhook PayMongo may never send."""
    result = rehearsal(
        "run",
        PLAN,
        "--simulator",
        "--sim-fault",
        "drop:subscription.cancelled",
        state=tmp_path / "s",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"✓ cancel subs_\w+ cancelled, confirmed by api \(", result.stdout)
    assert "⇠ subscription.cancelled" not in result.stdout


@pytest.mark.parametrize("point", ["after-call:charge", "after-call:subscribe"])
def test_a_crash_after_paymongo_answered_resumes_without_charging_twice(
    tmp_path: Path, point: str
) -> None:
    """SIGKILL once PayMongo acted but before the ledger knew: resume re-sends every
    sub-call's Idempotency-Key and gets the saved answers, so nothing is charged twice."""
    state = tmp_path / "s"
    crashed = rehearsal(
        "run", PLAN, "--simulator", state=state, cwd=tmp_path, env={"REHEARSAL_FAILPOINT": point}
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        (run_id,) = db.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    resumed = rehearsal("resume", run_id, state=state, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with sqlite3.connect(state / "simulator" / "paymongo.sqlite") as db:
        charges = db.execute("SELECT amount FROM payments WHERE subscription_id IS NULL").fetchall()
        subs = db.execute("SELECT status FROM subscriptions").fetchall()
        intents = db.execute("SELECT COUNT(*) FROM pm_intents").fetchone()
    assert charges == [(20000,)]  # one charge, however often its calls were sent
    assert subs == [("cancelled",)]
    assert intents == (2,)  # the charge's and the first invoice's


def test_a_lost_answer_older_than_paymongos_key_window_is_not_sent_again(
    tmp_path: Path,
) -> None:
    """PayMongo forgets an Idempotency-Key after 24 h: a resume a day later must not
    re-send the key of a call whose answer was lost, or it would charge a second time."""
    state = tmp_path / "s"
    crashed = rehearsal(
        "run",
        PLAN,
        "--simulator",
        state=state,
        cwd=tmp_path,
        env={"REHEARSAL_FAILPOINT": "after-call:charge"},
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        (run_id,) = db.execute("SELECT id FROM runs").fetchone()
        day_ago = time.time() - 25 * 3600  # as if the operator resumed the next day
        db.execute(
            "UPDATE steps SET first_called_at = ?, called_at = ? WHERE step_id = 'charge'",
            (day_ago, day_ago),
        )
    resumed = rehearsal("resume", run_id, state=state, cwd=tmp_path)
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    out = resumed.stdout + resumed.stderr
    assert "paymongo forgets a key after 24 h, so sending it again could charge twice" in out
    with sqlite3.connect(state / "simulator" / "paymongo.sqlite") as db:
        charges = db.execute("SELECT COUNT(*) FROM payments").fetchone()
    assert charges == (1,)  # the one the lost answer made; no second


def test_live_paymongo_without_a_terminal_is_refused_before_any_call(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    """No prompt without a terminal: 3-D Secure needs an operator at a browser, so a live
    PayMongo run from a script stops at once (exit 2) instead of waiting ten minutes."""
    base, live_key = standalone["PAYMONGO_API_BASE"], standalone["LIVE_KEY"]
    plan = tmp_path / "live.yaml"
    plan.write_text(LIVE_PLAN)
    result = rehearsal(
        "run",
        str(plan),
        "--live",
        "--yes",
        state=tmp_path / "s",
        cwd=tmp_path,
        env={
            "PAYMONGO_API_BASE": base,
            "PAYMONGO_SECRET_KEY": live_key,
            "PAYMONGO_WEBHOOK_SECRET": standalone["PAYMONGO_WEBHOOK_SECRET"],
            "PAYMONGO_CARD": "pm_unused",
            "REHEARSAL_LIVE_CONFIRM": "paymongo:2000",
        },
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "3-D Secure" in result.stderr and "run it in a terminal" in result.stderr
    books = httpx.get(f"{base}/_sim/books", headers={"Authorization": f"Bearer {live_key}"}).json()
    assert books["payments"] == []
    with sqlite3.connect(tmp_path / "s" / "rehearsal.sqlite") as db:  # no call was made
        assert db.execute("SELECT COUNT(*) FROM api_calls").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)


def test_paymongo_itself_through_a_public_url_registers_its_webhook_by_api(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    """As against a real PayMongo account: no simulator control routes (the stand-in sits on
    127.0.0.2 behind a relay and is not recognised), so the run registers the public URL
    with POST /v1/webhooks, verifies deliveries with the secret that returned, and disables
    the webhook at the end."""
    import socket

    from tests.fakes.relay import Relay

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = Relay(standalone["PAYMONGO_API_BASE"], bind="127.0.0.2")
    proxy = Relay(f"http://127.0.0.1:{port}")  # the user's own proxy in front of --listen
    try:
        env = clean_env(
            PAYMONGO_API_BASE=provider.url,
            PAYMONGO_SECRET_KEY=standalone["PAYMONGO_SECRET_KEY"],
        )
        result = rehearsal(
            "run",
            PLAN,
            "--plain",
            "--public-url",
            proxy.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--timeout-scale",
            "0.5",
            state=tmp_path / "s",
            cwd=tmp_path,
            env=env,
        )
        hooks = httpx.get(
            f"{standalone['PAYMONGO_API_BASE']}/v1/webhooks",
            auth=(standalone["PAYMONGO_SECRET_KEY"], ""),
        ).json()["data"]
    finally:
        proxy.close()
        provider.close()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"paymongo at {provider.url} (test mode, webhooks through a public URL)" in out
    assert "register this webhook URL" not in out  # PayMongo's API did it
    assert "⇠ payment.succeeded" in out and "⇠ subscription.created" in out
    [hook] = [h["attributes"] for h in hooks]
    assert hook["url"].startswith(f"{proxy.url}/webhooks/") and hook["status"] == "disabled"
    assert hook["secret_key"] not in out
