"""The PayMongo adapter: the Provider protocol over PayMongo's JSON:API (httpx + tenacity).

A charge is three calls (Payment Intent, Payment Method, attach) and a subscription five
(plan, customer, subscription, then a Payment Method attached to its first invoice's
intent). Each creating POST carries an `Idempotency-Key` derived from the run and step
(`<key>.intent`, `<key>.method`, ...), and a retry of a 429/5xx re-sends the same key, so a
retried or resumed call gets PayMongo's saved answer instead of moving money twice. When an
intent needs 3-D Secure, the operator is shown the redirect URL (`authorize`) and the
intent is polled until it leaves `awaiting_next_action`, within a deadline. The secret key
lives only in the client's auth; the webhook secret only in memory. Messages carry
PayMongo's error code and detail, never a key, a header or a raw body. The charge flow and
3-D Secure are in charges.py, webhooks and event parsing in webhooks.py; here the refund,
the subscription's flow, the lookups and the clock.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rehearsal.errors import ProviderError, UsageError
from rehearsal.providers.base import (
    Authorize,
    Environment,
    FeatureUnavailable,
    KeyLookupUnsupported,
    ObjectKind,
    ProviderObject,
    ProviderObserver,
    WebhookState,
    reports_objects,
)
from rehearsal.providers.jsonwire import JSONValue
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo.charges import PayMongoCharges

if TYPE_CHECKING:
    from rehearsal.providers.config import TargetConfig


# Refund refusals that are about the request, not about test mode (PayMongo's refund errors,
# https://developers.paymongo.com/docs/refund-errors): these stay plain errors.
_REQUEST_ERRORS = {
    "parameter_invalid",
    "parameter_above_maximum",
    "parameter_below_minimum",
    "parameter_required",
    "resource_not_found",
    "livemode_mismatched",
    "resource_failed_state",
    "resource_disputed_state",
    "resource_pending_state",
    "resource_processing_state",
    "allowed_date_exceeded",
    "available_balance_insufficient",
}


class PayMongo(PayMongoCharges):
    name = "paymongo"

    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        webhook_secrets: list[str],
        environment: Environment,
        http_timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.25,
        authorize_timeout: float = 600.0,
        activation_timeout: float = 60.0,
        poll_interval: float = 1.0,
        on_authorize: Authorize | None = None,
        observer: ProviderObserver | None = None,
    ) -> None:
        self.environment: Environment = environment
        self.can_advance_clock = environment == "test"
        self.idempotency_window: float | None = c.IDEMPOTENCY_KEY_TTL
        self.needs_operator = environment == "live"  # 3-D Secure on every live card payment
        super().__init__(
            api_base=api_base,
            secret_key=secret_key,
            http_timeout=http_timeout,
            attempts=attempts,
            backoff=backoff,
            observer=observer,  # also told of what a flow made before it finished (`made`)
        )
        self._authorize = on_authorize
        self.authorize_timeout = authorize_timeout
        self.activation_timeout = activation_timeout
        self.poll_interval = poll_interval
        self._webhook_secrets = [s for s in webhook_secrets if s]
        self._webhooks: dict[str, WebhookState | None] = {}  # id -> prior (None: created)

    @reports_objects
    def refund(
        self,
        *,
        idempotency_key: str,
        payment_id: str,
        amount: int | None,
        reason: str | None = None,
    ) -> ProviderObject:
        if amount is None:
            current = self.retrieve("payment", payment_id)
            amount = current.amount - current.amount_refunded
        attributes: dict[str, JSONValue] = {
            "amount": amount,
            "payment_id": payment_id,
            "reason": reason if reason in c.REFUND_REASONS else "requested_by_customer",
        }
        if reason and reason not in c.REFUND_REASONS:
            attributes["notes"] = reason[:255]
        try:
            body = self._post(c.REFUNDS, c.envelope(attributes), idempotency_key)
        except ProviderError as exc:
            if self.environment == "test" and exc.status == 400 and exc.code not in _REQUEST_ERRORS:
                answer = exc.message.split(": ", 1)[-1]
                raise FeatureUnavailable(
                    f"PayMongo refuses this refund in test mode ({answer})",
                    hint="PayMongo documents that only live transactions can be refunded",
                    status=exc.status,
                    code=exc.code,
                ) from None
            raise
        refund_id, _, a = c.resource(body)
        return c.parse_refund(refund_id, a)

    @reports_objects
    def subscribe(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        interval: str,
    ) -> ProviderObject:
        if interval not in c.INTERVALS:
            raise UsageError(
                f"PayMongo plans have no {interval!r} interval",
                hint=f"use one of {', '.join(c.INTERVALS)}",
            )
        key = idempotency_key
        try:
            plan_id = self._create_plan(key, amount, currency, c.INTERVALS[interval])
            customer = c.envelope(
                {
                    "first_name": "Rehearsal",
                    "last_name": "Run",
                    "email": "rehearsal@example.com",
                    "phone": "+639170000000",
                    "default_device": "email",
                }
            )
            customer_id, _, _ = c.resource(self._post(c.CUSTOMERS, customer, f"{key}.customer"))
            body = c.envelope({"customer_id": customer_id, "plan_id": plan_id})
            sub_id, _, a = c.resource(self._post(c.SUBSCRIPTIONS, body, f"{key}.subscription"))
        except ProviderError as exc:
            if exc.status in (400, 403) and "configur" in exc.message.lower():
                answer = exc.message.split(": ", 1)[-1]
                raise FeatureUnavailable(
                    f"PayMongo has not enabled subscriptions on this account ({answer})",
                    hint="ask PayMongo (support@paymongo.com) to configure Subscriptions; the "
                    "subscription steps stop here, and what this run charged is cleaned up",
                    status=exc.status,
                    code=exc.code,
                ) from None
            raise
        if self.observer is not None:  # the ledger knows it if the run dies while waiting
            self.observer.made(c.parse_subscription(sub_id, a))  # incomplete
        invoice = a.get("latest_invoice") or {}
        intent = invoice.get("payment_intent") or {}
        if invoice.get("status") == "paid" or not intent.get("id"):
            return self.retrieve("subscription", sub_id)
        # PayMongo: the first payment "will require card payment authentication"
        # (https://developers.paymongo.com/docs/statuses-subscription). Test mode: the test
        # page's Authorize button is pressed without a person; live: the operator authorizes.
        intent_id = str(intent["id"])
        what = f"the first invoice of subscription {sub_id} (payment intent {intent_id})"
        try:
            payment = self._pay_intent(
                f"{key}.invoice",
                intent_id,
                card,
                automatic=self.environment == "test",
                what=what,
            )
            if payment.status == "failed":
                raise ProviderError(
                    f"PayMongo subscription {sub_id}: the payment of its first invoice "
                    f"failed ({payment.failure_code or 'declined'}); it stays incomplete",
                    code=payment.failure_code,
                )
            return self._await_activation(sub_id)
        except ProviderError as exc:
            exc.made = sub_id  # a refusal now does not mean nothing was made
            raise

    def _await_activation(self, sub_id: str) -> ProviderObject:
        """The first invoice is paid: PayMongo activates the subscription, within a deadline."""
        deadline = time.monotonic() + self.activation_timeout
        while True:
            sub = self.retrieve("subscription", sub_id)
            if sub.status != "incomplete":
                return sub
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"PayMongo subscription {sub_id} paid its first invoice but is still "
                    f"incomplete after {self.activation_timeout:g}s",
                    hint="look at the subscription in PayMongo's dashboard; cleanup cancels it",
                )
            time.sleep(self.poll_interval)  # the poll interval, not a wait for a condition

    def _create_plan(self, key: str, amount: int, currency: str, interval: str) -> str:
        body = c.envelope(
            {
                "name": "rehearsal plan",
                "description": "a dress rehearsal's subscription",
                "amount": amount,
                "currency": currency,
                "interval": interval,
                "interval_count": 1,
            }
        )
        try:
            plan = self._post(c.PLANS, body, f"{key}.plan")
        except ProviderError as exc:
            if exc.status != 404:
                raise
            plan = self._post(c.PLANS_FALLBACK, body, f"{key}.plan")
        plan_id, _, _ = c.resource(plan)
        return plan_id

    def cancel(self, *, subscription_id: str, reason: str | None = None) -> ProviderObject:
        why = reason if reason in c.CANCELLATION_REASONS else "other"
        body = c.envelope({"cancellation_reason": why})
        sub_id, _, a = c.resource(self._post(c.CANCEL.format(id=subscription_id), body, None))
        return c.parse_subscription(sub_id, a)

    @reports_objects
    def retrieve(self, kind: ObjectKind, object_id: str) -> ProviderObject:
        try:
            return self._retrieve(kind, object_id)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(
                f"PayMongo answered GET {kind} {object_id} with an unexpected body"
            ) from None

    def _retrieve(self, kind: ObjectKind, object_id: str) -> ProviderObject:
        if kind == "payment":
            _, _, a = c.resource(self._get(c.PAYMENT.format(id=object_id)))
            return c.parse_payment(object_id, a)
        if kind == "refund":
            _, _, a = c.resource(self._get(c.REFUND.format(id=object_id)))
            return c.parse_refund(object_id, a)
        _, _, a = c.resource(self._get(c.SUBSCRIPTION.format(id=object_id)))
        return c.parse_subscription(object_id, a)

    @reports_objects
    def subscription_payments(self, subscription_id: str) -> list[ProviderObject]:
        listing = self._get(f"{c.INVOICES}?subscription_id={subscription_id}")
        payments: list[ProviderObject] = []
        for invoice in listing.get("data") or []:
            a = invoice.get("attributes") or {}
            intent_id = (a.get("payment_intent") or {}).get("id")
            if a.get("status") != "paid" or not intent_id:
                continue
            _, _, intent = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
            for p in intent.get("payments") or []:
                payment = c.parse_payment(str(p["id"]), p["attributes"])
                if payment.status != "failed":
                    payments.append(payment)
        return payments

    @reports_objects
    def find_by_idempotency_key(self, kind: str, key: str) -> ProviderObject | None:
        raise KeyLookupUnsupported("PayMongo has no lookup by Idempotency-Key")

    def advance_clock(self, subscription_id: str, *, idempotency_key: str) -> bool:
        if not self.can_advance_clock:
            return False
        # The caller's key, re-sent by the retries (and by a resumed run): a 5xx after the
        # work must not run a second billing cycle.
        try:
            self._post(c.TEST_CYCLE.format(id=subscription_id), c.envelope({}), idempotency_key)
        except ProviderError as exc:
            if exc.status == 404:
                self.can_advance_clock = False
                return False
            raise
        return True

    def close(self) -> None:
        try:
            self.disable_webhooks()
        except ProviderError:
            pass  # the operator sees the webhook in PayMongo's dashboard; nothing moves money
        finally:
            super().close()  # HttpCore's: its connections, and httpx's client if made


def from_config(
    config: TargetConfig,
    *,
    observer: ProviderObserver | None = None,
    authorize: Authorize | None = None,
) -> PayMongo:
    from rehearsal.ui.operator import show_authorization

    return PayMongo(
        api_base=config.api_base,
        secret_key=config.secret_key,
        webhook_secrets=config.webhook_secrets,
        environment=config.environment,
        backoff=config.backoff,
        http_timeout=config.http_timeout,
        on_authorize=authorize or show_authorization,
        observer=observer,
    )
