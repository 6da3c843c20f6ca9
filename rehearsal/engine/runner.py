"""The runner: executes a plan step by step and asserts each transition two ways.

For every money step it writes the intent (idempotency key, amount) to the state database,
makes the call, then waits, with the step's own deadline, for the signed webhook about
this run's object, and cross-checks the object through the provider's API. On a timeout it
asks the API whether the state was reached, so "the webhook was lost" and "the transition
never happened" read differently. When a run does not pass, it refunds what it charged and
cancels what it subscribed (unless told not to), and reports what it did.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from types import FrameType
from typing import Any

from rehearsal.amounts import money
from rehearsal.errors import (
    AssertionFailed,
    Interrupted,
    ProviderError,
    RehearsalError,
    SafetyRefusal,
    UsageError,
)
from rehearsal.events import (
    ApiCalled,
    Awaiting,
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
    WebhookArrived,
    event_name,
)
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import StepRow
from rehearsal.ledger.states import (
    INTERNAL_ERROR_EXIT,
    CallOutcome,
    RunVerdict,
    StepState,
)
from rehearsal.plan.model import (
    AwaitRenewalStep,
    CancelStep,
    ChargeStep,
    ManualStep,
    Plan,
    RefundStep,
    Step,
    SubscribeStep,
)
from rehearsal.providers.base import (
    ApiCall,
    FeatureUnavailable,
    NormalizedEvent,
    ObjectKind,
    Provider,
    ProviderObject,
)
from rehearsal.providers.keys import step_key
from rehearsal.receiver.endpoint import EventHub

RESUME_GRACE = 1.0  # seconds a resumed step waits for a retried webhook the API already confirms
API_POLL = 0.5  # seconds between API checks while an optional webhook may still come

DEFAULT_STATUS = {
    "payment.succeeded": "succeeded",
    "payment.failed": "failed",
    "subscription.created": "active",
    "subscription.renewed": "active",
    "subscription.cancelled": "cancelled",
}

Check = Callable[[ProviderObject], str | None]


RUN_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lowercase: 5 bits a character
RUN_ID_RANDOM_CHARS = 20  # 100 random bits


def new_run_id() -> str:
    """A sortable, readable run id with 100 random bits: `20261123-093713-` then 20 base32
    characters. Idempotency keys are derived from it (`rh-{run_id}-{step}`), so two runs
    started in the same second against one account must never share one: with 24 bits,
    two CI jobs collided with probability 2^-24 and replayed each other's payments."""
    random = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(RUN_ID_RANDOM_CHARS))
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{random}"


class Replayer:
    """Sends a step's money call again exactly as the runner sent it (same parameters, same
    key), for `cleanup --replay` where the provider cannot look a key up: within its
    idempotency window the provider answers with what the first call made."""

    def __init__(self, plan: Plan, provider: Provider) -> None:
        self.plan, self.provider = plan, provider

    def __call__(self, row: StepRow) -> ProviderObject:
        step = next(s for s in self.plan.steps if s.id == row["step_id"])
        key = row["idempotency_key"]
        assert key == step_key(row["run_id"], step.id), "replays only the runner's own keys"
        if isinstance(step, RefundStep) and not row["awaited_object"]:
            raise UsageError(f"step {step.id!r} has no recorded payment to replay against")
        if not isinstance(step, ChargeStep | SubscribeStep | RefundStep):
            raise UsageError(f"step {step.id!r} ({step.action}) cannot be replayed")
        return money_call(self.plan, self.provider, step, key, payment_id=row["awaited_object"])


def money_call(
    plan: Plan,
    provider: Provider,
    step: ChargeStep | SubscribeStep | RefundStep,
    key: str,
    *,
    card: str | None = None,
    payment_id: str | None = None,
) -> ProviderObject:
    """The provider call a money step makes, with exactly these parameters: the runner sends
    it, and `cleanup --replay` sends it again unchanged (a different body under the same
    key is refused as a conflict). `card`: already resolved; `payment_id`: a refund's."""
    if isinstance(step, RefundStep):
        assert payment_id is not None
        return provider.refund(
            idempotency_key=key, payment_id=payment_id, amount=step.amount, reason=step.reason
        )
    card = card or resolve_card(plan, provider, step.card)
    currency = step.currency or plan.currency
    if isinstance(step, ChargeStep):
        return provider.create_payment(
            idempotency_key=key, amount=step.amount, currency=currency, card=card
        )
    return provider.subscribe(
        idempotency_key=key,
        amount=step.amount,
        currency=currency,
        card=card,
        interval=step.interval,
    )


def resolve_card(plan: Plan, provider: Provider, card: str | None) -> str:
    """A step's card (or the plan's) to send: a test-card name, or a token from env."""
    name = card or plan.card
    if name.startswith("env:"):
        var = name.removeprefix("env:")
        value = os.environ.get(var)
        if not value:
            raise UsageError(
                f"the plan's card comes from ${var}, which is not set",
                hint=f"export {var} with the payment method token of your card",
            )
        return provider.resolve_card(value)
    return provider.resolve_card(name)


def check_plan(plan: Plan, provider: Provider, *, has_operator: bool) -> None:
    """What would stop the run halfway, refused before any money moves: the plan's cards
    and their variables, an operator where a payment or a manual step needs one."""
    if provider.needs_operator and not has_operator:
        raise UsageError(
            f"{provider.name} {provider.environment} payments need an operator "
            "to authorize them in a browser (3-D Secure), and there is no terminal",
            hint="run it in a terminal: the authorization URL and a QR code are shown there",
        )
    for step in plan.steps:
        if isinstance(step, ChargeStep | SubscribeStep):
            resolve_card(plan, provider, step.card)
        if isinstance(step, ManualStep) and not has_operator:
            raise UsageError(
                f"step {step.id!r} is a manual checkpoint and needs an operator",
                hint="run this plan in a terminal, or use a plan without manual steps",
            )


EXPECTED_UNAVAILABLE = "expected-unavailable"  # confirmed_by of a step skipped as planned
# A refund step marked `unavailable_in_test` that the test-mode account refunded after all.
TEST_MODE_REFUNDED = "refunded in test mode"


def refund_state(payment: ProviderObject, refund_id: str) -> str | None:
    """A refund's status as its payment lists it: None when it is not listed; `succeeded`
    when listed by a provider that lists ids only (MintCash lists a refund once done)."""
    if refund_id not in payment.refund_ids:
        return None
    return dict(payment.refund_statuses).get(refund_id, "succeeded")


def step_done(row: StepRow) -> bool:
    """A step a later process must not run again: it passed, or it was skipped as the plan
    expects (a PayMongo test-mode refund marked `unavailable_in_test`)."""
    if row["state"] == StepState.PASSED:
        return True
    return row["state"] == StepState.SKIPPED and row["confirmed_by"] == EXPECTED_UNAVAILABLE


@dataclass
class Options:
    timeout_scale: float = 1.0
    cleanup: bool = True
    confirm_manual: Callable[[ManualStep], bool] | None = None
    # Seconds after its last attempt a call with no answer may still land (Target.landing);
    # None: the simulator that received it runs in this process and may still finish it.
    landing_window: float | None = None
    # Called every `watch_every` seconds of a long webhook wait: the tunnel's re-probe. It
    # raises (a TunnelError) when the path to the receiver is gone for good.
    watch: Callable[[], None] | None = None
    watch_every: float = 15.0
    # --forward-to: what the merchant's handler made of an event (None: acknowledged in
    # time); a step whose event it refused or answered too slowly fails (forward.py).
    forwarded: Callable[[str], str | None] | None = None


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
            self._restore(ledger)
            while remaining:
                step = remaining.pop(0)
                self._run_step(step)
                if step.id == stop_after and remaining:
                    self.emit(
                        RunFinished(
                            self.run_id,
                            "paused",
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
            # Never strand money quietly: a rehearsal that passed but could not settle is
            # not "passed"; it exits as a provider error and says how to finish the job.
            unsettled = (
                "money, a subscription or an unknown outcome is left (see above); settle it "
                f"with `rehearsal cleanup {self.run_id}`"
            )
            if outcome.verdict == RunVerdict.PASSED:
                outcome = Outcome(
                    RunVerdict.UNSETTLED, ProviderError.exit_code, f"passed, but {unsettled}"
                )
            else:
                outcome = Outcome(
                    outcome.verdict, outcome.exit_code, f"{outcome.message}; {unsettled}"
                )
        self.store.finish_run(self.run_id, outcome.verdict, outcome.exit_code, outcome.message)
        self.emit(
            RunFinished(
                self.run_id,
                outcome.verdict,
                time.monotonic() - started,
                outcome.exit_code,
                outcome.message,
                self._money(),
            )
        )
        return outcome

    def _money(self) -> Money:
        from rehearsal.ledger.settle import money

        m = money(self.store, self.run_id)
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

    def _restore(self, ledger: dict[str, StepRow]) -> None:
        """Rebuild what earlier steps produced from the ledger and the provider's API."""
        for step in self.plan.steps:
            row = ledger[step.id]
            if row["state"] != StepState.PASSED:
                continue
            object_id, amount = row["object_id"], row["amount"]
            if isinstance(step, ChargeStep):
                assert object_id is not None, f"step {step.id} passed with no payment"
                self.payments[step.id] = self.provider.retrieve("payment", object_id)
            elif isinstance(step, RefundStep):
                assert amount is not None, f"step {step.id} passed with no amount"
                self.refunded[step.payment] = self.refunded.get(step.payment, 0) + amount
            elif isinstance(step, SubscribeStep):
                assert object_id is not None, f"step {step.id} passed with no subscription"
                self.subscriptions[step.id] = self.provider.retrieve("subscription", object_id)

    def _run_step(self, step: Step) -> None:
        _failpoint("before-step", step.id)
        self._step = step.id
        self._began = began = time.monotonic()
        timeout = None if isinstance(step, ManualStep) else step.expect.within * self.scale
        expects = None if isinstance(step, ManualStep) else step.expect.event
        self.emit(StepStarted(step.id, step.action, timeout, self._describe(step), expects))
        self.store.update_step(self.run_id, step.id, started_at=time.time(), ended_at=None)
        if isinstance(step, ManualStep):
            confirm = self.options.confirm_manual
            assert confirm is not None  # preflight refused the run otherwise
            if not confirm(step):
                raise AssertionFailed(
                    f"step {step.id!r}: the operator did not confirm: {step.instructions}"
                )
            self.store.update_step(
                self.run_id,
                step.id,
                state=StepState.PASSED,
                confirmed_at=time.time(),
                ended_at=time.time(),
                confirmed_by="operator",
            )
            self.emit(StepPassed(step.id, time.monotonic() - began, None, None, "operator"))
            return
        try:
            obj, event = self._money_step(step)
        except FeatureUnavailable as exc:
            if not self._expected_unavailable(step, exc):
                raise
            return
        by = "webhook+api" if event is not None else "api"  # api only: a finding, see _await
        self._observe(step, obj)
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

    def _observe(self, step: Step, obj: ProviderObject) -> None:
        """Record what the API showed, and a subscription's own payments as they appear."""
        self.store.observe(self.run_id, obj, None if isinstance(step, RefundStep) else step.id)
        if isinstance(step, SubscribeStep | AwaitRenewalStep):
            owner = step.id if isinstance(step, SubscribeStep) else step.subscription
            payments = self.provider.subscription_payments(obj.id)
            for payment in payments:
                self.store.observe(self.run_id, payment, owner)
            if isinstance(step, AwaitRenewalStep):
                # The first period, then one payment per renewal step so far: one more is a
                # second charge (a retried clock advance that renewed twice).
                renewals = [
                    s
                    for s in self.plan.steps
                    if isinstance(s, AwaitRenewalStep) and s.subscription == owner
                ]
                expected = 2 + [s.id for s in renewals].index(step.id)
                charged = [p for p in payments if p.status not in ("failed",)]
                if len(charged) > expected:
                    raise AssertionFailed(
                        f"step {step.id!r}: subscription {obj.id} has {len(charged)} payments "
                        f"(expected {expected}): it renewed more than once"
                    )

    def _call(self, step_id: str, call: Callable[[], ProviderObject]) -> ProviderObject:
        """A money call. Its outcome stays "intent" (unknown) unless the provider answered:
        an answer is recorded by _called, a 4xx refusal as refused. Whatever else stops it
        (retries exhausted after the work was done, a timeout, Ctrl-C) leaves it unknown,
        with the time this process gave up, for the settle engine to resolve."""
        try:
            return call()
        except ProviderError as exc:
            from rehearsal.ledger.settle import refused

            if refused(exc):
                self.store.update_step(self.run_id, step_id, outcome=CallOutcome.REFUSED)
            else:
                self.store.update_step(self.run_id, step_id, gave_up_at=time.time())
            raise
        except BaseException:
            self.store.update_step(self.run_id, step_id, gave_up_at=time.time())
            raise

    @property
    def scale(self) -> float:
        return self.options.timeout_scale

    # --- money steps ------------------------------------------------------------------------

    def _money_step(self, step: Step) -> tuple[ProviderObject, NormalizedEvent | None]:
        key = step_key(self.run_id, step.id)
        if isinstance(step, ChargeStep):
            card = self._card(step.card)
            self._intent(step.id, key, step.amount)
            called = time.time()
            obj = self._call(
                step.id, lambda: money_call(self.plan, self.provider, step, key, card=card)
            )
            self._called(step.id, obj)
            self.payments[step.id] = obj
            event, final = self._await(
                step, "payment", obj.id, called, self._payment_check(step, step.amount, 0)
            )
            self.payments[step.id] = final
            return final, event
        if isinstance(step, RefundStep):
            return self._refund_step(step, key)
        if isinstance(step, SubscribeStep):
            card = self._card(step.card)
            self._intent(step.id, key, step.amount)
            called = time.time()
            sub = self._call(
                step.id, lambda: money_call(self.plan, self.provider, step, key, card=card)
            )
            self._called(step.id, sub)
            self.subscriptions[step.id] = sub
            event, final = self._await(
                step, "subscription", sub.id, called, self._status_check(step, step.amount)
            )
            self.subscriptions[step.id] = final
            return final, event
        if isinstance(step, AwaitRenewalStep):
            sub = self.subscriptions[step.subscription]
            before = self._baselines.get(step.id)
            if before is None:
                before = sub.renewals
            self._intent(step.id, None, sub.amount)
            self.store.update_step(self.run_id, step.id, baseline=before)
            called = time.time()
            renewed = step.id in self._resumed and (
                self.provider.retrieve("subscription", sub.id).renewals > before
            )
            if step.advance_clock and self.provider.can_advance_clock and not renewed:
                self.provider.advance_clock(sub.id, idempotency_key=key)
            event, final = self._await(
                step,
                "subscription",
                sub.id,
                called,
                self._status_check(step, sub.amount),
                lambda e: (
                    e.object is not None
                    and (e.object.renewals > before or e.type != "subscription.renewed")
                ),
            )
            self.subscriptions[step.subscription] = final
            return final, event
        assert isinstance(step, CancelStep)
        sub = self.subscriptions[step.subscription]
        self._intent(step.id, None, None)
        called = time.time()
        cancelled = self.provider.cancel(subscription_id=sub.id, reason=step.reason)
        self._called(step.id, cancelled)
        self.subscriptions[step.subscription] = cancelled
        event, final = self._await(
            step, "subscription", sub.id, called, self._status_check(step, sub.amount)
        )
        self.subscriptions[step.subscription] = final
        return final, event

    def _refund_step(
        self, step: RefundStep, key: str
    ) -> tuple[ProviderObject, NormalizedEvent | None]:
        """Refund, then confirm through the refund itself: its webhook (the payment, listing
        the refund) shows it succeeded, and so do the refund resource and the payment's API.
        A refund may be created `pending` and settle later (PayMongo); one that ends
        `failed` fails the step, whichever event or answer shows it."""
        payment = self.payments[step.payment]
        left = payment.amount - self.refunded.get(step.payment, 0)
        amount = step.amount or left
        self._intent(step.id, key, amount, about=payment.id)
        called = time.time()
        refund = self._call(
            step.id,
            lambda: money_call(self.plan, self.provider, step, key, payment_id=payment.id),
        )
        self._called(step.id, refund)
        if refund.status == "failed":
            raise AssertionFailed(f"step {step.id!r}: refund {refund.id} failed at once")
        self.refunded[step.payment] = self.refunded.get(step.payment, 0) + amount
        total = self.refunded[step.payment]

        def failed(e: NormalizedEvent) -> str | None:
            if e.object is None or refund_state(e.object, refund.id) != "failed":
                return None
            return f"refund {refund.id} failed"

        event, final = self._await(
            step,
            "payment",
            payment.id,
            called,
            self._refund_check(step, payment.amount, total, refund.id),
            lambda e: e.object is not None and refund_state(e.object, refund.id) == "succeeded",
            fails=failed,
        )
        self.payments[step.payment] = final
        settled = self.provider.retrieve("refund", refund.id)
        if settled.status != "succeeded":
            raise AssertionFailed(
                f"step {step.id!r}: the payment lists refund {refund.id} as succeeded, but the "
                f"refund itself is {settled.status!r}"
            )
        history = (
            "succeeded" if refund.status == "succeeded" else f"{refund.status}, then succeeded"
        )
        note = f"refund {refund.id} {history}"
        if step.unavailable_in_test and self.provider.environment == "test":
            note = (
                f"{TEST_MODE_REFUNDED}: the plan expects the documented refusal "
                f"(unavailable_in_test); {note}"
            )
        self._notes[step.id] = note
        return final, event

    def _await(
        self,
        step: Step,
        kind: ObjectKind,
        object_id: str,
        called: float,
        check: Check,
        extra: Callable[[NormalizedEvent], bool] | None = None,
        fails: Callable[[NormalizedEvent], str | None] | None = None,
    ) -> tuple[NormalizedEvent | None, ProviderObject]:
        """The step's webhook about `object_id` (of the plan's type, and `extra`), checked,
        then the API's word on the object, checked. `fails`: why an event about the object,
        whatever its type, shows the transition failed (the step fails at once), or None."""
        assert not isinstance(step, ManualStep)
        expected = step.expect.event
        within = step.expect.within * self.scale

        def match(e: NormalizedEvent) -> bool:
            if e.object is None or e.object.id != object_id:
                return False
            if fails is not None and fails(e) is not None:
                return True
            return e.type == expected and (extra is None or extra(e))

        assert self.hub is not None, "a runner that waits needs a receiver's hub"
        if step.id in self._resumed and check(self.provider.retrieve(kind, object_id)) is None:
            # Resumed, and the API already shows the transition: its webhook went to a process
            # that is gone. Give a retried delivery a short grace, not the whole deadline.
            within = min(within, RESUME_GRACE * self.scale)
        self.emit(Awaiting(step.id, expected, object_id, within, max(0.0, time.time() - called)))
        if step.expect.webhook == "optional":
            # The provider may send no event for this (PayMongo: cancellation). Take the
            # webhook if it comes, else the API's word as soon as it shows the transition.
            confirmed = self._poll_api(kind, object_id, check, match, called + within)
            if confirmed is not None:
                return None, confirmed
        self.store.update_step(
            self.run_id, step.id, deadline_at=called + within, awaited_object=object_id
        )
        got = self._wait(match, time.monotonic() + max(0.0, called + within - time.time()))
        if got is None:
            api = self.provider.retrieve(kind, object_id)
            problem = check(api)
            if problem is None and step.id in self._resumed:
                # This step began in a process that is gone; its webhook may have come while
                # nobody listened. The API confirms the transition; the report says "api".
                return None, api
            verdict = (
                f"the API shows {kind} {object_id} as {api.status!r}: the state was "
                "reached but the webhook never arrived (lost or not delivered)"
                if problem is None
                else f"the API shows {problem}: the transition did not happen"
            )
            raise AssertionFailed(
                f"step {step.id!r}: no {expected} webhook for {object_id} within {within:g}s; "
                f"{verdict}"
            )
        arrived, event = got
        latency = max(0.0, (arrived - called) * 1000)
        self.emit(
            WebhookArrived(
                step.id, event.type, event.event_id, object_id, latency, event.provider_type
            )
        )
        self.store.update_step(self.run_id, step.id, event_id=event.event_id, latency_ms=latency)
        assert event.object is not None
        if fails is not None and (why := fails(event)):
            raise AssertionFailed(
                f"step {step.id!r}: {why}: the {event_name(event.type, event.provider_type)} "
                f"webhook for {object_id} says so"
            )
        if problem := check(event.object):
            raise AssertionFailed(
                f"step {step.id!r}: the {expected} webhook for {object_id} shows {problem}"
            )
        if self.options.forwarded is not None and (why := self.options.forwarded(event.event_id)):
            raise AssertionFailed(
                f"step {step.id!r}: your handler {why} for the "
                f"{event_name(event.type, event.provider_type)} event {event.event_id}"
            )
        api = self.provider.retrieve(kind, object_id)
        if problem := check(api):
            raise AssertionFailed(
                f"step {step.id!r}: the webhook said {expected} but the API shows {problem}"
            )
        return event, api

    def _poll_api(
        self,
        kind: ObjectKind,
        object_id: str,
        check: Check,
        match: Callable[[NormalizedEvent], bool],
        deadline: float,
    ) -> ProviderObject | None:
        """The object once the API shows the transition; None when a matching webhook came
        first, or at the deadline (`deadline` on the time.time() clock)."""
        assert self.hub is not None
        while True:
            left = deadline - time.time()
            if self.hub.wait_for(match, time.monotonic() + min(API_POLL, left)) is not None:
                return None  # the webhook came: the usual path checks it
            api = self.provider.retrieve(kind, object_id)
            if check(api) is None:
                return api
            if left <= API_POLL:
                return None

    def _expected_unavailable(self, step: Step, exc: FeatureUnavailable) -> bool:
        """A refund the plan marks `unavailable_in_test`, refused in test mode as the
        provider documents: a finding to report, not a failure."""
        if not (
            isinstance(step, RefundStep)
            and step.unavailable_in_test
            and self.provider.environment == "test"
        ):
            return False
        reason = f"unavailable in test mode, as the plan expects: {exc.message}"
        self.store.update_step(
            self.run_id,
            step.id,
            state=StepState.SKIPPED,
            confirmed_by=EXPECTED_UNAVAILABLE,
            message=reason,
        )
        self.emit(StepSkipped(step.id, reason))
        self._step = None
        return True

    def _wait(
        self, match: Callable[[NormalizedEvent], bool], deadline: float
    ) -> tuple[float, NormalizedEvent] | None:
        """The hub's wait, cut into `watch_every` slices with the watch called between them."""
        assert self.hub is not None
        watch, every = self.options.watch, self.options.watch_every
        while True:
            until = deadline if watch is None else min(deadline, time.monotonic() + every)
            got = self.hub.wait_for(match, until)
            if got is not None or until >= deadline or watch is None:
                return got
            watch()

    def _payment_check(self, step: ChargeStep | RefundStep, amount: int, refunded: int) -> Check:
        refund_status = "refunded" if refunded >= amount else "partially_refunded"
        currency = self._currency(step)

        def check(obj: ProviderObject) -> str | None:
            if problem := self._same_books(obj, currency):
                return problem
            expected = (
                step.expect.status
                or DEFAULT_STATUS.get(step.expect.event)
                or ("succeeded" if obj.refund_statuses else refund_status)
            )
            if obj.status != expected:
                return f"{obj.kind} {obj.id} with status {obj.status!r} (expected {expected!r})"
            if obj.amount != amount:
                return (
                    f"{obj.kind} {obj.id} with amount {_money(obj.amount, currency)} "
                    f"(expected {_money(amount, currency)})"
                )
            if obj.amount_refunded != refunded:
                return (
                    f"{obj.kind} {obj.id} with {_money(obj.amount_refunded, currency)} refunded "
                    f"(expected {_money(refunded, currency)})"
                )
            return None

        return check

    def _refund_check(self, step: RefundStep, amount: int, refunded: int, refund_id: str) -> Check:
        """The payment after a refund: the refund listed as succeeded, `refunded` in all.
        Its status: the plan's `expect.status`, else where the payment lists each refund's
        status (PayMongo) the charge's own (a PayMongo payment stays `paid`), else
        `refunded` or `partially_refunded` (MintCash)."""
        payment_check = self._payment_check(step, amount, refunded)

        def check(obj: ProviderObject) -> str | None:
            state = refund_state(obj, refund_id)
            if state != "succeeded":
                shown = f"with refund {refund_id} {state!r}" if state else f"without {refund_id}"
                return f"{obj.kind} {obj.id} {shown} (expected 'succeeded')"
            return payment_check(obj)

        return check

    def _status_check(
        self, step: SubscribeStep | AwaitRenewalStep | CancelStep, amount: int
    ) -> Check:
        expected = step.expect.status or DEFAULT_STATUS.get(step.expect.event, "active")
        currency = self._currency(step)

        def check(obj: ProviderObject) -> str | None:
            if problem := self._same_books(obj, currency):
                return problem
            if obj.status != expected:
                return f"{obj.kind} {obj.id} with status {obj.status!r} (expected {expected!r})"
            if obj.amount != amount:
                return (
                    f"{obj.kind} {obj.id} with amount {_money(obj.amount, currency)} "
                    f"(expected {_money(amount, currency)})"
                )
            return None

        return check

    def _currency(self, step: Step) -> str | None:
        """The currency the plan expects of this step's object (None: the subscription's)."""
        if isinstance(step, ChargeStep | SubscribeStep):
            return step.currency or self.plan.currency
        if isinstance(step, RefundStep):
            charge = next(s for s in self.plan.steps if s.id == step.payment)
            assert isinstance(charge, ChargeStep)
            return charge.currency or self.plan.currency
        if isinstance(step, AwaitRenewalStep | CancelStep):
            sub = next(s for s in self.plan.steps if s.id == step.subscription)
            assert isinstance(sub, SubscribeStep)
            return sub.currency or self.plan.currency
        return None

    def _same_books(self, obj: ProviderObject, currency: str | None) -> str | None:
        """The object is in the run's currency and environment, whoever reports it (the
        event's copy or the API's): a signed EUR or live object fails a USD test step."""
        if currency is not None and obj.currency.upper() != currency.upper():
            return f"{obj.kind} {obj.id} in {obj.currency or 'no currency'} (expected {currency})"
        if obj.environment != self.provider.environment:
            return (
                f"{obj.kind} {obj.id} in {obj.environment or 'no'} mode "
                f"(expected {self.provider.environment})"
            )
        return None

    # --- ledger and helpers -----------------------------------------------------------------

    def _intent(
        self, step_id: str, key: str | None, amount: int | None, about: str | None = None
    ) -> None:
        """Written before the call that moves money. A key whose answer was lost is sent
        again only while the provider still replays it."""
        now = time.time()
        row = self.store.step(self.run_id, step_id)
        replay = key is not None and row["idempotency_key"] == key  # sent before: resumed
        first = (row["first_called_at"] or row["called_at"]) if replay else None
        window = self.provider.idempotency_window
        if first is not None and window is not None and now - first > window:
            known = f" (it made {row['object_id']})" if row["object_id"] else ""
            raise SafetyRefusal(
                f"step {step_id!r}: its call{known} was first sent "
                f"{(now - first) / 3600:.0f} h ago with key {key}; {self.provider.name} "
                f"forgets a key after {window / 3600:g} h, so sending it again could charge "
                "twice",
                hint=f"`rehearsal cleanup {self.run_id}` settles what the ledger knows; an "
                f"answer that was lost is in {self.provider.name}'s dashboard under that key "
                "(metadata rehearsal_key)",
            )
        fields: dict[str, Any] = {"awaited_object": about} if about else {}
        if key is not None and row["object_id"] is None:
            fields["outcome"] = CallOutcome.INTENT  # unknown until the answer is written
        self.store.step_intent(
            self.run_id,
            step_id,
            state=StepState.CALLING,
            idempotency_key=key,
            amount=amount,
            called_at=now,
            first_called_at=first or now,
            gave_up_at=None,
            **fields,
        )
        _failpoint("after-intent", step_id)

    def _called(self, step_id: str, obj: ProviderObject) -> None:
        _failpoint("after-call", step_id)  # the provider acted; the ledger does not know yet
        self.store.update_step(
            self.run_id,
            step_id,
            state=StepState.AWAITING,
            outcome=CallOutcome.ANSWERED,
            object_kind=obj.kind,
            object_id=obj.id,
            status=obj.status,
            request_id=obj.request_id,
            card=_card_label(obj),
        )
        if obj.kind != "refund":
            self.store.observe(self.run_id, obj, step_id)

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

    def _card(self, card: str | None) -> str:
        return resolve_card(self.plan, self.provider, card)

    def _describe(self, step: Step) -> str:
        cur = self.plan.currency

        def card(c: str | None) -> str:
            c = c or self.plan.card
            return f"card from ${c.removeprefix('env:')}" if c.startswith("env:") else f"{c} card"

        if isinstance(step, ChargeStep):
            return f"charge {money(step.amount, step.currency or cur)} on the {card(step.card)}"
        if isinstance(step, RefundStep):
            charge = next((s for s in self.plan.steps if s.id == step.payment), None)
            if isinstance(charge, ChargeStep) and charge.currency:
                cur = charge.currency
            what = money(step.amount, cur) if step.amount else "the rest"
            return f"refund {what} of {step.payment!r}"
        if isinstance(step, SubscribeStep):
            return f"subscribe {money(step.amount, step.currency or cur)} per {step.interval}"
        if isinstance(step, AwaitRenewalStep):
            return f"await the renewal of {step.subscription!r}"
        if isinstance(step, CancelStep):
            return f"cancel {step.subscription!r}"
        return step.instructions

    # --- compensation -----------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Read what this run left at the provider into the ledger; move nothing. True when
        nothing is left."""
        from rehearsal.ledger.settle import Landing, settle

        self._step = None
        with _signals_deferred():
            landing = Landing(self.options.landing_window, wait=False)
            result = settle(
                self.run_id, self.provider, self.store, lambda e: None, landing, act=False
            )
            return result.settled

    def compensate(self, passed: bool = False) -> bool:
        """Refund what this run charged and cancel what it subscribed, from the ledger.
        True when nothing is left outstanding. `passed`: the run passed, so this settles
        the rehearsal's own money rather than compensating for a failure."""
        from rehearsal.ledger.settle import Landing, settle

        def emit(event: RunEvent) -> None:
            if isinstance(event, Compensated):
                event = replace(event, settling=passed, currency=self.plan.currency)
            self.emit(event)

        self._step = None
        with _signals_deferred():
            landing = Landing(self.options.landing_window, wait=False)
            return settle(self.run_id, self.provider, self.store, emit, landing).settled


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """While cleanup runs, a further Ctrl-C or SIGTERM is noted, not obeyed: each refund or
    cancel is short, bounded by HTTP timeouts, and written to the ledger before it is sent.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: FrameType | None) -> None:
        print(
            "cleanup in progress: refunding and cancelling what this run created; it "
            "stops by itself (`rehearsal cleanup RUN` can finish it later)",
            file=sys.stderr,
            flush=True,
        )

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _money(amount: int, currency: str | None) -> str:
    """An amount as people read it (`USD 5.00`) in assertion messages."""
    from rehearsal.amounts import money

    return money(amount, currency) if currency else f"{amount} (minor units)"


def _card_label(obj: ProviderObject) -> str | None:
    """What the ledger keeps of a card: its brand and last four digits, never more."""
    if obj.card_last4 is None:
        return None
    return f"{obj.card_brand or 'card'} ••{obj.card_last4[-4:]}"


def _failpoint(where: str, step_id: str) -> None:
    """Testing only: REHEARSAL_FAILPOINT=<where>:<step> kills this process (SIGKILL) there,
    so crash tests hit exact points: before-step, after-intent, after-made (a flow made
    something and goes on), after-call. raise-<where>:<step> raises a RuntimeError there
    instead, as a bug of ours would."""
    point = os.environ.get("REHEARSAL_FAILPOINT")
    if point == f"{where}:{step_id}":
        os.kill(os.getpid(), signal.SIGKILL)
    if point == f"raise-{where}:{step_id}":  # an exception that is not ours: a bug
        raise RuntimeError(f"failpoint {point}")
