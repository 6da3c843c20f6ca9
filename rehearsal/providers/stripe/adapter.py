"""The Stripe adapter: the Provider protocol over Stripe's API, in test mode.

A charge is a PaymentIntent confirmed at creation with a test PaymentMethod, for the run's
own Customer. A subscription gets its own test clock and Customer (the card attached and
made the invoice default), a recurring Price, then the Subscription; its renewal is the
clock moved past the period end (and the hour Stripe waits to finalize a renewal invoice),
polled until `ready`. Every POST carries an `Idempotency-Key` derived from the run and the
step (`<key>.clock`, `<key>.customer`, … for a flow's sub-calls), and every object carries
metadata naming the run, the step and the key, which is how a lost answer is found again
(lookup.py). The secret key lives only in the client's headers; webhook secrets only in
memory. Live mode is refused before this is opened (its declaration's live policy).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from rehearsal.errors import ProviderError, UsageError
from rehearsal.providers.base import (
    Authorize,
    Environment,
    KeyedKind,
    ObjectKind,
    ProviderObject,
    ProviderObserver,
    reports_objects,
)
from rehearsal.providers.jsonwire import Body, JSONValue
from rehearsal.providers.keys import step_of
from rehearsal.providers.stripe import contract as c
from rehearsal.providers.stripe import lookup
from rehearsal.providers.stripe.client import StripeRefusal, gone
from rehearsal.providers.stripe.webhooks import StripeWebhooks

if TYPE_CHECKING:
    from rehearsal.providers.config import TargetConfig

RETURN_URL = "https://example.com/rehearsal/3ds-complete"  # the cardholder's browser only


class Stripe(StripeWebhooks):
    name = "stripe"

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
        clock_timeout: float = 120.0,
        on_authorize: Authorize | None = None,
        observer: ProviderObserver | None = None,
    ) -> None:
        self.environment: Environment = environment
        self.can_advance_clock = environment == "test"  # test clocks exist in test mode only
        self.idempotency_window: float | None = c.IDEMPOTENCY_KEY_TTL
        self.needs_operator = False  # 3-D Secure is shown, never waited for (the plan says)
        self._authorize = on_authorize
        self.clock_timeout = clock_timeout
        super().__init__(
            api_base=api_base,
            secret_key=secret_key,
            http_timeout=http_timeout,
            attempts=attempts,
            backoff=backoff,
            observer=observer,
        )
        self._init_webhooks(webhook_secrets)
        self._customers: dict[str, str] = {}  # run id -> its Customer
        self._clocks: set[str] = set()  # test clocks of the subscriptions this process saw

    # --- cards ------------------------------------------------------------------------------

    def resolve_card(self, card: str) -> str:
        if card in c.TEST_CARDS:
            if self.environment == "live":
                raise UsageError(f"test card {card!r} in live mode")
            return c.TEST_CARDS[card]
        if card.startswith("pm_"):
            return card
        raise UsageError(
            f"unknown card {card!r} for Stripe",
            hint=f"test cards: {', '.join(c.TEST_CARDS)}; or a pm_… PaymentMethod id",
        )

    # --- money ------------------------------------------------------------------------------

    @reports_objects
    def create_payment(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        description: str | None = None,
    ) -> ProviderObject:
        of = step_of(idempotency_key)
        params: dict[str, JSONValue] = {
            "amount": amount,
            "currency": currency.lower(),
            "confirm": True,
            "payment_method": card,
            # No payment_method_types: endive removed it from PaymentIntent create.
            # Automatic payment methods are on by default, so confirm=true needs a
            # return_url; 3-D Secure then answers with a page to redirect to.
            "return_url": RETURN_URL,
            "description": description or "rehearsal charge",
            "metadata": lookup.tags(idempotency_key),
            "expand": ["latest_charge"],
        }
        if of is not None:
            params["customer"] = self._run_customer(of.run_id)
        try:
            answer = self.post_answer(c.PAYMENT_INTENTS, params, idempotency_key)
        except StripeRefusal as exc:
            if exc.payment_intent is None:
                raise
            # A declined card: Stripe answers 402 and keeps the intent, its error on it.
            return self.retrieve("payment", exc.payment_intent)
        intent = answer.data
        if intent.get("status") == "requires_action":
            self._show_authorization(intent)
        return c.parse_payment_intent(intent, request_id=answer.request_id)

    def _show_authorization(self, intent: Body) -> None:
        """Show the 3-D Secure page to an operator, if there is one; never wait for it: the
        plan's expectation (payment.requires_action, or payment.succeeded within a deadline
        an operator can meet) decides."""
        action = intent.get("next_action") or {}
        url = (action.get("redirect_to_url") or {}).get("url")
        if url and self._authorize is not None:
            self._authorize(str(url), f"payment intent {intent.get('id')}")

    def _run_customer(self, run_id: str) -> str:
        """The run's Customer: found by its email (a list call), else created once."""
        if run_id in self._customers:
            return self._customers[run_id]
        found = lookup.run_customer(self, run_id)
        if found is None:
            params: dict[str, JSONValue] = {
                "email": lookup.run_email(run_id),
                "description": f"rehearsal run {run_id}",
                "metadata": {"rehearsal_run": run_id},
            }
            found = str(self.post(c.CUSTOMERS, params, f"rh-{run_id}.customer")["id"])
        self._customers[run_id] = found
        return found

    @reports_objects
    def refund(
        self,
        *,
        idempotency_key: str,
        payment_id: str,
        amount: int | None,
        reason: str | None = None,
    ) -> ProviderObject:
        metadata = lookup.tags(idempotency_key)
        if reason and reason not in c.REFUND_REASONS:
            metadata["rehearsal_reason"] = reason[:500]
        params: dict[str, JSONValue] = {
            "payment_intent": payment_id,
            "amount": amount,  # None: the rest of the payment
            "reason": reason if reason in c.REFUND_REASONS else None,
            "metadata": metadata,
        }
        answer = self.post_answer(c.REFUNDS, params, idempotency_key)
        return c.parse_refund(answer.data, answer.request_id)

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
                f"Stripe prices have no {interval!r} interval",
                hint=f"use one of {', '.join(c.INTERVALS)}",
            )
        key = idempotency_key
        of = step_of(key)
        tags = lookup.tags(key)
        clock_id = self._clock_for(key)
        customer: dict[str, JSONValue] = {
            "email": lookup.run_email(of.run_id) if of else None,
            "description": f"rehearsal subscription {key}"[:350],
            "test_clock": clock_id,
            "payment_method": card,
            "invoice_settings": {"default_payment_method": card},
            "metadata": tags,
        }
        customer_id = str(self.post(c.CUSTOMERS, customer, f"{key}.customer")["id"])
        price: dict[str, JSONValue] = {
            "unit_amount": amount,
            "currency": currency.lower(),
            "recurring": {"interval": interval},
            "product_data": {"name": "rehearsal subscription"},
            "metadata": tags,
        }
        price_id = str(self.post(c.PRICES, price, f"{key}.price")["id"])
        params: dict[str, JSONValue] = {
            "customer": customer_id,
            "items": [{"price": price_id}],
            # The first invoice is paid now, or nothing is made (402, the card's error).
            "payment_behavior": "error_if_incomplete",
            "metadata": tags,
        }
        answer = self.post_answer(c.SUBSCRIPTIONS, params, f"{key}.subscription")
        self._clocks.add(clock_id)
        return c.parse_subscription(answer.data, request_id=answer.request_id)

    def _clock_for(self, key: str) -> str:
        """The subscription's own test clock, at now: found by its name first, so a resumed
        or replayed call reuses it (a new `frozen_time` under the same key would conflict)."""
        found = lookup.clock_of(self, key)
        if found is None:
            params: dict[str, JSONValue] = {
                "frozen_time": int(time.time()),
                "name": lookup.clock_name(key),
            }
            found = self.post(c.TEST_CLOCKS, params, f"{key}.clock")
        self._clocks.add(str(found["id"]))
        return str(found["id"])

    def cancel(self, *, subscription_id: str, reason: str | None = None) -> ProviderObject:
        answer = self.exchange("DELETE", c.SUBSCRIPTION.format(id=subscription_id))
        return c.parse_subscription(answer.data, request_id=answer.request_id)

    # --- reading the books ------------------------------------------------------------------

    @reports_objects
    def retrieve(self, kind: ObjectKind, object_id: str) -> ProviderObject:
        try:
            return self._retrieve(kind, object_id)
        except StripeRefusal as exc:
            raise gone(exc, kind, object_id) from None
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(
                f"Stripe answered GET {kind} {object_id} with an unexpected body"
            ) from None

    def _retrieve(self, kind: ObjectKind, object_id: str) -> ProviderObject:
        if kind == "payment":
            answer = self.exchange(
                "GET", f"{c.PAYMENT_INTENT.format(id=object_id)}?expand[0]=latest_charge"
            )
            refunds = list(self.list_all(c.REFUNDS, {"payment_intent": object_id}))
            ids = tuple(str(r["id"]) for r in refunds)
            payment = c.parse_payment_intent(answer.data, ids, answer.request_id)
            # A refund Stripe still has `pending` (or `requires_action`) is in the charge's
            # amount_refunded but not back on the card: https://docs.stripe.com/api/refunds/object
            pending = sum(
                int(r.get("amount") or 0)
                for r in refunds
                if r.get("status") in ("pending", "requires_action")
            )
            return dataclasses.replace(payment, amount_refund_pending=pending)
        if kind == "refund":
            answer = self.exchange("GET", c.REFUND.format(id=object_id))
            return c.parse_refund(answer.data, answer.request_id)
        answer = self.exchange("GET", c.SUBSCRIPTION.format(id=object_id))
        sub = answer.data
        if clock := c.ident(sub.get("test_clock")):
            self._clocks.add(clock)
        return c.parse_subscription(sub, self._renewals(object_id), answer.request_id)

    def _renewals(self, subscription_id: str) -> int:
        paid = self.list_all(c.INVOICES, {"subscription": subscription_id, "status": "paid"})
        return max((c.renewal_mark(i) for i in paid), default=0)

    @reports_objects
    def subscription_payments(self, subscription_id: str) -> list[ProviderObject]:
        """The subscription's payments: its Customer's PaymentIntents (each subscription
        has a Customer of its own, so these are its invoices' payments and nothing else)."""
        try:
            sub = self.get(c.SUBSCRIPTION.format(id=subscription_id))
        except StripeRefusal as exc:
            raise gone(exc, "subscription", subscription_id) from None
        customer = c.ident(sub.get("customer"))
        if customer is None:
            return []
        params: dict[str, JSONValue] = {"customer": customer, "expand": ["data.latest_charge"]}
        payments = [c.parse_payment_intent(pi) for pi in self.list_all(c.PAYMENT_INTENTS, params)]
        return [p for p in payments if p.status not in ("failed", "requires_payment_method")]

    @reports_objects
    def find_by_idempotency_key(self, kind: KeyedKind, key: str) -> ProviderObject | None:
        return lookup.find(self, kind, key)

    # --- the clock --------------------------------------------------------------------------

    def advance_clock(self, subscription_id: str, *, idempotency_key: str) -> bool:
        """Move the subscription's clock past its period end and the hour Stripe waits
        before it finalizes (and charges) a renewal invoice; wait until the clock is
        `ready`. Well within Stripe's limit of two intervals per advance."""
        if not self.can_advance_clock:
            return False
        sub = self.get(c.SUBSCRIPTION.format(id=subscription_id))
        clock_id = c.ident(sub.get("test_clock"))
        end = c.period_end(sub)
        if clock_id is None or end is None:
            return False  # not on a test clock: its renewal comes in its own time
        self._clocks.add(clock_id)
        target = end + c.INVOICE_FINALIZE_DELAY + 60
        self.post(
            c.TEST_CLOCK_ADVANCE.format(id=clock_id), {"frozen_time": target}, idempotency_key
        )
        self._await_clock(clock_id)
        return True

    def _await_clock(self, clock_id: str) -> None:
        """Poll the clock until Stripe says `ready` (advancing is asynchronous), with a
        deadline; the interval grows from 50 ms to 2 s."""
        deadline = time.monotonic() + self.clock_timeout
        pause = 0.05
        while True:
            clock = self.get(c.TEST_CLOCK.format(id=clock_id))
            status = clock.get("status")
            if status == "ready":
                return
            if status == "internal_failure":
                raise ProviderError(
                    f"Stripe test clock {clock_id} failed to advance (internal_failure)",
                    hint="Stripe asks to delete the clock and start a new one",
                )
            if time.monotonic() + pause > deadline:
                raise ProviderError(
                    f"Stripe test clock {clock_id} still {status!r} after {self.clock_timeout:g}s",
                    hint="the renewal may still come; `rehearsal resume` carries on",
                )
            time.sleep(pause)  # the poll interval, not a wait for a condition
            pause = min(pause * 2, 2.0)

    # --- the end ----------------------------------------------------------------------------

    def close(self) -> None:
        """Give webhooks back, then delete the test clocks whose subscriptions are settled
        (cancelled, their payments refunded). Deleting a clock deletes its Customer and
        subscription with it, so only a settled one goes: a paused run's stays."""
        try:
            self._give_back_webhooks()
            for clock_id in sorted(self._clocks):
                try:
                    if self._settled_clock(clock_id):
                        self.delete(c.TEST_CLOCK.format(id=clock_id))
                except ProviderError:
                    pass  # Stripe deletes a clock itself after 7 days
        finally:
            super().close()  # HttpCore's: its connections, and httpx's client if made

    def _settled_clock(self, clock_id: str) -> bool:
        for customer in self.list_all(c.CUSTOMERS, {"test_clock": clock_id}):
            subs = self.list_all(c.SUBSCRIPTIONS, {"customer": customer["id"], "status": "all"})
            if any(s.get("status") != "canceled" for s in subs):
                return False
            params: dict[str, JSONValue] = {
                "customer": customer["id"],
                "expand": ["data.latest_charge"],
            }
            for intent in self.list_all(c.PAYMENT_INTENTS, params):
                payment = c.parse_payment_intent(intent)
                if payment.status in ("succeeded", "partially_refunded", "processing"):
                    return False
        return True


def from_config(
    config: TargetConfig,
    *,
    observer: ProviderObserver | None = None,
    authorize: Authorize | None = None,
) -> Stripe:
    return Stripe(
        on_authorize=authorize,
        observer=observer,
        api_base=config.api_base,
        secret_key=config.secret_key,
        webhook_secrets=config.webhook_secrets,
        environment=config.environment,
        backoff=config.backoff,
        http_timeout=config.http_timeout,
    )
