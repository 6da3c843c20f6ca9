"""The runner: executes a plan step by step and gives each step, then the run, its verdict.

Each step goes to the handler of its kind (engine/actions/): a money step writes its intent
(idempotency key, amount) to the state database, makes the call, then waits, with the step's
own deadline, for the signed webhook about this run's object and cross-checks the object
through the provider's API (engine/confirm.py). The runner writes what each step showed and
the run's verdict. When a run does not pass, it refunds what it charged and cancels what it
subscribed (unless told not to), and reports what it did.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime

from rehearsal.engine.actions import action_for
from rehearsal.engine.context import Options, StepContext
from rehearsal.engine.failpoints import failpoint as _failpoint
from rehearsal.engine.replay import Replayer
from rehearsal.engine.signals import signals_deferred
from rehearsal.errors import (
    AssertionFailed,
    Interrupted,
    ProviderError,
    RehearsalError,
    UsageError,
)
from rehearsal.events import (
    ApiCalled,
    Compensated,
    Listener,
    Money,
    RunEvent,
    RunFinished,
    StepFailed,
    StepInterrupted,
    StepPassed,
    StepSkipped,
    StepStarted,
)
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import StepRow
from rehearsal.ledger.states import (
    EXPECTED_UNAVAILABLE,
    INTERNAL_ERROR_EXIT,
    CallOutcome,
    RunVerdict,
    StepState,
)
from rehearsal.plan.model import Plan, Step
from rehearsal.providers.base import ApiCall, Provider, ProviderObject
from rehearsal.receiver.hub import EventHub

# Imported from here by the commands, the matrix and the reports.
__all__ = [
    "EXPECTED_UNAVAILABLE",
    "RUN_ID_ALPHABET",
    "RUN_ID_RANDOM_CHARS",
    "Options",
    "Outcome",
    "Replayer",
    "Runner",
    "new_run_id",
    "step_done",
]


RUN_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lowercase: 5 bits a character
RUN_ID_RANDOM_CHARS = 20  # 100 random bits


def new_run_id() -> str:
    """A sortable, readable run id with 100 random bits: `20261123-093713-` then 20 base32
    characters. Idempotency keys are derived from it (`rh-{run_id}-{step}`), so two runs
    started in the same second against one account must never share one: with 24 bits,
    two CI jobs collided with probability 2^-24 and replayed each other's payments."""
    random = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(RUN_ID_RANDOM_CHARS))
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{random}"


def check_plan(plan: Plan, provider: Provider, *, has_operator: bool) -> None:
    """What would stop the run halfway, refused before any money moves: the plan's cards
    and their variables, an operator where a payment or a manual step needs one. A function
    of the plan and the adapter: preflight builds no runner (session/preflight.py)."""
    if provider.needs_operator and not has_operator:
        raise UsageError(
            f"{provider.name} {provider.environment} payments need an operator "
            "to authorize them in a browser (3-D Secure), and there is no terminal",
            hint="run it in a terminal: the authorization URL and a QR code are shown there",
        )
    for step in plan.steps:
        action_for(step).preflight(plan, provider, step, has_operator=has_operator)


def step_done(row: StepRow) -> bool:
    """A step a later process must not run again: it passed, or it was skipped as the plan
    expects (a PayMongo test-mode refund marked `unavailable_in_test`)."""
    if row["state"] == StepState.PASSED:
        return True
    return row["state"] == StepState.SKIPPED and row["confirmed_by"] == EXPECTED_UNAVAILABLE


@dataclass(frozen=True)
class Outcome:
    verdict: RunVerdict
    exit_code: int
    message: str | None


class Runner:
    def __init__(
        self,
        plan: Plan,
        provider: Provider,
        hub: EventHub | None,
        store: StateDB,
        run_id: str,
        emit: Listener,
        options: Options,
    ) -> None:
        self.plan, self.provider, self.hub, self.store = plan, provider, hub, store
        self.run_id, self.emit, self.options = run_id, emit, options
        self.payments: dict[str, ProviderObject] = {}  # charge step id -> latest payment
        self.refunded: dict[str, int] = {}
        self.subscriptions: dict[str, ProviderObject] = {}
        self._step: str | None = None
        self._began = time.monotonic()
        self._resumed: set[str] = set()
        self._baselines: dict[str, int | None] = {}
        self._notes: dict[str, str] = {}  # step id -> what the report adds to its outcome

    # --- the run ----------------------------------------------------------------------------

    def preflight(self) -> None:
        """Refuse, before any money moves, what would stop the run halfway."""
        check_plan(self.plan, self.provider, has_operator=self.options.confirm_manual is not None)

    def run(self, stop_after: str | None = None) -> Outcome:
        """Run the steps not yet passed (all of them in a new run), or up to `stop_after`."""
        started = time.monotonic()
        outcome = Outcome(RunVerdict.PASSED, 0, None)
        ledger = {s["step_id"]: s for s in self.store.steps(self.run_id)}
        remaining = [s for s in self.plan.steps if not step_done(ledger[s.id])]
        if stop_after is not None and stop_after not in {s.id for s in remaining}:
            # Never "up to a step that is done": that would run the whole rest of the plan.
            raise UsageError(f"step {stop_after!r} of run {self.run_id} is already done")
        # Steps a previous process began: no process was listening for their webhooks.
        self._resumed = {s.id for s in remaining if ledger[s.id]["state"] != StepState.PENDING}
        self._baselines = {k: v["baseline"] for k, v in ledger.items()}
        try:
            self.preflight()
            context = self._context()
            self._restore(ledger, context)
            while remaining:
                step = remaining.pop(0)
                self._run_step(step, context)
                if step.id == stop_after and remaining:
                    self.emit(
                        RunFinished(
                            self.run_id,
                            RunVerdict.PAUSED,
                            time.monotonic() - started,
                            0,
                            f"paused after {step.id!r}; next: {remaining[0].id!r}",
                        )
                    )
                    return Outcome(RunVerdict.PAUSED, 0, None)
        except KeyboardInterrupt:
            outcome = Outcome(RunVerdict.INTERRUPTED, Interrupted.exit_code, "interrupted")
            if self._step is not None:
                self.store.update_step(
                    self.run_id, self._step, state=StepState.INTERRUPTED, ended_at=time.time()
                )
                self.emit(StepInterrupted(self._step, time.monotonic() - self._began))
        except RehearsalError as exc:
            verdict = RunVerdict.FAILED if isinstance(exc, AssertionFailed) else RunVerdict.ERROR
            outcome = Outcome(verdict, exc.exit_code, exc.message)
            self._step_failed(exc.message)
        except Exception as exc:  # a bug of ours: still compensate, then say where to look
            log = self._log_internal_error(exc)
            message = f"internal error ({type(exc).__name__}); details in {log}"
            outcome = Outcome(RunVerdict.INTERNAL_ERROR, INTERNAL_ERROR_EXIT, message)
            self._step_failed(message)
        self._step = None
        for step in remaining if outcome.verdict != RunVerdict.PASSED else []:
            self.emit(StepSkipped(step.id, "an earlier step did not pass"))
            self.store.update_step(self.run_id, step.id, state=StepState.SKIPPED)
        # --no-cleanup: move nothing, but read the books; either way, a run that leaves
        # money, a subscription or an unknown outcome is not "passed".
        passed = outcome.verdict == RunVerdict.PASSED
        settled = self.compensate(passed) if self.options.cleanup else self.reconcile()
        if not settled:
            outcome = self._unsettled(outcome)
        self.store.finish_run(self.run_id, outcome.verdict, outcome.exit_code, outcome.message)
        self.emit(
            RunFinished(
                self.run_id,
                outcome.verdict,
                time.monotonic() - started,
                outcome.exit_code,
                outcome.message,
                self._totals(),
            )
        )
        return outcome

    def _unsettled(self, outcome: Outcome) -> Outcome:
        """Never strand money quietly: a rehearsal that passed but could not settle is not
        "passed"; it exits as a provider error and says how to finish the job."""
        unsettled = (
            "money, a subscription or an unknown outcome is left (see above); settle it "
            f"with `rehearsal cleanup {self.run_id}`"
        )
        if outcome.verdict == RunVerdict.PASSED:
            return Outcome(
                RunVerdict.UNSETTLED, ProviderError.exit_code, f"passed, but {unsettled}"
            )
        return Outcome(outcome.verdict, outcome.exit_code, f"{outcome.message}; {unsettled}")

    def _totals(self) -> Money:
        from rehearsal.ledger.totals import run_totals

        m = run_totals(self.store, self.run_id)
        return Money(
            self.plan.currency,
            m["charged"],
            m["refunded"],
            m["outstanding"],
            tuple(m["active_subscriptions"]),
        )

    def _step_failed(self, message: str) -> None:
        if self._step is None:
            return
        self.emit(StepFailed(self._step, time.monotonic() - self._began, message))
        self.store.update_step(
            self.run_id, self._step, state=StepState.FAILED, message=message, ended_at=time.time()
        )

    def _log_internal_error(self, exc: Exception) -> str:
        """The traceback goes to a log file in the state folder, never to the terminal."""
        import traceback

        folder = self.store.path.parent / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.run_id}.log"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {datetime.now().isoformat()} step {self._step!r}\n")
            f.write("".join(traceback.format_exception(exc)))
        return str(path)

    def _restore(self, ledger: dict[str, StepRow], context: StepContext) -> None:
        """Rebuild what earlier steps produced from the ledger and the provider's API."""
        for step in self.plan.steps:
            row = ledger[step.id]
            if row["state"] != StepState.PASSED:
                continue
            action_for(step).restore(context, step, row)

    def _run_step(self, step: Step, context: StepContext) -> None:
        _failpoint("before-step", step.id)
        self._step = step.id
        self._began = began = time.monotonic()
        action = action_for(step)
        expect = action.expect(step)
        timeout = None if expect is None else expect.within * self.options.timeout_scale
        expects = None if expect is None else expect.event
        self.emit(
            StepStarted(step.id, step.action, timeout, action.describe(step, self.plan), expects)
        )
        self.store.update_step(self.run_id, step.id, started_at=time.time(), ended_at=None)
        passed = action.perform(context, step)
        if passed is None:  # skipped as the plan expects: the handler wrote and said so
            self._step = None
            return
        obj, event, by = passed.obj, passed.event, passed.confirmed_by
        if obj is None:  # the operator's word; the step stays current until the next begins
            self.store.update_step(
                self.run_id,
                step.id,
                state=StepState.PASSED,
                confirmed_at=time.time(),
                ended_at=time.time(),
                confirmed_by=by,
            )
            self.emit(StepPassed(step.id, time.monotonic() - began, None, None, by))
            return
        note = self._notes.pop(step.id, None)
        self.store.update_step(
            self.run_id,
            step.id,
            state=StepState.PASSED,
            confirmed_at=time.time(),
            ended_at=time.time(),
            confirmed_by=by,
            event_id=event.event_id if event else None,
            status=obj.status,
            **({"message": note} if note else {}),
        )
        self.emit(StepPassed(step.id, time.monotonic() - began, obj.id, obj.status, by, note))
        self._step = None

    def _context(self) -> StepContext:
        """What the step handlers see of this run: the runner's own state, shared."""
        return StepContext(
            self.plan,
            self.provider,
            self.hub,
            self.store,
            self.run_id,
            self.emit,
            self.options,
            self.payments,
            self.refunded,
            self.subscriptions,
            self._resumed,
            self._baselines,
            self._notes,
        )

    # What the adapter's observer (session/observe.py) hands the run it serves.

    def made(self, obj: ProviderObject) -> None:
        """The step's call made `obj` and goes on (PayMongo's subscription awaits the
        authentication of its first invoice): the ledger knows it now, so if the run dies
        while waiting, cleanup settles it (cancels an incomplete subscription)."""
        step_id = self._step
        if step_id is None:
            return
        self.store.update_step(
            self.run_id,
            step_id,
            outcome=CallOutcome.ANSWERED,
            object_kind=obj.kind,
            object_id=obj.id,
            status=obj.status,
        )
        self.store.observe(self.run_id, obj, step_id)
        _failpoint("after-made", step_id)

    def sending(self, method: str, path: str) -> None:
        # The last attempt of a call that may move money bounds when it can land (settle);
        # a GET moves none, nothing reads its attempt back, and its answer (or that none
        # came) is in api_calls: not written, one ledger transaction fewer per read.
        if method != "GET":
            self.store.record_send(self.run_id, self._step, method, path)

    def called(self, call: ApiCall) -> None:
        self.store.record_call(self.run_id, self._step, call)
        self.emit(ApiCalled(self._step, call))

    # --- compensation -----------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Read what this run left at the provider into the ledger; move nothing. True when
        nothing is left."""
        from rehearsal.ledger.settle import settle
        from rehearsal.ledger.waits import Landing

        self._step = None
        with signals_deferred():
            landing = Landing(self.options.landing_window, wait=False)
            result = settle(
                self.run_id, self.provider, self.store, lambda e: None, landing, act=False
            )
            return result.settled

    def compensate(self, passed: bool = False) -> bool:
        """Refund what this run charged and cancel what it subscribed, from the ledger.
        True when nothing is left outstanding. `passed`: the run passed, so this settles
        the rehearsal's own money rather than compensating for a failure."""
        from rehearsal.ledger.settle import settle
        from rehearsal.ledger.waits import Landing

        def emit(event: RunEvent) -> None:
            if isinstance(event, Compensated):
                event = replace(event, settling=passed, currency=self.plan.currency)
            self.emit(event)

        self._step = None
        with signals_deferred():
            landing = Landing(self.options.landing_window, wait=False)
            return settle(self.run_id, self.provider, self.store, emit, landing).settled
