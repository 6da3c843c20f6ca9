"""`rehearsal run`, `start`, `step` and `resume`: a plan at once, or step by step across
processes (and days), against the provider or the simulator. The ledger carries the run."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from rehearsal.engine.runner import Options
from rehearsal.errors import RehearsalError, UsageError
from rehearsal.ledger.db import STATE_DB, StateDB, nearest_existing, state_dir
from rehearsal.plan.builtin import resolve_plan_path
from rehearsal.plan.load import load_plan
from rehearsal.plan.model import ManualStep, Plan
from rehearsal.ui.operator import Operator

if TYPE_CHECKING:
    from collections.abc import Callable

    from rehearsal.audit.forward import Forwarder
    from rehearsal.ledger.rows import RunRow
    from rehearsal.receiver.endpoint import Receiver
    from rehearsal.receiver.feed import EventPoller
    from rehearsal.session.target import Target
    from rehearsal.tunnels import TunnelSpec
    from rehearsal.tunnels.public_path import TunnelSession
    from rehearsal.ui.view import PlainView, RichView


@dataclass
class RunArgs:
    plan: str | None = None
    provider: str | None = None
    live: bool = False
    simulator: bool = False
    timeout_scale: float = 1.0
    report_json: Path | None = None
    state_dir: Path | None = None
    plain: bool = False
    quiet: bool = False
    cleanup: bool = True
    yes: bool = False
    max_amount: int | None = None
    sim_faults: list[str] = field(default_factory=list)
    junit: Path | None = None  # reports: see rehearsal.commands.report
    report_md: Path | None = None
    tunnel: str | None = None  # none | ngrok | cloudflared | public-url (see rehearsal.tunnels)
    public_url: str | None = None
    listen: str | None = None
    ngrok_domain: str | None = None
    probe_every: float = 60.0  # seconds between tunnel re-probes during a long wait
    forward_to: str | None = None  # the merchant's own handler (forward.py)
    # Many rehearsals at once (rehearsal/session/matrix.py): more plans, a plan's matrix,
    # --parallel N, --repeat K, --shard I/N. None of them: one run, exactly as before.
    plans: list[str] = field(default_factory=list)
    parallel: int | None = None
    repeat: int = 1
    shard: str | None = None


def run(args: RunArgs) -> int:
    """A whole plan, now: `start` and `resume` in one process, on one open target."""
    from rehearsal.session import matrix as parallel

    if args.forward_to:
        from rehearsal.audit.forward import check_settings

        if parallel.wanted(args):
            raise UsageError("--forward-to runs with one rehearsal at a time, not a matrix")
        check_settings(args.forward_to)
    if parallel.wanted(args):
        return parallel.run_matrix(args)
    try:
        check_report_paths(args)
        run_id, target = _create(args)
    except RehearsalError as exc:
        if args.junit:  # CI uploads the JUnit file: say why there is no run in it
            from rehearsal.reports.junit import refused

            with contextlib.suppress(OSError):  # the JUnit path itself may be what is wrong
                args.junit.parent.mkdir(parents=True, exist_ok=True)
                args.junit.write_text(refused(exc.message, exc.exit_code))
        raise
    return resume(run_id, args, target=target)


def check_report_paths(args: RunArgs) -> None:
    """Every report path must be writable before the first call: a report that cannot be
    written after the money moved is a run nobody can read. A missing folder is made now,
    and the operator told so; a path under a file or in a folder we cannot write is
    refused."""
    wanted = (
        ("--report-json", args.report_json),
        ("--junit", args.junit),
        ("--report-md", args.report_md),
    )
    for option, path in wanted:
        if path is not None and (problem := _output_problem(path)):
            raise UsageError(
                f"{option} {path}: {problem}",
                hint="give a path in a folder you can write; nothing was run, nothing moved",
            )
    for option, path in wanted:
        if path is not None and not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(
                    f"{option} {path}: cannot make its folder ({exc.strerror})"
                ) from None
            print(f"note: made the folder {path.parent} for {option}", file=sys.stderr)


def _output_problem(path: Path) -> str | None:
    if path.exists():
        if path.is_dir():
            return "is a folder, not a file"
        if not os.access(path, os.W_OK):
            return "is not writable"
        return None
    parent = nearest_existing(path.parent)
    if not parent.is_dir():
        return f"cannot be written: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be written: the folder {parent} is not writable"
    return None


def start(args: RunArgs) -> str:
    """Validate, arm (live), record the run with its plan; no money moves. Prints its id."""
    run_id, target = _create(args)
    target.close()
    print(run_id)  # stdout holds the id alone: scripts do R=$(rehearsal start)
    _print_next(run_id, args, file=sys.stderr)
    return run_id


def _print_next(run_id: str, args: RunArgs, file: TextIO | None = None) -> None:
    """The exact command(s) to type next (rehearsal/ui/whatnext.py)."""
    from rehearsal.ui.whatnext import for_run

    now = for_run(run_id, state_dir(args.state_dir))
    for line in now.lines() if now is not None else []:
        print(line, file=file or sys.stdout)


def _create(args: RunArgs) -> tuple[str, Target]:
    """Record a new run; returns its id and the target, open (the caller closes it)."""
    from rehearsal.engine.runner import new_run_id
    from rehearsal.session.target import open_target

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
    folder = state_dir(args.state_dir)
    # Live mode: everything that can be checked is checked (keys and their modes, URLs, the
    # provider's answer, the plan's card and variables), and only then is the operator
    # asked to arm: a phrase typed for a run that then fails on a typo teaches to type it.
    operator = Operator()
    target = open_target(
        provider,
        live=args.live,
        force_simulator=args.simulator,
        state_dir=folder,
        sim_faults=args.sim_faults,
        public_path=_public_path(_tunnel(args, plan)),
        events_api=_events_api(_tunnel(args, plan)),
    )
    store = StateDB(folder / STATE_DB)
    try:
        run_id = new_run_id()
        options = Options(confirm_manual=_confirm(operator) if sys.stdin.isatty() else None)
        _preflight(plan, target, store, run_id, options)
        if args.live:
            from rehearsal.engine.guards import arm

            arm(
                plan,
                provider,
                target.description,
                yes=args.yes,
                cap=args.max_amount,
                operator=operator,
            )
        store.create_run(
            run_id,
            plan=plan.name,
            plan_path=str(path),
            provider=provider,
            environment=target.config.environment,
            target=target.description,
            target_kind="embedded" if target.simulator is not None else "env",
            api_base=None if target.simulator is not None else target.config.api_base,
            steps=[(s.id, s.action) for s in plan.steps],
            plan_json=plan.model_dump_json(),
            timeout_scale=args.timeout_scale,
            http_timeout=target.config.http_timeout,
        )
    except BaseException:
        target.close()
        raise
    finally:
        store.close()
    return run_id, target


def _preflight(plan: Plan, target: Target, store: StateDB, run_id: str, options: Options) -> None:
    """The runner's own checks (the plan's cards and their variables, an operator where one
    is needed), before any money moves and before a live run is armed."""
    from rehearsal.engine.runner import Runner

    try:
        Runner(plan, target.provider, None, store, run_id, lambda e: None, options).preflight()
    finally:
        target.provider.on_call = None  # that runner is thrown away; the run's sets its own
        target.provider.on_send = None


def resume(
    run_id: str, args: RunArgs, stop_after: str | None = None, target: Target | None = None
) -> int:
    """Carry a run on from where it stopped (after a crash too), to the end or `stop_after`."""
    from rehearsal.ledger.runlock import RunLock

    try:
        check_report_paths(args)  # before the lock and the target: nothing has moved yet
    except BaseException:
        if target is not None:
            target.close()
        raise
    lock = RunLock(state_dir(args.state_dir), run_id)  # one process moves a run at a time
    try:
        lock.acquire()
    except BaseException:
        if target is not None:
            target.close()
        raise
    try:
        code = _resume(run_id, args, stop_after, target)
    finally:
        lock.release()
    if stop_after is not None:  # `step`: say what to type next
        _print_next(run_id, args)
    return code


def _resume(run_id: str, args: RunArgs, stop_after: str | None, target: Target | None) -> int:
    from rehearsal.engine.runner import Runner
    from rehearsal.events import RunStarted
    from rehearsal.ledger.waits import landing_window
    from rehearsal.receiver.endpoint import Receiver
    from rehearsal.session.target import open_target

    folder = state_dir(args.state_dir)
    store = StateDB(folder / STATE_DB)
    try:
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
        embedded = run["target_kind"] == "embedded"
        spec = _tunnel(args, plan)
        _sigterm_as_interrupt()
        operator = Operator()
        if target is None:
            target = open_target(
                run["provider"],
                live=run["environment"] == "live",
                force_simulator=embedded,
                state_dir=folder,
                sim_faults=args.sim_faults,
                public_path=_public_path(spec),
                events_api=_events_api(spec),
            )
            if run["environment"] == "live":
                # Each process that moves a live run's money is armed again: a run armed
                # yesterday does not charge today without the operator's word. Checked
                # first: keys, URLs (open_target), the plan's cards and variables.
                from rehearsal.engine.guards import arm

                options = Options(confirm_manual=_confirm(operator) if sys.stdin.isatty() else None)
                _preflight(plan, target, store, run_id, options)
                arm(
                    plan,
                    run["provider"],
                    run["target"],
                    yes=args.yes,
                    cap=args.max_amount,
                    operator=operator,
                )
    except BaseException:
        if target is not None:
            target.close()
        store.close()
        raise
    receiver: Receiver | None = None
    session: TunnelSession | None = None
    poller: EventPoller | None = None
    forwarder: Forwarder | None = None
    view = _view(args)
    operator.attach(view)  # prompts from here on are drawn by the view, never under it
    _operator_for_provider(target, operator)
    stopped: BaseException | None = None  # for the reports
    try:
        if not embedded and target.config.api_base != run["api_base"]:
            raise UsageError(
                f"run {run_id} was made against {run['api_base']}, not {target.config.api_base}"
            )
        events = sorted({s.expect.event for s in plan.money_steps()})  # type: ignore[union-attr]
        receiver = Receiver(
            target.provider.verify_webhook,
            environment=target.config.environment,
            store=store,
            run_id=run_id,
        )
        if args.forward_to:
            from rehearsal.audit.forward import Forwarder

            forwarder = Forwarder(
                args.forward_to,
                provider=run["provider"],
                environment=run["environment"],
                store=store,
                run_id=run_id,
            )
            forwarder.start()
            receiver.on_new = forwarder.submit
        for row in store.deliveries(run_id):  # what earlier processes of this run received
            if row["verdict"] == "accepted" and row["payload"]:
                receiver.hub.publish(target.provider.parse_event(row["payload"].encode()))
        # One of a matrix's runs: what the matrix parked about its objects and a crash kept
        # from being routed to it is taken in now, or as settling finds its objects.
        from rehearsal.receiver.router import ParkedEvents, claiming

        parked = ParkedEvents(store, receiver, target.provider.parse_event, run["started_at"])
        if parked:
            parked.adopt_owned(store.steps(run_id))
            claiming(target.provider, parked.claim)
        if target.delivery == "events-api":
            # No receiver path: the provider's own list of events is read instead.
            from rehearsal.providers import event_feed
            from rehearsal.receiver.feed import EventPoller

            feed = event_feed(target.provider)
            assert feed is not None  # open_target chose events-api for a declared events API
            poller = EventPoller(
                feed,
                receiver,
                since=run["started_at"],
                every=EVENTS_POLL_SIMULATOR if target.simulated else EVENTS_POLL,
            )
            poller.start()
        else:
            session = _session(args, plan, run, run_id, target, store, receiver, events)
            _open_and_prove(session, run, run_id, target, store)
        steps = tuple((s.id, s.action) for s in plan.steps)
        view(
            RunStarted(
                run_id, plan.name, run["provider"], run["environment"], target.description, steps
            )
        )
        options = Options(
            timeout_scale=run["timeout_scale"],
            cleanup=args.cleanup,
            confirm_manual=_confirm(operator) if sys.stdin.isatty() else None,
            landing_window=landing_window(
                embedded=target.simulator is not None,
                http_timeout=target.config.http_timeout,
                in_process=True,
            ),
            watch=None if session is None or session.spec.mode == "none" else session.watch,
            watch_every=args.probe_every,
            forwarded=_forward_check(forwarder),
        )
        runner = Runner(plan, target.provider, receiver.hub, store, run_id, view, options)
        outcome = runner.run(stop_after=stop_after)
        # Paused, not ended: keep the endpoint so the provider's retries of what happens
        # meanwhile reach the next `step` or `resume`, which re-points it at its receiver.
        ended = store.run(run_id)
        target.keep_webhook = ended is not None and ended["verdict"] is None
        return outcome.exit_code
    except BaseException as exc:
        stopped = exc
        raise
    finally:
        if hasattr(view, "stop"):
            view.stop()
        if receiver is not None:
            receiver.request_stop()  # stops alongside the simulator in target.close()
        if poller is not None:
            poller.stop()
        if forwarder is not None:
            forwarder.close()
        try:
            _unregister(target, store, run_id)
            target.close()  # removes the registered webhooks while the tunnel still stands
        finally:
            if session is not None:
                session.close()  # the tunnel process never outlives the run
            if receiver is not None:
                receiver.stop()
            try:
                from rehearsal.commands.report import ReportPaths, write_after_run

                paths = ReportPaths(args.report_json, args.junit, args.report_md)
                write_after_run(store, run_id, paths, stopped)  # passed, failed or interrupted
            finally:
                store.close()


def _forward_check(forwarder: Forwarder | None) -> Callable[[str], str | None] | None:
    """The runner's question for --forward-to: what did the handler make of this event?"""
    if forwarder is None:
        return None

    def check(event_id: str) -> str | None:
        done = forwarder.outcome(event_id, time.monotonic() + forwarder.limit + 10)
        if done is None:
            return f"at {forwarder.url} was never reached"
        return None if done.problem is None else f"at {forwarder.url} {done.problem}"

    return check


def _session(
    args: RunArgs,
    plan: Plan,
    run: RunRow,
    run_id: str,
    target: Target,
    store: StateDB,
    receiver: Receiver,
    events: list[str],
) -> TunnelSession:
    """The receiver's public path, not yet open (the caller closes it whatever happens)."""
    from rehearsal.tunnels.public_path import TunnelSession, probe_deadline, resolve

    target.webhook_endpoint = run["webhook_endpoint"]  # a paused run's: re-pointed
    return TunnelSession(
        resolve(_tunnel(args, plan), simulated=target.simulated, provider=run["provider"]),
        receiver,
        register=lambda url: _register(target, store, run_id, url, events),
        probe_within=probe_deadline(run["timeout_scale"]),
        state_dir=state_dir(args.state_dir),  # a tunnel left by a killed run is ended
        remote=not target.simulated,
    )


def _open_and_prove(
    session: TunnelSession, run: RunRow, run_id: str, target: Target, store: StateDB
) -> None:
    """Opened, registered with the provider, proven by the signed probe before any money
    moves (TunnelError, exit 3, if it is broken)."""
    from rehearsal.tunnels.public_path import unstable_for_hand_registration

    session.open()
    store.set_webhook_endpoint(run_id, target.webhook_endpoint)
    if not session.registered:  # by hand (MintCash's account manager): the probe checks
        fixes = unstable_for_hand_registration(session.spec)
        if fixes:
            raise UsageError(
                f"{run['provider']}'s webhook URL is registered by hand, so it must be the "
                "same every run; this one is new, and every webhook would be lost",
                hint="; ".join(fixes),
            )
        shown = session.url_to_register
        print(f"register this webhook URL with {run['provider']}: {shown}", file=sys.stderr)
    session.prove()  # before any money moves: TunnelError (exit 3) if the path is broken


def _register(target: Target, store: StateDB, run_id: str, url: str, events: list[str]) -> bool:
    """Register the receiver's URL; one made through the provider's API is written to the
    ledger first (intent, then its id), so a killed run's registration is undone later."""
    from rehearsal import providers
    from rehearsal.ledger.states import RegistrationState

    provider = providers.webhook_registrar(target.provider)
    if target.control is not None or provider is None:
        return target.register_webhook(url, events)
    # PayMongo keeps one webhook per URL: a stable URL's webhook is adopted, its prior state
    # written down before anything changes, and given back as it was at the end.
    seq = store.registration_intent(run_id, url, RegistrationState.LOOKING)
    existing = provider.existing_webhook(url)
    if existing is None:
        store.registration_state(seq, RegistrationState.INTENT)
    else:
        store.registration_prior(seq, existing.endpoint_id, existing.status, list(existing.events))
    endpoint_id = provider.register_webhook(url, events, existing)
    store.registration_state(seq, RegistrationState.REGISTERED, endpoint_id)
    return True


def _unregister(target: Target, store: StateDB, run_id: str) -> None:
    """Undo this process's API registrations, recording each in the ledger."""
    import contextlib

    from rehearsal.ledger.registrations import remove_registrations

    with contextlib.suppress(Exception):  # cleanup retries what is left; close() tries too
        remove_registrations(run_id, target.provider, store, lambda event: None)


def _tunnel(args: RunArgs, plan: Plan) -> TunnelSpec | None:
    from rehearsal.tunnels import choose

    return choose(
        args.tunnel,
        public_url=args.public_url,
        listen=args.listen,
        plan=plan.tunnel,
        domain=args.ngrok_domain or plan.tunnel_domain,
    )


EVENTS_POLL = 2.0  # seconds between reads of a provider's events API
EVENTS_POLL_SIMULATOR = 0.1  # the simulator on this machine


def _public_path(spec: TunnelSpec | None) -> bool:
    return spec is not None and spec.mode not in ("none", "events-api")


def _events_api(spec: TunnelSpec | None) -> bool:
    return spec is not None and spec.mode == "events-api"


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


def _view(args: RunArgs) -> PlainView | RichView:
    from rehearsal.ui.view import PlainView, RichView

    reports = [p for p in (args.report_json, args.junit, args.report_md) if p is not None]
    if args.plain or args.quiet or not sys.stdout.isatty():
        return PlainView(quiet=args.quiet, reports=reports)
    return RichView(reports=reports)


def _confirm(operator: Operator) -> Callable[[ManualStep], bool]:
    def confirm(step: ManualStep) -> bool:
        return operator.confirm(f"Manual checkpoint {step.id!r}: {step.instructions} Done?")

    return confirm


def _operator_for_provider(target: Target, operator: Operator) -> None:
    """A provider that shows the operator a page (a card's 3-D Secure) shows it through
    the run's operator service."""
    from rehearsal.providers import operator_shown

    if (shown := operator_shown(target.provider)) is not None:
        shown.on_authorize = operator.authorizer()


def _sigterm_as_interrupt() -> None:
    """SIGTERM takes the same path as Ctrl-C: stop, compensate, exit 130."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
