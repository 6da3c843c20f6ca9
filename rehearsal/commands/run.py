"""`rehearsal run`, `start`, `step` and `resume`: a plan at once, or step by step across
processes (and days), against the provider or the simulator. The ledger carries the run;
a run session (rehearsal/session/run.py) owns what each process opens."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, TextIO

from rehearsal.errors import RehearsalError, UsageError
from rehearsal.ledger.db import STATE_DB, StateDB, state_dir
from rehearsal.plan.builtin import resolve_plan_path
from rehearsal.plan.load import load_plan
from rehearsal.plan.model import Plan
from rehearsal.session.options import RunArgs, check_report_paths, tunnel_spec
from rehearsal.session.run import RunSession
from rehearsal.ui.operator import Operator

if TYPE_CHECKING:
    from rehearsal.ledger.rows import RunRow

__all__ = ["RunArgs", "next_step", "resume", "run", "start"]


def run(args: RunArgs) -> int:
    """A whole plan, now: `start` and `resume` in one process, on one open target."""
    from rehearsal.session import matrix

    if args.forward_to:
        from rehearsal.audit.forward import check_settings

        if matrix.wanted(args):
            raise UsageError("--forward-to runs with one rehearsal at a time, not a matrix")
        check_settings(args.forward_to)
    if matrix.wanted(args):
        return matrix.run_matrix(args)
    operator = Operator()  # arms the run, then shows its prompts and 3-D Secure pages
    with RunSession(args) as session:
        try:
            check_report_paths(args)
            run_id = _create(session, operator)
        except RehearsalError as exc:
            if args.junit:  # CI uploads the JUnit file: say why there is no run in it
                from rehearsal.reports.junit import refused

                with contextlib.suppress(OSError):  # the JUnit path itself may be what is wrong
                    args.junit.parent.mkdir(parents=True, exist_ok=True)
                    args.junit.write_text(refused(exc.message, exc.exit_code))
            raise
        check_report_paths(args)  # as `resume` does, before the lock
        session.lock(run_id)
        return _carry(session, run_id, None, operator)


def start(args: RunArgs) -> str:
    """Validate, arm (live), record the run with its plan; no money moves. Prints its id."""
    with RunSession(args) as session:
        run_id = _create(session, Operator())
    print(run_id)  # stdout holds the id alone: scripts do R=$(rehearsal start)
    _print_next(run_id, args, file=sys.stderr)
    return run_id


def resume(run_id: str, args: RunArgs, stop_after: str | None = None) -> int:
    """Carry a run on from where it stopped (after a crash too), to the end or `stop_after`."""
    with RunSession(args) as session:
        check_report_paths(args)  # before the lock and the target: nothing has moved yet
        session.lock(run_id)  # one process moves a run at a time
        code = _carry(session, run_id, stop_after, Operator())
    if stop_after is not None:  # `step`: say what to type next
        _print_next(run_id, args)
    return code


def _print_next(run_id: str, args: RunArgs, file: TextIO | None = None) -> None:
    """The exact command(s) to type next (rehearsal/ui/whatnext.py)."""
    from rehearsal.ui.whatnext import for_run

    now = for_run(run_id, state_dir(args.state_dir))
    for line in now.lines() if now is not None else []:
        print(line, file=file or sys.stdout)


def _create(session: RunSession, operator: Operator) -> str:
    """Record a new run on the session's target (opened here); returns its id."""
    from rehearsal.engine.runner import new_run_id
    from rehearsal.session.preflight import confirm_manual, preflight, preflight_and_arm
    from rehearsal.session.run import record_run

    args = session.args
    if args.live and args.simulator:
        raise UsageError(
            "--live and --simulator exclude each other",
            hint="the simulator moves no money; live mode is for the real provider",
        )
    if args.timeout_scale <= 0:
        raise UsageError("--timeout-scale must be greater than 0")
    path = resolve_plan_path(args.plan)
    plan = load_plan(path, provider=args.provider)
    provider = args.provider or plan.provider
    target = session.open_target(
        provider,
        live=args.live,
        force_simulator=args.simulator,
        spec=tunnel_spec(args, plan),
        authorize=operator.authorizer(),
    )
    store = session.ledger()
    run_id = new_run_id()
    if args.live:  # checked first (keys, URLs, cards, variables), then armed
        preflight_and_arm(
            plan,
            target.provider,
            operator,
            name=provider,
            described=target.description,
            yes=args.yes,
            cap=args.max_amount,
        )
    else:
        preflight(plan, target.provider, has_operator=confirm_manual(operator) is not None)
    record_run(
        store,
        run_id,
        plan,
        name=plan.name,
        path=str(path),
        target=target,
        scale=args.timeout_scale,
    )
    return run_id


def _carry(session: RunSession, run_id: str, stop_after: str | None, operator: Operator) -> int:
    """The run as the ledger holds it, checked, on the session's target (opened here for a
    run made by another process, and armed again if live), carried on by the session."""
    from rehearsal.session.preflight import preflight_and_arm
    from rehearsal.session.run import carry, signals_as_interrupt

    args, store = session.args, session.ledger()
    run, plan = _resumable(store, run_id, stop_after)
    spec = tunnel_spec(args, plan)
    signals_as_interrupt()
    if session.target is None:
        live = run["environment"] == "live"
        target = session.open_target(
            run["provider"],
            live=live,
            force_simulator=run["target_kind"] == "embedded",
            spec=spec,
            authorize=operator.authorizer(),
        )
        if live:
            # Each process that moves a live run's money is armed again: a run armed
            # yesterday does not charge today without the operator's word. Checked
            # first: keys, URLs (open_target), the plan's cards and variables.
            preflight_and_arm(
                plan,
                target.provider,
                operator,
                name=run["provider"],
                described=run["target"],
                yes=args.yes,
                cap=args.max_amount,
            )
    return carry(session, run, plan, operator, spec, stop_after)


def _resumable(store: StateDB, run_id: str, stop_after: str | None) -> tuple[RunRow, Plan]:
    run = store.run(run_id)
    if run is None or not run["plan_json"]:
        raise UsageError(f"no resumable run {run_id!r}", hint="`rehearsal runs` lists them")
    if run["verdict"] is not None:
        raise UsageError(
            f"run {run_id} already ended: {run['verdict']}",
            hint=f"`rehearsal status {run_id}`; start a new run to rehearse again",
        )
    plan = Plan.model_validate_json(run["plan_json"])
    if stop_after is not None and stop_after not in {s.id for s in plan.steps}:
        raise UsageError(
            f"run {run_id} has no step {stop_after!r}",
            hint=f"its steps: {', '.join(s.id for s in plan.steps)}",
        )
    if stop_after is not None:
        _refuse_done_step(run_id, store, stop_after)
    return run, plan


def next_step(run_id: str, args: RunArgs) -> str:
    """The first step of the run that is not done (passed, or skipped as the plan expects)."""
    from rehearsal.engine.runner import step_done

    store = StateDB(state_dir(args.state_dir) / STATE_DB)
    try:
        rows = store.steps(run_id)
    finally:
        store.close()
    for row in rows:
        if not step_done(row):
            return str(row["step_id"])
    if not rows:
        raise UsageError(f"no resumable run {run_id!r}", hint="`rehearsal runs` lists them")
    raise UsageError(f"run {run_id!r} has no step left to run", hint=f"`rehearsal status {run_id}`")


def _refuse_done_step(run_id: str, store: StateDB, step_id: str) -> None:
    """`rehearsal step RUN STEP` with STEP already done moves nothing and says what is next."""
    from rehearsal.engine.runner import step_done
    from rehearsal.ledger.states import StepState

    rows = store.steps(run_id)
    done = {str(r["step_id"]): r for r in rows if step_done(r)}
    if step_id not in done:
        return
    how = (
        "passed"
        if done[step_id]["state"] == StepState.PASSED
        else "was skipped as the plan expects"
    )
    following = [str(r["step_id"]) for r in rows if not step_done(r)]
    hint = (
        f"the next step is {following[0]!r}: `rehearsal step {run_id}`"
        if following
        else f"no step is left: `rehearsal status {run_id}`"
    )
    raise UsageError(
        f"step {step_id!r} of run {run_id} already {how}: nothing to run, nothing moved",
        hint=hint,
    )
