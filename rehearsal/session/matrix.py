"""`rehearsal run PLAN... [--parallel N] [--repeat K] [--shard I/N]`: many rehearsals in one
process, through one target, one receiver (the router) and one tunnel or events poller.

Each rehearsal is a run of its own in the ledger (own id, own idempotency keys, own adapter
instance); the router stores every event under the run that owns its object. The webhook is
registered once, for the union of the plans' events. A failure settles its own run (the
runner compensates); Ctrl-C reaches every running rehearsal through its hub, each settles
what it made, and those not yet begun are closed as interrupted with nothing moved. The
exit code is the worst (highest) of the runs'.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, TextIO

from rehearsal.errors import Interrupted, UsageError
from rehearsal.events import (
    Compensated,
    Listener,
    RunEvent,
    RunFinished,
    StepFailed,
    StepInterrupted,
)
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.states import RunVerdict, StepState
from rehearsal.plan.builtin import resolve_plan_path
from rehearsal.plan.load import read_plan_file
from rehearsal.plan.matrix import Rehearsal, Shard, expand, select
from rehearsal.session.matrix_reports import Slot, write_matrix_reports
from rehearsal.session.options import RunArgs, check_report_paths, tunnel_spec

if TYPE_CHECKING:
    from rehearsal.receiver.router import Router
    from rehearsal.session.run import RunSession
    from rehearsal.session.target import Target
    from rehearsal.tunnels import TunnelSpec

MAX_PARALLEL = 64
# What a quiet PlainView prints: a failure, an interruption, a compensation, the verdict.
LOUD = (StepFailed, StepInterrupted, Compensated, RunFinished)


def wanted(args: RunArgs) -> bool:
    """Whether `run` takes the matrix path: several plans, a matrix, or its options.
    One plan with no matrix and none of them runs exactly as before."""
    if len(args.plans) > 1 or args.parallel is not None or args.repeat != 1 or args.shard:
        return True
    _, _, data = read_plan_file(resolve_plan_path(args.plan))
    return "matrix" in data


def run_matrix(args: RunArgs) -> int:
    parallel = args.parallel or 1
    if not 1 <= parallel <= MAX_PARALLEL:
        raise UsageError(f"--parallel must be between 1 and {MAX_PARALLEL}, got {parallel}")
    if args.live:
        raise UsageError(
            "a matrix (--parallel, --repeat, --shard, several plans) runs in test mode only",
            hint="rehearse live money one plan at a time: `rehearsal run PLAN --live`",
        )
    if args.timeout_scale <= 0:
        raise UsageError("--timeout-scale must be greater than 0")
    check_report_paths(args)
    shard = Shard.parse(args.shard) if args.shard else None
    found: list[Rehearsal] = []
    wanted_plans: list[str | None] = list(args.plans) or [args.plan]
    for plan in wanted_plans:
        found += expand(resolve_plan_path(plan), provider=args.provider)
    chosen = select(found, args.repeat, shard)
    names = {args.provider or r.plan.provider for r in found}
    if len(names) > 1:
        raise UsageError(
            f"these plans rehearse {', '.join(sorted(names))}: one matrix, one provider",
            hint="run each provider's plans in a `rehearsal run` of their own",
        )
    out = _Lines(sys.stdout)
    if not chosen:
        out.line(f"matrix: shard {shard} of {len(found) * args.repeat} rehearsals is empty")
        write_matrix_reports(args, None, [], 0, shard)
        return 0
    return _Matrix(args, chosen, names.pop(), parallel, shard, out).run()


class _Lines:
    """Whole lines to one stream from many threads; `prefix(name)` gives a stream whose
    lines each begin with the rehearsal's name (for the plain view of one run)."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.lock = out, threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def prefix(self, name: str) -> _Prefixed:
        return _Prefixed(self, name)


class _Prefixed:
    def __init__(self, lines: _Lines, name: str) -> None:
        self.lines, self.name, self.buffer = lines, name, ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.lines.line(f"{self.name} | {line}")
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Matrix:
    def __init__(
        self,
        args: RunArgs,
        chosen: list[Rehearsal],
        provider: str,
        parallel: int,
        shard: Shard | None,
        out: _Lines,
    ) -> None:
        self.args, self.chosen, self.provider_name = args, chosen, provider
        self.parallel, self.shard, self.out = parallel, shard, out
        self.slots: list[Slot] = []
        self.stop = threading.Event()
        self.done = {"passed": 0, "not passed": 0}
        self.done_lock = threading.Lock()
        self.router: Router | None = None

    def run(self) -> int:
        from rehearsal.engine.runner import new_run_id
        from rehearsal.session.run import RunSession, signals_as_interrupt

        args = self.args
        spec = tunnel_spec(args, self.chosen[0].plan)
        with RunSession(args) as session:
            target = session.open_target(
                self.provider_name,
                live=False,
                force_simulator=args.simulator,
                spec=spec,
                # Rehearsals at once: the built-in simulator on the machine's other core.
                simulator_process=self.parallel > 1 and len(self.chosen) > 1,
            )
            store = session.ledger()
            self.matrix_id = f"matrix-{new_run_id()}"
            session.reports(lambda stopped: self._close(store, stopped))
            self._record(target, store)
            signals_as_interrupt()
            router = self._open(session, target, store, spec)
            self.out.line(
                f"matrix {self.matrix_id}: {len(self.slots)} rehearsal(s)"
                + (f" (shard {self.shard})" if self.shard else "")
                + f", {self.parallel} at a time; target: {target.description}"
            )
            self._execute(target, store, router)
        return max((s.exit_code or 0 for s in self.slots), default=0)

    def _close(self, store: StateDB, stopped: BaseException | None) -> None:
        """Once the router has stopped: the rehearsals that never began closed, the
        reports written, the summary shown (unless a failure of ours stopped the matrix)."""
        unrouted = self.router.unrouted() if self.router is not None else 0
        self._finish_unbegun(store)
        write_matrix_reports(
            self.args, store, self.slots, unrouted, self.shard, self.matrix_id, stopped
        )
        if stopped is None or isinstance(stopped, KeyboardInterrupt):
            self._summary(unrouted)

    # --- set-up ----------------------------------------------------------------------------

    def _record(self, target: Target, store: StateDB) -> None:
        """Every rehearsal a run in the ledger, checked first (cards, operator)."""
        from rehearsal.engine.runner import new_run_id
        from rehearsal.session.preflight import preflight
        from rehearsal.session.run import record_run

        for rehearsal in self.chosen:
            if any(s.action == "manual" for s in rehearsal.plan.steps):
                raise UsageError(
                    f"{rehearsal.name}: a manual step needs an operator, and a matrix has none",
                    hint="run plans with manual steps one at a time",
                )
        for rehearsal in self.chosen:
            run_id = new_run_id()
            plan = rehearsal.plan
            preflight(plan, target.provider, has_operator=False)
            record_run(
                store,
                run_id,
                plan,
                name=rehearsal.name,
                path=str(rehearsal.path),
                target=target,
                scale=self.args.timeout_scale,
            )
            self.slots.append(Slot(rehearsal, run_id))

    def _open(
        self, session: RunSession, target: Target, store: StateDB, spec: TunnelSpec | None
    ) -> Router:
        """The router, with every rehearsal's run, reached by the events feed or through
        the public path (registered once, under the first run, for every plan's events)."""
        from rehearsal.receiver.router import Router

        router = Router(
            target.provider.verify_webhook,
            environment=target.config.environment,
            store=store,
            matrix_id=self.matrix_id,
        )
        session.listen(router)
        self.router = router
        for slot in self.slots:
            router.add_run(slot.run_id)
        holder = self.slots[0].run_id  # the registration is written down under the first run
        session.unregister_on_close(holder)
        if target.delivery == "events-api":
            session.read_events(router, since=time.time())
            return router
        events = sorted(
            {s.expect.event for slot in self.slots for s in slot.rehearsal.plan.money_steps()}
        )
        row = store.run(holder)
        assert row is not None
        session.public_path(spec, router, row, events)
        return router

    # --- the runs --------------------------------------------------------------------------

    def _execute(self, target: Target, store: StateDB, router: Router) -> None:
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="rehearsal")
        futures: dict[Future[None], Slot] = {
            pool.submit(self._one, slot, target, store, router): slot for slot in self.slots
        }
        try:
            self._collect(futures)
        except KeyboardInterrupt:
            self.stop.set()
            router.interrupt()
            self.out.line(
                "matrix: interrupted; each running rehearsal settles what it made "
                "(refunds, cancels); the rest will not begin"
            )
            while True:
                try:
                    self._collect(futures)
                    break
                except KeyboardInterrupt:
                    self.out.line("matrix: still settling; it stops by itself")
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, futures: dict[Future[None], Slot]) -> None:
        for future in as_completed(list(futures)):
            futures.pop(future)
            future.result()  # a bug of ours in the worker: raised here, not swallowed

    def _one(self, slot: Slot, target: Target, store: StateDB, router: Router) -> None:
        from rehearsal import providers
        from rehearsal.engine.runner import Options, Runner
        from rehearsal.ledger.waits import landing_window
        from rehearsal.session.observe import RunObserver
        from rehearsal.ui.view import PlainView

        if self.stop.is_set():
            return
        # Its own adapter, observed for its own run: the objects its answers name (and
        # those a flow made before it finished) are claimed with the router as they come.
        observer = RunObserver(lambda obj: router.claim_object(slot.run_id, obj), claim_made=True)
        adapter = providers.make(target.config, observer=observer)
        try:
            quiet = self.args.quiet or (len(self.slots) > 1 and not self.args.plain)
            view: Listener = PlainView(
                out=self.out.prefix(slot.rehearsal.name),
                quiet=quiet,
            )
            if quiet:
                view = loud_only(view)
            options = Options(
                timeout_scale=self.args.timeout_scale,
                cleanup=self.args.cleanup,
                landing_window=landing_window(
                    embedded=target.simulator is not None,
                    http_timeout=target.config.http_timeout,
                    in_process=True,
                ),
            )
            hub = router.runs[slot.run_id].hub
            runner = Runner(slot.rehearsal.plan, adapter, hub, store, slot.run_id, view, options)
            observer.record_to(runner)
            outcome = runner.run()
            slot.exit_code, slot.verdict = outcome.exit_code, outcome.verdict
        finally:
            adapter.close()
        self._progress(slot)

    def _progress(self, slot: Slot) -> None:
        with self.done_lock:
            self.done["passed" if slot.verdict == RunVerdict.PASSED else "not passed"] += 1
            passed, failed = self.done["passed"], self.done["not passed"]
        self.out.line(
            f"{slot.rehearsal.name} | {slot.verdict} (run {slot.run_id})\n"
            f"matrix: {passed + failed} of {len(self.slots)} done: "
            f"{passed} passed, {failed} not passed"
        )

    def _finish_unbegun(self, store: StateDB) -> None:
        """Rehearsals a Ctrl-C (or a set-up failure) kept from beginning: nothing moved."""
        for slot in self.slots:
            if slot.verdict is not None:
                continue
            row = store.run(slot.run_id)
            if row is not None and row["verdict"] is None:
                for step in slot.rehearsal.plan.steps:
                    store.update_step(slot.run_id, step.id, state=StepState.SKIPPED)
                store.finish_run(
                    slot.run_id,
                    RunVerdict.INTERRUPTED,
                    Interrupted.exit_code,
                    "interrupted before it began; nothing moved",
                )
            slot.verdict, slot.exit_code = RunVerdict.INTERRUPTED, Interrupted.exit_code

    def _summary(self, unrouted: int) -> None:
        width = max(len(s.rehearsal.name) for s in self.slots)
        self.out.line(f"{'rehearsal':<{width}}  verdict       exit  run")
        for s in self.slots:
            self.out.line(
                f"{s.rehearsal.name:<{width}}  {s.verdict or '?':<12}  {s.exit_code or 0:>4}  "
                f"{s.run_id}"
            )
        passed = sum(1 for s in self.slots if s.verdict == RunVerdict.PASSED)
        self.out.line(
            f"matrix {self.matrix_id}: {passed} of {len(self.slots)} passed"
            + (f"; {unrouted} event(s) no run owned (ignored)" if unrouted else "")
        )


def loud_only(view: Listener) -> Listener:
    """A quiet PlainView prints only the events in LOUD (its `force=True` lines) and
    formats every other line before dropping it: a few percent of a matrix's time, so a
    quiet matrix hands it only these (tests/test_matrix_view.py holds the two together)."""

    def emit(event: RunEvent) -> None:
        if isinstance(event, LOUD):
            view(event)

    return emit
