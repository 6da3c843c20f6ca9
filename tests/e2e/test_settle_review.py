"""Regressions from the review of the settle engine (issue 11), each judged by the
simulator's books: a PayMongo flow refused halfway is not "nothing made"; a run told
--no-cleanup that leaves money is not "passed"; "never made" is asked again later; a webhook
that could not be disabled keeps a run open."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.faultlib import (
    books_money,
    cli,
    find_run_id,
    spawn,
    standalone_simulator,
    status_json,
    wait_for,
)
from tests.e2e.test_money_regressions import paymongo_standin
from tests.e2e.test_run_cli import rehearsal

REPO = Path(__file__).resolve().parents[2]

PAYMONGO_SUBSCRIBE = """\
version: 1
name: paymongo-subscribe
provider: paymongo
currency: PHP
card: visa
steps:
  - id: subscribe
    action: subscribe
    amount: 20000
    interval: month
    expect: {event: subscription.created, within: 10s}
  - id: cancel
    action: cancel
    subscription: subscribe
    expect: {event: subscription.cancelled, within: 10s, webhook: optional}
"""


def paymongo_books(state: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(state / "simulator" / "paymongo.sqlite") as db:
        return list(db.execute(sql))


def test_a_paymongo_subscribe_refused_at_its_attach_is_not_nothing_made(tmp_path: Path) -> None:
    """PayMongo's subscribe is a flow (plan, customer, subscription, attach): a 400 at the
    attach comes after PayMongo made a subscription. The adapter tells the ledger of the
    subscription as soon as it is made (before its first invoice's authentication), so the
    step is not "refused, nothing made": the run's own compensation cancels it, and
    cleanup finds nothing outstanding."""
    plan = tmp_path / "sub.yaml"
    plan.write_text(PAYMONGO_SUBSCRIBE)
    state = tmp_path / "s"
    run = rehearsal(
        "run",
        str(plan),
        "--simulator",
        "--plain",
        "--sim-fault",
        "fail:POST /v1/payment_intents/*/attach=400x1",
        state=state,
        cwd=tmp_path,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    [(sub_id,)] = paymongo_books(state, "SELECT id FROM pm_subscriptions")
    doc = json.loads(rehearsal("status", "--json", state=state, cwd=tmp_path).stdout)
    step = doc["steps"][0]
    assert (step["outcome"], step["object_id"]) == ("answered", sub_id), step
    assert f"cancel {sub_id}" in run.stdout, run.stdout
    assert paymongo_books(state, "SELECT status FROM subscriptions") == [("cancelled",)]
    plain = rehearsal("cleanup", doc["run_id"], state=state, cwd=tmp_path)
    assert plain.returncode == 0 and "nothing outstanding" in plain.stdout, plain.stdout
    doc = json.loads(rehearsal("status", doc["run_id"], "--json", state=state, cwd=tmp_path).stdout)
    assert doc["money"]["active_subscriptions"] == [] and doc["money"]["outstanding"] == 0


def test_a_passing_run_told_not_to_clean_up_that_leaves_money_is_unsettled(
    tmp_path: Path,
) -> None:
    state = tmp_path / "s"
    run = rehearsal("run", "--plain", "--no-cleanup", state=state, cwd=tmp_path)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "UNSETTLED" in run.stdout
    doc = json.loads(rehearsal("status", "--json", state=state, cwd=tmp_path).stdout)
    assert doc["verdict"] == "unsettled"
    assert doc["money"]["outstanding"] == 600  # the subscription's two payments, as the books


def test_never_made_is_asked_again_when_the_call_lands_after_all(tmp_path: Path) -> None:
    """Cleanup concludes "never made" at a deadline no provider documents (here 2 s after the
    send; the held call lands at 10 s, margin for a loaded machine); when the held
    call lands later, the next status finds it by its key and the next cleanup refunds it."""
    state = tmp_path / "state"
    with standalone_simulator(tmp_path / "sim", ["hold:POST /payments=10x1"]) as sim:
        env = {
            **sim.cli_env(),
            "REHEARSAL_HTTP_TIMEOUT": "2",
            "REHEARSAL_LANDING_WINDOW": "0",
        }
        run = spawn("run", "--plain", state=state, logs=tmp_path / "logs", env=env)
        wait_for("the charge is sent", lambda: "POST /payments" in run.text() or _held(sim), 20)
        run.proc.send_signal(signal.SIGKILL)
        run.wait(10)
        run_id = find_run_id(run.text(), state, env)
        assert run_id, run.text()
        early = cli("cleanup", run_id, state=state, env=env)
        assert "never reached" in early.stdout, early.stdout
        wait_for("the held charge lands", lambda: books_money(sim.db, run_id).charged == 500, 20)
        status = status_json(run_id, state, env)
        assert status["money"]["charged"] == 500 and status["money"]["outstanding"] == 500, status[
            "money"
        ]
        late = cli("cleanup", run_id, state=state, env=env)
        assert late.returncode == 0, late.stdout + late.stderr
        held = books_money(sim.db, run_id)
        assert (held.charged, held.refunded) == (500, 500)


def _held(sim: Any) -> bool:
    faults = httpx.get(
        f"{sim.base}/_sim/faults", headers={"Authorization": f"Bearer {sim.secret}"}, timeout=5
    ).json()
    return any(f.get("left") == 0 for f in faults.get("api_faults", []))


def test_a_webhook_that_could_not_be_disabled_keeps_the_run_open(tmp_path: Path) -> None:
    """PayMongo itself (a stand-in on 127.0.0.2, not recognised as a simulator): the run is
    killed with its webhook registered; while disabling fails, cleanup does not end the run
    and says the webhook is still registered; once it works, the run ends."""
    from tests.fakes.relay import Relay

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = tmp_path / "state"
    with paymongo_standin(tmp_path) as standin:
        provider = Relay(standin["PAYMONGO_API_BASE"], bind="127.0.0.2")
        proxy = Relay(f"http://127.0.0.1:{port}")
        env = {
            "PAYMONGO_API_BASE": provider.url,
            "PAYMONGO_SECRET_KEY": standin["PAYMONGO_SECRET_KEY"],
            "REHEARSAL_FAILPOINT": "before-step:charge",
        }
        control = {"Authorization": f"Bearer {standin['PAYMONGO_SECRET_KEY']}"}
        try:
            run = cli(
                "run",
                str(REPO / "plans" / "paymongo.yaml"),
                "--plain",
                "--public-url",
                proxy.url,
                "--listen",
                f"127.0.0.1:{port}",
                state=state,
                env=env,
            )
            run_id = find_run_id(run.stdout, state, env)
            assert run.returncode == -9 and run_id, run.stdout + run.stderr
            env.pop("REHEARSAL_FAILPOINT")
            faults = {"faults": ["fail:POST /v1/webhooks/*/disable=503x99"]}
            base = standin["PAYMONGO_API_BASE"]
            httpx.put(f"{base}/_sim/faults", json=faults, headers=control).raise_for_status()
            failing = cli("cleanup", run_id, state=state, env=env)
            assert failing.returncode == 1, failing.stdout + failing.stderr
            assert "nothing outstanding" not in failing.stdout
            status = cli("status", run_id, state=state, env=env)
            assert "webhook still registered" in status.stdout, status.stdout
            httpx.put(f"{base}/_sim/faults", json={"faults": []}, headers=control)
            working = cli("cleanup", run_id, state=state, env=env)
            assert working.returncode == 0, working.stdout + working.stderr
            hooks = httpx.get(f"{base}/v1/webhooks", auth=(standin["PAYMONGO_SECRET_KEY"], ""))
            assert [h["attributes"]["status"] for h in hooks.json()["data"]] == ["disabled"]
        finally:
            proxy.close()
            provider.close()
