"""The subscription steps: subscribe, await a renewal (advancing the provider's clock where
it can), cancel. Subscribing writes its intent (idempotency key, amount) before its call; a
renewal writes the renewals it saw before it began, so a resumed one never advances the clock
twice. Each waits for its webhook and the API's word (confirm.py), then records the
subscription's own payments as they appear."""

from __future__ import annotations

import time

from rehearsal.amounts import format_amount
from rehearsal.engine.actions.base import Passed, StepAction, resolve_card
from rehearsal.engine.checks import status_check
from rehearsal.engine.confirm import confirm
from rehearsal.engine.context import StepContext
from rehearsal.errors import AssertionFailed
from rehearsal.ledger.rows import StepRow
from rehearsal.plan.model import AwaitRenewalStep, CancelStep, Expect, Plan, SubscribeStep
from rehearsal.providers.base import Provider, ProviderObject
from rehearsal.providers.keys import step_key


class Subscribe(StepAction[SubscribeStep]):
    def describe(self, step: SubscribeStep, plan: Plan) -> str:
        amount = format_amount(step.amount, step.currency or plan.currency)
        return f"subscribe {amount} per {step.interval}"

    def expect(self, step: SubscribeStep) -> Expect:
        return step.expect

    def preflight(
        self, plan: Plan, provider: Provider, step: SubscribeStep, *, has_operator: bool
    ) -> None:
        resolve_card(plan, provider, step.card)

    def restore(self, run: StepContext, step: SubscribeStep, row: StepRow) -> None:
        object_id = row["object_id"]
        assert object_id is not None, f"step {step.id} passed with no subscription"
        run.subscriptions[step.id] = run.provider.retrieve("subscription", object_id)

    def call(
        self, plan: Plan, provider: Provider, step: SubscribeStep, key: str, card: str | None = None
    ) -> ProviderObject:
        """The provider call this step makes, with exactly these parameters: the runner
        sends it, and `cleanup --replay` sends it again unchanged (a different body under
        the same key is refused as a conflict). `card`: already resolved."""
        card = card or resolve_card(plan, provider, step.card)
        currency = step.currency or plan.currency
        return provider.subscribe(
            idempotency_key=key,
            amount=step.amount,
            currency=currency,
            card=card,
            interval=step.interval,
        )

    def perform(self, run: StepContext, step: SubscribeStep) -> Passed:
        key = step_key(run.run_id, step.id)
        card = resolve_card(run.plan, run.provider, step.card)
        run.intent(step.id, key, step.amount)
        called = time.time()
        sub = run.call(step.id, lambda: self.call(run.plan, run.provider, step, key, card=card))
        run.called(step.id, sub)
        run.subscriptions[step.id] = sub
        currency = step.currency or run.plan.currency
        check = status_check(run.provider.environment, step.expect, currency, step.amount)
        event, final = confirm(run, step, "subscription", sub.id, called, check)
        run.subscriptions[step.id] = final
        run.store.observe(run.run_id, final, step.id)
        _observe_payments(run, final, step.id)
        return Passed.confirmed(final, event)

    def replay(
        self, plan: Plan, provider: Provider, step: SubscribeStep, key: str, row: StepRow
    ) -> ProviderObject:
        return self.call(plan, provider, step, key)


class AwaitRenewal(StepAction[AwaitRenewalStep]):
    def describe(self, step: AwaitRenewalStep, plan: Plan) -> str:
        return f"await the renewal of {step.subscription!r}"

    def expect(self, step: AwaitRenewalStep) -> Expect:
        return step.expect

    def perform(self, run: StepContext, step: AwaitRenewalStep) -> Passed:
        key = step_key(run.run_id, step.id)
        sub = run.subscriptions[step.subscription]
        before = run.baselines.get(step.id)
        if before is None:
            before = sub.renewals
        run.intent(step.id, None, sub.amount)
        run.store.update_step(run.run_id, step.id, baseline=before)
        called = time.time()
        renewed = step.id in run.resumed and (
            run.provider.retrieve("subscription", sub.id).renewals > before
        )
        if step.advance_clock and run.provider.can_advance_clock and not renewed:
            run.provider.advance_clock(sub.id, idempotency_key=key)
        currency = _subscription_currency(run.plan, step.subscription)
        event, final = confirm(
            run,
            step,
            "subscription",
            sub.id,
            called,
            status_check(run.provider.environment, step.expect, currency, sub.amount),
            lambda e: (
                e.object is not None
                and (e.object.renewals > before or e.type != "subscription.renewed")
            ),
        )
        run.subscriptions[step.subscription] = final
        run.store.observe(run.run_id, final, step.id)
        payments = _observe_payments(run, final, step.subscription)
        # The first period, then one payment per renewal step so far: one more is a
        # second charge (a retried clock advance that renewed twice).
        renewals = [
            s
            for s in run.plan.steps
            if isinstance(s, AwaitRenewalStep) and s.subscription == step.subscription
        ]
        expected = 2 + [s.id for s in renewals].index(step.id)
        charged = [p for p in payments if p.status not in ("failed",)]
        if len(charged) > expected:
            raise AssertionFailed(
                f"step {step.id!r}: subscription {final.id} has {len(charged)} payments "
                f"(expected {expected}): it renewed more than once"
            )
        return Passed.confirmed(final, event)


class Cancel(StepAction[CancelStep]):
    def describe(self, step: CancelStep, plan: Plan) -> str:
        return f"cancel {step.subscription!r}"

    def expect(self, step: CancelStep) -> Expect:
        return step.expect

    def perform(self, run: StepContext, step: CancelStep) -> Passed:
        sub = run.subscriptions[step.subscription]
        run.intent(step.id, None, None)
        called = time.time()
        cancelled = run.provider.cancel(subscription_id=sub.id, reason=step.reason)
        run.called(step.id, cancelled)
        run.subscriptions[step.subscription] = cancelled
        currency = _subscription_currency(run.plan, step.subscription)
        check = status_check(run.provider.environment, step.expect, currency, sub.amount)
        event, final = confirm(run, step, "subscription", sub.id, called, check)
        run.subscriptions[step.subscription] = final
        run.store.observe(run.run_id, final, step.id)
        return Passed.confirmed(final, event)


def _observe_payments(run: StepContext, sub: ProviderObject, owner: str) -> list[ProviderObject]:
    """Record a subscription's own payments as they appear, under the step that made it."""
    payments = run.provider.subscription_payments(sub.id)
    for payment in payments:
        run.store.observe(run.run_id, payment, owner)
    return payments


def _subscription_currency(plan: Plan, subscription: str) -> str:
    """The currency of the subscription a renewal or a cancel is about."""
    sub = next(s for s in plan.steps if s.id == subscription)
    assert isinstance(sub, SubscribeStep)
    return sub.currency or plan.currency
