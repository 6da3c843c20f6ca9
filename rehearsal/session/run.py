"""A run's session: the one owner of everything a run opens, on one `contextlib.ExitStack`.

`RunSession` opens the ledger, the run lock, the target, the receiver (or the router of a
matrix), the events feed, the forwarder, the public path with its webhook registration,
the view and the reports, and closes them in one fixed order whatever happens: the view
and the receiver's intake first, then the feeds, the registrations and the target (which
removes the webhooks while the tunnel still stands), the tunnel, the receiver, the reports
(passed, failed or interrupted) and the ledger last. `carry` runs one run inside a session;
the matrix (session/matrix.py) builds its own on the same session. It never decides a
verdict: the runner does.
"""

from __future__ import annotations

import signal
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from rehearsal.ledger.db import STATE_DB, StateDB, state_dir
from rehearsal.session.observe import RunObserver
from rehearsal.session.options import (
    EVENTS_POLL,
    EVENTS_POLL_SIMULATOR,
    wants_events_api,
    wants_public_path,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType

    from rehearsal.audit.forward import Forwarder
    from rehearsal.ledger.rows import RunRow
    from rehearsal.plan.model import Plan
    from rehearsal.providers.base import Authorize
    from rehearsal.receiver.endpoint import Receiver
    from rehearsal.session.options import RunArgs
    from rehearsal.session.target import Target
    from rehearsal.tunnels import TunnelSpec
    from rehearsal.tunnels.public_path import TunnelSession
    from rehearsal.ui.operator import Operator
    from rehearsal.ui.view import PlainView, RichView

# The order things close in, first to last (each a stack of its own, so a thing opened
# late can still close early): what shows and what takes in, what feeds the run, the
# target with its registrations, the public path, the receiver's server, the reports, the
# ledger, the run lock.
_LAYERS = ("view", "intake", "feeds", "target", "path", "listening", "reports", "ledger", "lock")


class RunSession:
    """`with RunSession(args) as session:` then open what the run needs through it."""

    def __init__(self, args: RunArgs) -> None:
        self.args = args
        self.folder = state_dir(args.state_dir)
        self.target: Target | None = None
        self.observer = RunObserver()  # the single run's adapter's: bound to its runner
        self._store: StateDB | None = None
        self._keep_webhook = False
        self._stack = ExitStack()
        self._layers = {name: ExitStack() for name in _LAYERS}

    def __enter__(self) -> RunSession:
        for name in reversed(_LAYERS):  # the last to close is entered first
            self._stack.enter_context(self._layers[name])
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.__exit__(kind, exc, tb)  # nothing here swallows an exception

    def ledger(self) -> StateDB:
        """The ledger, opened on first use; closed after everything else but the lock."""
        if self._store is None:
            self._store = StateDB(self.folder / STATE_DB)
            self._layers["ledger"].callback(self._store.close)
        return self._store

    def lock(self, run_id: str) -> None:
        """One process moves a run at a time: held until everything else is closed."""
        from rehearsal.ledger.runlock import RunLock

        lock = RunLock(self.folder, run_id)
        lock.acquire()
        self._layers["lock"].callback(lock.release)

    def open_target(
        self,
        provider: str,
        *,
        live: bool,
        force_simulator: bool,
        spec: TunnelSpec | None,
        simulator_process: bool = False,
        authorize: Authorize | None = None,
    ) -> Target:
        """The target, its adapter observed for this session's run (`observer`) and showing
        a 3-D Secure page through `authorize` (None: the adapter's default)."""
        from rehearsal.session.target import open_target

        self.target = open_target(
            provider,
            live=live,
            force_simulator=force_simulator,
            state_dir=self.folder,
            sim_faults=self.args.sim_faults,
            public_path=wants_public_path(spec),
            events_api=wants_events_api(spec),
            simulator_process=simulator_process,
            observer=self.observer,
            authorize=authorize,
        )
        target = self.target
        self._layers["target"].callback(lambda: target.close(keep_webhook=self._keep_webhook))
        return target

    def keep_webhook(self, keep: bool) -> None:
        """A paused run keeps its endpoint, so the provider's retries of what happens
        meanwhile reach the next `step` or `resume` (which re-points it)."""
        self._keep_webhook = keep

    def unregister_on_close(self, run_id: str) -> None:
        """Undo, before the target closes, the registrations written under `run_id`."""
        from rehearsal.session.webhooks import unregister

        target, store = self._target(), self.ledger()
        self._layers["target"].callback(unregister, target, store, run_id)

    def reports(self, write: Callable[[BaseException | None], None]) -> None:
        """`write(stopped)` once the run's resources are closed, whatever stopped it."""

        def written(
            kind: type[BaseException] | None, exc: BaseException | None, tb: object
        ) -> bool:
            write(exc)
            return False

        self._layers["reports"].push(written)

    def show(self, view: PlainView | RichView) -> PlainView | RichView:
        self._layers["view"].callback(view.stop)
        return view

    def listen(self, receiver: Receiver) -> Receiver:
        """The receiver (or router) takes no more as soon as the run ends; its server stops
        alongside the simulator's, once the public path is gone."""
        self._layers["intake"].callback(receiver.request_stop)
        self._layers["listening"].callback(receiver.stop)
        return receiver

    def forward(self, forwarder: Forwarder) -> Forwarder:
        forwarder.start()
        self._layers["feeds"].callback(forwarder.close)
        return forwarder

    def read_events(self, receiver: Receiver, since: float) -> None:
        """No receiver path: the provider's own list of events is read instead."""
        from rehearsal.providers import event_feed
        from rehearsal.receiver.feed import EventPoller

        target = self._target()
        feed = event_feed(target.provider)
        assert feed is not None  # open_target chose events-api for a declared events API
        poller = EventPoller(
            feed,
            receiver,
            since=since,
            every=EVENTS_POLL_SIMULATOR if target.simulated else EVENTS_POLL,
        )
        poller.start()
        self._layers["feeds"].callback(poller.stop)

    def public_path(
        self, spec: TunnelSpec | None, receiver: Receiver, holder: RunRow, events: list[str]
    ) -> TunnelSession:
        """The receiver's public path, registered under the run `holder` and proven by the
        signed probe before any money moves; the tunnel never outlives the session."""
        from rehearsal.session.webhooks import open_and_prove, register
        from rehearsal.tunnels.public_path import TunnelSession, probe_deadline, resolve

        target, store, run_id = self._target(), self.ledger(), holder["id"]
        target.webhook_endpoint = holder["webhook_endpoint"]  # a paused run's: re-pointed
        session = TunnelSession(
            resolve(spec, simulated=target.simulated, provider=holder["provider"]),
            receiver,
            register=lambda url: register(target, store, run_id, url, events),
            probe_within=probe_deadline(holder["timeout_scale"]),
            state_dir=self.folder,  # a tunnel left by a killed run is ended
            remote=not target.simulated,
        )
        self._layers["path"].callback(session.close)
        open_and_prove(session, holder, run_id, target, store)
        return session

    def _target(self) -> Target:
        assert self.target is not None, "open_target first"
        return self.target


def carry(
    session: RunSession,
    run: RunRow,
    plan: Plan,
    operator: Operator,
    spec: TunnelSpec | None,
    stop_after: str | None,
) -> int:
    """Carry the open run on, through the session's target, to its end or `stop_after`:
    receiver, forwarder, events feed or public path opened, then the runner. Returns the
    run's exit code; the reports are written as the session closes."""
    from rehearsal.engine.runner import Options, Runner
    from rehearsal.errors import UsageError
    from rehearsal.events import RunStarted
    from rehearsal.ledger.waits import landing_window
    from rehearsal.reports.files import ReportPaths, write_after_run
    from rehearsal.session.preflight import confirm_manual

    args, target, store, run_id = session.args, session._target(), session.ledger(), run["id"]
    paths = ReportPaths(args.report_json, args.junit, args.report_md)
    session.reports(lambda stopped: write_after_run(store, run_id, paths, stopped))
    session.unregister_on_close(run_id)
    view = session.show(view_for(args))
    operator.attach(view)  # prompts from here on are drawn by the view, never under it
    embedded = run["target_kind"] == "embedded"
    if not embedded and target.config.api_base != run["api_base"]:
        raise UsageError(
            f"run {run_id} was made against {run['api_base']}, not {target.config.api_base}"
        )
    receiver, forwarder = _intake(session, run)
    if target.delivery == "events-api":
        session.read_events(receiver, since=run["started_at"])
        tunnel = None
    else:
        events = sorted({s.expect.event for s in plan.money_steps()})
        tunnel = session.public_path(spec, receiver, run, events)
    steps = tuple((s.id, s.action) for s in plan.steps)
    view(
        RunStarted(
            run_id, plan.name, run["provider"], run["environment"], target.description, steps
        )
    )
    options = Options(
        timeout_scale=run["timeout_scale"],
        cleanup=args.cleanup,
        confirm_manual=confirm_manual(operator),
        landing_window=landing_window(
            embedded=target.simulator is not None,
            http_timeout=target.config.http_timeout,
            in_process=True,
        ),
        watch=None if tunnel is None or tunnel.spec.mode == "none" else tunnel.watch,
        watch_every=args.probe_every,
        forwarded=forward_check(forwarder),
    )
    runner = Runner(plan, target.provider, receiver.hub, store, run_id, view, options)
    session.observer.record_to(runner)
    outcome = runner.run(stop_after=stop_after)
    # Paused, not ended: keep the endpoint so the provider's retries of what happens
    # meanwhile reach the next `step` or `resume`, which re-points it at its receiver.
    ended = store.run(run_id)
    session.keep_webhook(ended is not None and ended["verdict"] is None)
    return outcome.exit_code


def _intake(session: RunSession, run: RunRow) -> tuple[Receiver, Forwarder | None]:
    """The run's receiver, with what earlier processes of the run received (and what a
    matrix parked for it) taken in again, and its forwarder (--forward-to)."""
    from rehearsal.receiver.endpoint import Receiver
    from rehearsal.receiver.router import ParkedEvents

    args, target, store, run_id = session.args, session._target(), session.ledger(), run["id"]
    forwarder = None
    if args.forward_to:  # the merchant's handler gets each new event too
        from rehearsal.audit.forward import Forwarder

        forwarder = session.forward(
            Forwarder(
                args.forward_to,
                provider=run["provider"],
                environment=run["environment"],
                store=store,
                run_id=run_id,
            )
        )
    receiver = session.listen(
        Receiver(
            target.provider.verify_webhook,
            environment=target.config.environment,
            store=store,
            run_id=run_id,
            on_new=None if forwarder is None else forwarder.submit,
        )
    )
    for row in store.deliveries(run_id):  # what earlier processes of this run received
        if row["verdict"] == "accepted" and row["payload"]:
            receiver.hub.publish(target.provider.parse_event(row["payload"].encode()))
    # One of a matrix's runs: what the matrix parked about its objects and a crash kept
    # from being routed to it is taken in now, or as settling finds its objects.
    parked = ParkedEvents(store, receiver, target.provider.parse_event, run["started_at"])
    if parked:
        parked.adopt_owned(store.steps(run_id))
        session.observer.claim_with(parked.claim)  # as settling finds its objects
    return receiver, forwarder


def record_run(
    store: StateDB, run_id: str, plan: Plan, *, name: str, path: str, target: Target, scale: float
) -> None:
    """The run in the ledger with its plan, before any money moves."""
    store.create_run(
        run_id,
        plan=name,
        plan_path=path,
        provider=target.config.provider,
        environment=target.config.environment,
        target=target.description,
        target_kind="embedded" if target.simulator is not None else "env",
        api_base=None if target.simulator is not None else target.config.api_base,
        steps=[(s.id, s.action) for s in plan.steps],
        plan_json=plan.model_dump_json(),
        timeout_scale=scale,
        http_timeout=target.config.http_timeout,
    )


def signals_as_interrupt() -> None:
    """SIGTERM, and SIGHUP (the terminal closed, the SSH session dropped) where the
    platform has it, take the same path as Ctrl-C: stop, compensate, record the verdict,
    exit 130. What is printed meanwhile may reach nobody: the views drop it
    (rehearsal.streams)."""
    from rehearsal.engine.signals import INTERRUPTS

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in INTERRUPTS:
        if signum != signal.SIGINT:
            signal.signal(signum, handler)


def view_for(args: RunArgs) -> PlainView | RichView:
    from rehearsal.ui.view import PlainView, RichView

    reports = [p for p in (args.report_json, args.junit, args.report_md) if p is not None]
    if args.plain or args.quiet or not sys.stdout.isatty():
        return PlainView(quiet=args.quiet, reports=reports)
    return RichView(reports=reports)


def forward_check(forwarder: Forwarder | None) -> Callable[[str], str | None] | None:
    """The runner's question for --forward-to: what did the handler make of this event?"""
    if forwarder is None:
        return None

    def check(event_id: str) -> str | None:
        done = forwarder.outcome(event_id, time.monotonic() + forwarder.limit + 10)
        if done is None:
            return f"at {forwarder.url} was never reached"
        return None if done.problem is None else f"at {forwarder.url} {done.problem}"

    return check
