"""What a step expects of its object, as checks: a function that reads a payment or a
subscription (the webhook's copy or the API's) and says what is wrong with it, or None. The
checks only read what they are given; they never call the provider or write the ledger."""

from __future__ import annotations

from collections.abc import Callable

from rehearsal.amounts import format_amount
from rehearsal.plan.model import Expect
from rehearsal.providers.base import ProviderObject

DEFAULT_STATUS = {
    "payment.succeeded": "succeeded",
    "payment.failed": "failed",
    "subscription.created": "active",
    "subscription.renewed": "active",
    "subscription.cancelled": "cancelled",
}

Check = Callable[[ProviderObject], str | None]


def refund_state(payment: ProviderObject, refund_id: str) -> str | None:
    """A refund's status as its payment lists it: None when it is not listed; `succeeded`
    when listed by a provider that lists ids only (MintCash lists a refund once done)."""
    if refund_id not in payment.refund_ids:
        return None
    return dict(payment.refund_statuses).get(refund_id, "succeeded")


def payment_check(
    environment: str, expect: Expect, currency: str | None, amount: int, refunded: int
) -> Check:
    """A payment of `amount` with `refunded` of it refunded, in the step's expected status."""
    refund_status = "refunded" if refunded >= amount else "partially_refunded"

    def check(obj: ProviderObject) -> str | None:
        if problem := same_books(obj, currency, environment):
            return problem
        expected = (
            expect.status
            or DEFAULT_STATUS.get(expect.event)
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


def refund_check(
    environment: str,
    expect: Expect,
    currency: str | None,
    amount: int,
    refunded: int,
    refund_id: str,
) -> Check:
    """The payment after a refund: the refund listed as succeeded, `refunded` in all.
    Its status: the plan's `expect.status`, else where the payment lists each refund's
    status (PayMongo) the charge's own (a PayMongo payment stays `paid`), else
    `refunded` or `partially_refunded` (MintCash)."""
    of_payment = payment_check(environment, expect, currency, amount, refunded)

    def check(obj: ProviderObject) -> str | None:
        state = refund_state(obj, refund_id)
        if state != "succeeded":
            shown = f"with refund {refund_id} {state!r}" if state else f"without {refund_id}"
            return f"{obj.kind} {obj.id} {shown} (expected 'succeeded')"
        return of_payment(obj)

    return check


def status_check(environment: str, expect: Expect, currency: str | None, amount: int) -> Check:
    """A subscription of `amount` in the step's expected status (`active` by default)."""
    expected = expect.status or DEFAULT_STATUS.get(expect.event, "active")

    def check(obj: ProviderObject) -> str | None:
        if problem := same_books(obj, currency, environment):
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


def same_books(obj: ProviderObject, currency: str | None, environment: str) -> str | None:
    """The object is in the run's currency and environment, whoever reports it (the
    event's copy or the API's): a signed EUR or live object fails a USD test step."""
    if currency is not None and obj.currency.upper() != currency.upper():
        return f"{obj.kind} {obj.id} in {obj.currency or 'no currency'} (expected {currency})"
    if obj.environment != environment:
        return f"{obj.kind} {obj.id} in {obj.environment or 'no'} mode (expected {environment})"
    return None


def _money(amount: int, currency: str | None) -> str:
    """An amount as people read it (`USD 5.00`) in assertion messages."""
    return format_amount(amount, currency) if currency else f"{amount} (minor units)"
