"""`rehearsal runs`, `rehearsal status [RUN]` and `rehearsal cleanup RUN`: the ledger's view
of past runs, and settling what a run left open.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from rehearsal.errors import UsageError
from rehearsal.ledger.db import STATE_DB, StateDB, state_dir
from rehearsal.ledger.rows import RunRow, StepRow
from rehearsal.ledger.runlock import RunLock
from rehearsal.ledger.states import RegistrationState, RunLiveness, RunVerdict
from rehearsal.plan.model import Plan
from rehearsal.reports.document import Money

if TYPE_CHECKING:
    from rehearsal.session.target import Target
    from rehearsal.ui.whatnext import Standing


def open_store(folder: Path | None) -> StateDB:
    """The ledger of the state folder; a usage error when no run was ever made there."""
    path = state_dir(folder) / STATE_DB
    if not path.exists():
        raise UsageError(
            f"no runs yet in {path.parent}", hint="run `rehearsal run`, or pass --state-dir"
        )
    return StateDB(path)


def find_run(store: StateDB, run_id: str | None) -> RunRow:
    """The run named `run_id`, or the latest; a usage error naming what is missing."""
    if run_id is None:
        latest = store.runs(limit=1)
        if not latest:
            raise UsageError("no runs yet")
        return latest[0]
    run = store.run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id!r}", hint="`rehearsal runs` lists them")
    return run


def _amount(amount: int, currency: str | None) -> str:
    """An amount as a person reads it (`USD 5.00`); minor units where the currency is unknown."""
    from rehearsal.amounts import format_amount

    return format_amount(amount, currency) if currency else f"{amount} (minor units)"


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def runs(folder: Path | None) -> int:
    from rehearsal.ledger.totals import run_totals

    store = open_store(folder)
    try:
        # From the ledger: what each run's last settle or status read from the provider.
        print(
            f"{'run':36} {'started':19} {'plan':22} {'env':5} {'verdict or state':20} "
            "outstanding (as last read; `status RUN` reads the provider)"
        )
        rows = store.runs()
        for r in rows:
            m = run_totals(store, r["id"])
            open_ = _amount(m["outstanding"], m["currency"]) + (
                f" + {len(m['active_subscriptions'])} subscription(s)"
                if m["active_subscriptions"]
                else ""
            )
            if m["unknown_outcomes"]:
                open_ += f" + {len(m['unknown_outcomes'])} unknown"
            print(
                f"{r['id']:36} {_when(r['started_at']):19} {r['plan'][:22]:22} "
                f"{r['environment']:5} {_state(store, r, folder):20} {open_}"
            )
        if rows:
            print("(`rehearsal status RUN` says where a run stands and what to type next)")
    finally:
        store.close()
    return 0


def _state(store: StateDB, run: RunRow, folder: Path | None) -> str:
    """The verdict; before one: running (a live process holds the run), paused, or died
    (no process holds it and a step was left in flight)."""
    from rehearsal.ui.whatnext import standing

    if run["verdict"] is not None:
        return run["verdict"]
    now = standing(store, run, state_dir(folder))
    if now.state == RunLiveness.RUNNING:
        return f"running (pid {now.holder})"
    return "died: resume" if now.state == RunLiveness.DIED else "paused"


def _open_books(run: RunRow, folder: Path | None) -> tuple[Target, float | None]:
    """The run's provider, API only (no receiver, no tunnel), checked to be the account the
    run used, and how long after its last send a lost call of the run may still land."""
    from rehearsal.ledger.waits import landing_window
    from rehearsal.session.target import open_target

    embedded = run["target_kind"] == "embedded"
    target = open_target(
        run["provider"],
        live=run["environment"] == "live",
        force_simulator=embedded,
        state_dir=state_dir(folder),
        api_only=True,
    )
    if not embedded and target.config.api_base != run["api_base"]:
        target.close()
        raise UsageError(
            f"run {run['id']} was made against {run['api_base']}, not {target.config.api_base}",
            hint="point the provider's environment at the account the run used",
        )
    window = landing_window(
        embedded=embedded,
        http_timeout=max(target.config.http_timeout, run["http_timeout"] or 0),
        in_process=False,
    )
    return target, window


def _reconcile(store: StateDB, run: RunRow, folder: Path | None) -> str | None:
    """Read the run's objects back through the provider's API into the ledger (nothing
    moves), so `status` shows the provider's books. None when done; else why not."""
    import contextlib

    from rehearsal.errors import RehearsalError
    from rehearsal.ledger.settle import settle
    from rehearsal.ledger.waits import Landing

    lock = RunLock(state_dir(folder), run["id"])
    try:
        lock.acquire()
    except UsageError:
        return "the run is in progress in another process"
    try:
        target, window = _open_books(run, folder)
        try:
            settle(run["id"], target.provider, store, lambda e: None, Landing(window), act=False)
        finally:
            with contextlib.suppress(Exception):
                target.close()
    except RehearsalError as exc:
        return exc.message
    finally:
        lock.release()
    return None


class StatusStep(TypedDict):
    id: str
    action: str
    state: str
    object_id: str | None
    status: str | None
    amount: int | None
    idempotency_key: str | None
    outcome: str | None
    card: str | None
    confirmed_by: str | None
    message: str | None


class StatusCompensation(TypedDict):
    action: str
    object_id: str
    amount: int | None
    state: str
    request_id: str | None
    message: str | None


class StatusRegistration(TypedDict):
    url: str
    endpoint_id: str | None
    state: str


class StatusDoc(TypedDict):
    """`rehearsal status --json`: where a run stands (docs/cli.md)."""

    run_id: str
    plan: str
    provider: str
    environment: str
    verdict: str | None
    started_at: float
    ended_at: float | None
    steps: list[StatusStep]
    compensations: list[StatusCompensation]
    money: Money
    webhook_registrations: list[StatusRegistration]
    read_from_provider: bool  # True: the money is what the provider's API showed just now
    standing: dict[str, object]  # running | paused | died | the verdict, and what to type next


def _status_step(store: StateDB, s: StepRow) -> StatusStep:
    return {
        "id": s["step_id"],
        "action": s["action"],
        "state": s["state"],
        "object_id": s["object_id"],
        "status": s["status"],
        "amount": s["amount"],
        "idempotency_key": s["idempotency_key"],
        "outcome": store.call_outcome(s),
        "card": s["card"],
        "confirmed_by": s["confirmed_by"],
        "message": s["message"],
    }


def _status_doc(store: StateDB, run: RunRow, now: Standing, unread: str | None) -> StatusDoc:
    from rehearsal.ledger.totals import run_totals

    return {
        "run_id": run["id"],
        "plan": run["plan"],
        "provider": run["provider"],
        "environment": run["environment"],
        "verdict": run["verdict"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
        "steps": [_status_step(store, s) for s in store.steps(run["id"])],
        "compensations": [
            {
                "action": c["action"],
                "object_id": c["object_id"],
                "amount": c["amount"],
                "state": c["state"],
                "request_id": c["request_id"],
                "message": c["message"],
            }
            for c in store.compensations(run["id"])
        ],
        "money": run_totals(store, run["id"]),  # the ledger's view, as reports have it
        "webhook_registrations": [
            {"url": g["url"], "endpoint_id": g["endpoint_id"], "state": g["state"]}
            for g in store.registrations(run["id"])
        ],
        "read_from_provider": unread is None,
        "standing": now.as_json(),
    }


def status(run_id: str | None, folder: Path | None, as_json: bool, *, offline: bool = False) -> int:
    from rehearsal.ui.whatnext import standing

    store = open_store(folder)
    try:
        run = find_run(store, run_id)
        unread = "--offline" if offline else _reconcile(store, run, folder)
        now = standing(store, run, state_dir(folder))  # after the reconcile: it may settle
        doc = _status_doc(store, run, now, unread)
    finally:
        store.close()
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    _show_status(doc, now, unread)
    return 0


def _show_status(doc: StatusDoc, now: Standing, unread: str | None) -> None:
    unended: dict[str, str] = {
        RunLiveness.RUNNING: f"running (process {now.holder})",
        RunLiveness.DIED: "not finished: its process died",
    }
    state = doc["verdict"] or unended.get(now.state, "paused")
    print(f"run {doc['run_id']}: {doc['plan']}, {doc['provider']} {doc['environment']}, {state}")
    for s in doc["steps"]:
        obj = f" {s['object_id']} {s['status']}" if s["object_id"] else ""
        obj += f" ({s['card']})" if s["card"] else ""
        print(f"  {s['state']:9} {s['id']:18} {s['action']:14}{obj}")
    m = doc["money"]
    cur = m["currency"]
    for c in doc["compensations"]:
        amount = _amount(c["amount"], cur) if c["amount"] else ""
        print(f"  settle    {c['action']} {c['object_id']} {amount} {c['state']}")
    if unread is not None:
        print(f"(money from the ledger only, not read from the provider: {unread})")
    _show_money(m, doc["provider"])
    for g in doc["webhook_registrations"]:
        if g["state"] != RegistrationState.REMOVED:
            print(f"  webhook still registered: {g['endpoint_id'] or 'its answer was lost'}")
    for line in now.lines():
        print(line)


def _show_money(m: Money, provider: str) -> None:
    cur = m["currency"]
    print(
        f"money: charged {_amount(m['charged'], cur)}, refunded {_amount(m['refunded'], cur)}, "
        f"outstanding {_amount(m['outstanding'], cur)}; active subscriptions: "
        f"{', '.join(m['active_subscriptions']) or 'none'}"
    )
    if m["not_refundable_in_test"]:
        print(
            f"  {_amount(m['not_refundable_in_test'], cur)} charged in test mode that "
            f"{provider} will "
            "not refund (test money, not outstanding)"
        )
    if m.get("refunds_pending"):
        print(
            f"  of the refunds, {_amount(m['refunds_pending'], cur)} were still pending at "
            f"{provider} when last read: not back on the card yet, and they may "
            "still fail; `rehearsal status` reads them again"
        )
    if m["subscription_payments"]:
        subs = _amount(m["subscription_payments"], cur)
        print(f"  of which the subscription's own payments: {subs}")
    for u in m["unknown_outcomes"]:
        print(
            f"  unknown outcome: step {u['step']} ({u['action']} "
            f"{_amount(u['amount'], cur) if u['amount'] else ''}, key "
            f"{u['idempotency_key']}): it may have landed"
        )


def cleanup(
    run_id: str, folder: Path | None, plain: bool, *, replay: bool = False, yes: bool = False
) -> int:
    from rehearsal.ledger.settle import settle
    from rehearsal.ledger.waits import Landing
    from rehearsal.ui.view import PlainView

    store = open_store(folder)
    lock: RunLock | None = None
    try:
        run = find_run(store, run_id)
        lock = RunLock(state_dir(folder), run["id"])
        lock.acquire()  # not while another process is moving this run's money
        plan = Plan.model_validate_json(run["plan_json"]) if run["plan_json"] else None
        if replay and plan is None:
            raise UsageError(f"run {run['id']} has no stored plan to replay its calls from")
        if replay and run["environment"] == "live":
            # A replay may make a call that never landed (then refunds it): armed, as resume.
            from rehearsal.engine.guards import arm

            assert plan is not None
            arm(plan, run["provider"], run["target"], yes=yes, cap=None)
        target, window = _open_books(run, folder)
        try:
            view = PlainView()
            replayer = None
            if replay:
                from rehearsal.engine.runner import Replayer

                assert plan is not None
                replayer = Replayer(plan, target.provider)
            settlement = settle(
                run["id"], target.provider, store, view, Landing(window, wait=True), replayer
            )
            settled = settlement.settled
            target.webhook_endpoint = run["webhook_endpoint"]  # removed at close
        finally:
            target.close()
        ended = settled and run["verdict"] is None  # settled money ends a paused or crashed run
        if ended:
            store.finish_run(run["id"], RunVerdict.CLEANED_UP)
            store.set_webhook_endpoint(run["id"], None)
        print(
            f"run {run['id']}: "
            + ("nothing outstanding" if settled else "something is still outstanding; see above")
            + (" (the run is ended; start a new one to rehearse again)" if ended else "")
        )
        return 0 if settled else 1
    finally:
        if lock is not None:
            lock.release()
        store.close()
