"""The payment steps: a charge, and a refund of an earlier charge. Each writes its intent
(idempotency key, amount) before its call, records the answer, then waits for its webhook
and the API's word (confirm.py). A refund confirms through the refund itself, and a refund
the plan marks `unavailable_in_test`, refused in test mode, is a finding, not a failure."""

from __future__ import annotations

import time

from rehearsal.amounts import format_amount
from rehearsal.engine.actions.base import Passed, StepAction, card_name, resolve_card
from rehearsal.engine.checks import payment_check, refund_check, refund_state
from rehearsal.engine.confirm import confirm
from rehearsal.engine.context import StepContext
from rehearsal.errors import AssertionFailed, UsageError
from rehearsal.events import StepSkipped
from rehearsal.ledger.rows import StepRow
from rehearsal.ledger.states import EXPECTED_UNAVAILABLE, StepState
from rehearsal.plan.model import ChargeStep, Expect, Plan, RefundStep
from rehearsal.providers.base import FeatureUnavailable, NormalizedEvent, Provider, ProviderObject
from rehearsal.providers.keys import step_key

# A refund step marked `unavailable_in_test` that the test-mode account refunded after all.
TEST_MODE_REFUNDED = "refunded in test mode"


class Charge(StepAction[ChargeStep]):
    def describe(self, step: ChargeStep, plan: Plan) -> str:
        amount = format_amount(step.amount, step.currency or plan.currency)
        return f"charge {amount} on the {card_name(plan, step.card)}"

    def expect(self, step: ChargeStep) -> Expect:
        return step.expect

    def preflight(
        self, plan: Plan, provider: Provider, step: ChargeStep, *, has_operator: bool
    ) -> None:
        resolve_card(plan, provider, step.card)

    def restore(self, run: StepContext, step: ChargeStep, row: StepRow) -> None:
        object_id = row["object_id"]
        assert object_id is not None, f"step {step.id} passed with no payment"
        run.payments[step.id] = run.provider.retrieve("payment", object_id)

    def call(
        self, plan: Plan, provider: Provider, step: ChargeStep, key: str, card: str | None = None
    ) -> ProviderObject:
        """The provider call this step makes, with exactly these parameters: the runner
        sends it, and `cleanup --replay` sends it again unchanged (a different body under
        the same key is refused as a conflict). `card`: already resolved."""
        card = card or resolve_card(plan, provider, step.card)
        currency = step.currency or plan.currency
        return provider.create_payment(
            idempotency_key=key, amount=step.amount, currency=currency, card=card
        )

    def perform(self, run: StepContext, step: ChargeStep) -> Passed:
        key = step_key(run.run_id, step.id)
        card = resolve_card(run.plan, run.provider, step.card)
        run.intent(step.id, key, step.amount)
        called = time.time()
        obj = run.call(step.id, lambda: self.call(run.plan, run.provider, step, key, card=card))
        run.called(step.id, obj)
        run.payments[step.id] = obj
        currency = step.currency or run.plan.currency
        check = payment_check(run.provider.environment, step.expect, currency, step.amount, 0)
        event, final = confirm(run, step, "payment", obj.id, called, check)
        run.payments[step.id] = final
        run.store.observe(run.run_id, final, step.id)
        return Passed.confirmed(final, event)

    def replay(
        self, plan: Plan, provider: Provider, step: ChargeStep, key: str, row: StepRow
    ) -> ProviderObject:
        return self.call(plan, provider, step, key)


class Refund(StepAction[RefundStep]):
    def describe(self, step: RefundStep, plan: Plan) -> str:
        cur = plan.currency
        charge = next((s for s in plan.steps if s.id == step.payment), None)
        if isinstance(charge, ChargeStep) and charge.currency:
            cur = charge.currency
        what = format_amount(step.amount, cur) if step.amount else "the rest"
        return f"refund {what} of {step.payment!r}"

    def expect(self, step: RefundStep) -> Expect:
        return step.expect

    def restore(self, run: StepContext, step: RefundStep, row: StepRow) -> None:
        amount = row["amount"]
        assert amount is not None, f"step {step.id} passed with no amount"
        run.refunded[step.payment] = run.refunded.get(step.payment, 0) + amount

    def call(
        self, provider: Provider, step: RefundStep, key: str, payment_id: str
    ) -> ProviderObject:
        """The provider call this step makes, sent again unchanged by `cleanup --replay`."""
        return provider.refund(
            idempotency_key=key, payment_id=payment_id, amount=step.amount, reason=step.reason
        )

    def perform(self, run: StepContext, step: RefundStep) -> Passed | None:
        try:
            final, event = self._refund(run, step, step_key(run.run_id, step.id))
        except FeatureUnavailable as exc:
            if not self._expected_unavailable(run, step, exc):
                raise
            return None
        run.store.observe(run.run_id, final, None)
        return Passed.confirmed(final, event)

    def _refund(
        self, run: StepContext, step: RefundStep, key: str
    ) -> tuple[ProviderObject, NormalizedEvent | None]:
        """Refund, then confirm through the refund itself: its webhook (the payment, listing
        the refund) shows it succeeded, and so do the refund resource and the payment's API.
        A refund may be created `pending` and settle later (PayMongo); one that ends
        `failed` fails the step, whichever event or answer shows it."""
        payment = run.payments[step.payment]
        left = payment.amount - run.refunded.get(step.payment, 0)
        amount = step.amount or left
        run.intent(step.id, key, amount, about=payment.id)
        called = time.time()
        refund = run.call(step.id, lambda: self.call(run.provider, step, key, payment.id))
        run.called(step.id, refund)
        if refund.status == "failed":
            raise AssertionFailed(f"step {step.id!r}: refund {refund.id} failed at once")
        run.refunded[step.payment] = run.refunded.get(step.payment, 0) + amount
        total = run.refunded[step.payment]

        def failed(e: NormalizedEvent) -> str | None:
            if e.object is None or refund_state(e.object, refund.id) != "failed":
                return None
            return f"refund {refund.id} failed"

        currency = _charge_currency(run.plan, step)
        event, final = confirm(
            run,
            step,
            "payment",
            payment.id,
            called,
            refund_check(
                run.provider.environment, step.expect, currency, payment.amount, total, refund.id
            ),
            lambda e: e.object is not None and refund_state(e.object, refund.id) == "succeeded",
            fails=failed,
        )
        run.payments[step.payment] = final
        settled = run.provider.retrieve("refund", refund.id)
        if settled.status != "succeeded":
            raise AssertionFailed(
                f"step {step.id!r}: the payment lists refund {refund.id} as succeeded, but the "
                f"refund itself is {settled.status!r}"
            )
        history = (
            "succeeded" if refund.status == "succeeded" else f"{refund.status}, then succeeded"
        )
        note = f"refund {refund.id} {history}"
        if step.unavailable_in_test and run.provider.environment == "test":
            note = (
                f"{TEST_MODE_REFUNDED}: the plan expects the documented refusal "
                f"(unavailable_in_test); {note}"
            )
        run.notes[step.id] = note
        return final, event

    def _expected_unavailable(
        self, run: StepContext, step: RefundStep, exc: FeatureUnavailable
    ) -> bool:
        """A refund the plan marks `unavailable_in_test`, refused in test mode as the
        provider documents: a finding to report, not a failure."""
        if not (step.unavailable_in_test and run.provider.environment == "test"):
            return False
        reason = f"unavailable in test mode, as the plan expects: {exc.message}"
        run.store.update_step(
            run.run_id,
            step.id,
            state=StepState.SKIPPED,
            confirmed_by=EXPECTED_UNAVAILABLE,
            message=reason,
        )
        run.emit(StepSkipped(step.id, reason))
        return True

    def replay(
        self, plan: Plan, provider: Provider, step: RefundStep, key: str, row: StepRow
    ) -> ProviderObject:
        payment_id = row["awaited_object"]
        if not payment_id:
            raise UsageError(f"step {step.id!r} has no recorded payment to replay against")
        return self.call(provider, step, key, payment_id)


def _charge_currency(plan: Plan, step: RefundStep) -> str:
    """The currency of the charge a refund refunds."""
    charge = next(s for s in plan.steps if s.id == step.payment)
    assert isinstance(charge, ChargeStep)
    return charge.currency or plan.currency
