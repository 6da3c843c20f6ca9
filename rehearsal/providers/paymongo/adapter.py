"""The PayMongo adapter: the Provider protocol over PayMongo's JSON:API (httpx + tenacity).

A charge is three calls (Payment Intent, Payment Method, attach) and a subscription five
(plan, customer, subscription, then a Payment Method attached to its first invoice's
intent). Each creating POST carries an `Idempotency-Key` derived from the run and step
(`<key>.intent`, `<key>.method`, ...), and a retry of a 429/5xx re-sends the same key, so a
retried or resumed call gets PayMongo's saved answer instead of moving money twice. When an
intent needs 3-D Secure, the operator is shown the redirect URL (`authorize`) and the
intent is polled until it leaves `awaiting_next_action`, within a deadline. The secret key
lives only in the client's auth; the webhook secret only in memory. Messages carry
PayMongo's error code and detail, never a key, a header or a raw body.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from rehearsal.errors import ProviderError, UsageError
from rehearsal.providers.base import (
    ApiCall,
    Environment,
    FeatureUnavailable,
    KeyLookupUnsupported,
    MalformedEvent,
    NormalizedEvent,
    ObjectKind,
    ProviderObject,
    ProviderObserver,
    WebhookState,
    reports_objects,
)
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo import signature
from rehearsal.providers.paymongo.client import PayMongoHttp
from rehearsal.ui.operator import Authorize  # shown through the core operator service

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
RETURN_URL = "https://example.com/rehearsal/3ds-complete"  # the customer's browser only


class PayMongo(PayMongoHttp):
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

    # --- cards ------------------------------------------------------------------------------

    def resolve_card(self, card: str) -> str:
        if card in c.TEST_CARDS:
            if self.environment == "live":
                raise UsageError(
                    f"test card {card!r} in live mode",
                    hint="live mode needs a real card: card: env:VARIABLE holding a PayMongo "
                    "payment method id (pm_…) made with your public key",
                )
            return f"test:{card}"
        if card.startswith("pm_"):
            return card
        raise UsageError(
            f"unknown card {card!r} for PayMongo",
            hint=f"test cards: {', '.join(c.TEST_CARDS)}; or env:VARIABLE with a pm_ id",
        )

    def _payment_method(self, key: str, card: str) -> str:
        if not card.startswith("test:"):
            return card
        test = c.TEST_CARDS[card.removeprefix("test:")]
        body = c.envelope(
            {
                "type": "card",
                "details": {
                    "card_number": test.number,
                    "exp_month": 12,
                    "exp_year": date.today().year + 3,
                    "cvc": "123",
                },
                "billing": {"name": "Rehearsal Run", "email": "rehearsal@example.com"},
            }
        )
        pm_id, _, _ = c.resource(self._post(c.PAYMENT_METHODS, body, f"{key}.method"))
        return pm_id

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
        attributes: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "payment_method_allowed": ["card"],
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "description": description or "rehearsal charge",
            "metadata": {"rehearsal_key": idempotency_key},
        }
        intent = self._post(c.PAYMENT_INTENTS, c.envelope(attributes), f"{idempotency_key}.intent")
        intent_id, _, _ = c.resource(intent)
        return self._pay_intent(idempotency_key, intent_id, card)

    def _pay_intent(
        self, key: str, intent_id: str, card: str, *, automatic: bool = False, what: str = ""
    ) -> ProviderObject:
        """Attach the card to an intent, see 3-D Secure through, and return its payment.
        `automatic`: press "Authorize Test Payment" on the test page before asking a person."""
        pm_id = self._payment_method(key, card)
        body = c.envelope({"payment_method": pm_id, "return_url": RETURN_URL})
        attached = self._post(c.ATTACH.format(id=intent_id), body, f"{key}.attach")
        _, _, a = c.resource(attached)
        if a.get("status") in (c.THREE_DS_STATUS, "processing"):
            a = self._await_intent(intent_id, a, automatic, what or f"payment intent {intent_id}")
        return self._intent_payment(intent_id, a)

    def _await_intent(
        self, intent_id: str, a: dict[str, Any], automatic: bool = False, what: str = ""
    ) -> dict[str, Any]:
        if a.get("status") == c.THREE_DS_STATUS:
            url = ((a.get("next_action") or {}).get("redirect") or {}).get("url")
            if not url:
                raise ProviderError(f"PayMongo intent {intent_id} awaits an action with no URL")
            if automatic and self._authorize_on_test_page(str(url)):
                _, _, a = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
            elif automatic and self._intent_status(intent_id) != c.THREE_DS_STATUS:
                pass  # authorized before (a resumed run re-sent the attach): nothing to do
            elif self._authorize is None:
                raise UsageError(
                    f"PayMongo intent {intent_id} needs 3-D Secure authorization by an operator",
                    hint="run in a terminal, where the URL is shown to open in a browser",
                )
            else:
                self._authorize(url, what or f"payment intent {intent_id}")
        deadline = time.monotonic() + self.authorize_timeout
        while a.get("status") in (c.THREE_DS_STATUS, "processing"):
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"PayMongo intent {intent_id} was not authorized within "
                    f"{self.authorize_timeout:g}s (status {a.get('status')!r})",
                    hint="open the URL shown and authorize, then resume the run",
                )
            time.sleep(self.poll_interval)  # the poll interval, not a wait for a condition
            _, _, a = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
        return a

    def _intent_status(self, intent_id: str) -> object:
        _, _, a = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
        return a.get("status")

    def _authorize_on_test_page(self, url: str) -> bool:
        """Test mode: press "Authorize Test Payment" on the redirect page, without a person.
        Reported like an API call (never the URL: its token authorizes the payment)."""
        import httpx  # the test page is PayMongo's, over https

        from rehearsal.providers.paymongo.authorize import AUTHORIZE_BUTTON, press_test_button

        started = time.perf_counter()
        try:
            status = press_test_button(url, AUTHORIZE_BUTTON, timeout=self._httpx_args["timeout"])
        except httpx.HTTPError:
            status = None
        if self.observer is not None:
            elapsed = (time.perf_counter() - started) * 1000
            label = f"3-D Secure test page: {AUTHORIZE_BUTTON}"
            self.observer.called(ApiCall("POST", label, status, None, elapsed))
        return status is not None and 200 <= status < 300

    def _intent_payment(self, intent_id: str, a: Mapping[str, Any]) -> ProviderObject:
        payments = [p for p in a.get("payments") or [] if isinstance(p, Mapping)]
        if not payments:
            error = a.get("last_payment_error") or {}
            code = error.get("sub_code") or error.get("code") if isinstance(error, Mapping) else ""
            raise ProviderError(
                f"PayMongo intent {intent_id} is {a.get('status')!r} with no payment"
                + (f" ({code})" if code else ""),
                code=str(code) or None,
            )
        payment = payments[-1]
        return c.parse_payment(str(payment["id"]), payment["attributes"])

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
        attributes: dict[str, Any] = {
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

    # --- webhooks ---------------------------------------------------------------------------

    def existing_webhook(self, url: str) -> WebhookState | None:
        """The webhook registered for `url`, enabled or not (GET /v1/webhooks). PayMongo
        keeps one webhook per URL and asks that it be created once, not per run. Pages
        through the list (`after` the last id while `has_more`), so an account with more
        webhooks than one page holds still finds its own."""
        # 100 a page (ASSUMED PayMongo's maximum; docs/providers/paymongo.md); a list that
        # never ends is PayMongo misbehaving, not an account with that many webhooks.
        limit, pages, after = 100, 50, ""
        for _ in range(pages):
            query = f"?limit={limit}" + (f"&after={after}" if after else "")
            body = self._get(c.WEBHOOKS + query)
            hooks = [h for h in body.get("data") or [] if isinstance(h, dict)]
            for hook in hooks:
                if (hook.get("attributes") or {}).get("url") == url:
                    return _webhook_state(hook)
            if body.get("has_more") is not True or not hooks:
                return None
            after = str(hooks[-1].get("id") or "")
            if not after:
                return None
        raise ProviderError(
            f"PayMongo's webhook list did not end after {pages} pages",
            hint="check the account's webhooks in PayMongo's dashboard (Developers > Webhooks)",
        )

    def register_webhook(
        self, url: str, events: list[str], existing: WebhookState | None = None
    ) -> str:
        """Make `url` receive exactly the PayMongo events behind `events` (the rehearsal's
        names): adopt `existing` (enable it, set its events) or create the webhook once.
        Its secret stays in memory only. close() gives it back as it was."""
        names = sorted({p for e in events for p in c.PROVIDER_EVENTS.get(e, [e])})
        if existing is None:
            # A fresh key: a retry of this call re-sends it, but a later run that finds no
            # webhook must not get back an earlier run's (by now disabled) one.
            key = f"rh-webhook-{uuid.uuid4().hex}"
            body = self._post(c.WEBHOOKS, c.envelope({"url": url, "events": names}), key)
            webhook_id, _, a = c.resource(body)
            self._keep_secret(webhook_id, a, required=True)
            self._webhooks[webhook_id] = None
            return webhook_id
        webhook_id = existing.endpoint_id
        # The secret first, before anything changes: without it no delivery can be verified.
        _, _, a = c.resource(self._get(c.WEBHOOK.format(id=webhook_id)))
        self._keep_secret(webhook_id, a, required=not self._webhook_secrets)
        self._webhooks[webhook_id] = existing
        if existing.status != "enabled":
            self._post(c.WEBHOOK_ENABLE.format(id=webhook_id), None, None)
        if sorted(existing.events) != names:
            self._put(c.WEBHOOK.format(id=webhook_id), c.envelope({"events": names}))
        return webhook_id

    def _keep_secret(self, webhook_id: str, attributes: dict[str, Any], *, required: bool) -> None:
        secret = attributes.get("secret_key")
        if isinstance(secret, str) and secret:
            if secret not in self._webhook_secrets:
                self._webhook_secrets.append(secret)
        elif required:
            raise UsageError(
                f"PayMongo did not return the secret of webhook {webhook_id}, so its "
                "deliveries cannot be verified",
                hint="copy it from PayMongo's dashboard (Developers > Webhooks > Show Secret) "
                "into PAYMONGO_WEBHOOK_SECRET",
            )

    def find_webhook(self, url: str) -> str | None:
        """The enabled webhook registered for `url`: a run killed while creating it, before
        it wrote the answer, finds it by URL."""
        state = self.existing_webhook(url)
        return state.endpoint_id if state is not None and state.status == "enabled" else None

    def restore_webhook(self, endpoint_id: str, prior: WebhookState | None) -> None:
        """Give the webhook back as it was: one the run created is disabled (PayMongo's API
        deletes none); one it adopted gets its events back and, if it was disabled, is
        disabled again. Reads it first, so a repeated restore changes nothing."""
        _, _, a = c.resource(self._get(c.WEBHOOK.format(id=endpoint_id)))
        if prior is not None and sorted(a.get("events") or []) != sorted(prior.events):
            self._put(c.WEBHOOK.format(id=endpoint_id), c.envelope({"events": list(prior.events)}))
        wanted = "disabled" if prior is None else prior.status
        if wanted == "disabled" and a.get("status") == "enabled":
            self._post(c.WEBHOOK_DISABLE.format(id=endpoint_id), None, None)
        elif wanted == "enabled" and a.get("status") != "enabled":
            self._post(c.WEBHOOK_ENABLE.format(id=endpoint_id), None, None)
        self._webhooks.pop(endpoint_id, None)

    def remove_webhook(self, endpoint_id: str) -> None:
        """Disable a webhook this run created (by id: after a crash, from the ledger)."""
        self.restore_webhook(endpoint_id, self._webhooks.get(endpoint_id))

    def disable_webhooks(self) -> None:
        """Restore every webhook this process registered, the last first."""
        while self._webhooks:
            endpoint_id = next(reversed(self._webhooks))
            self.restore_webhook(endpoint_id, self._webhooks[endpoint_id])

    def _put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("PUT", path, body, None)

    def parse_event(self, body: bytes) -> NormalizedEvent:
        return parse_event(body)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> NormalizedEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        signature.verify(
            lowered.get(signature.HEADER.lower()),
            body,
            self._webhook_secrets,
            environment=self.environment,
        )
        return parse_event(body)

    def close(self) -> None:
        try:
            self.disable_webhooks()
        except ProviderError:
            pass  # the operator sees the webhook in PayMongo's dashboard; nothing moves money
        finally:
            super().close()  # HttpCore's: its connections, and httpx's client if made


def parse_event(body: bytes) -> NormalizedEvent:
    """A verified PayMongo event body to a NormalizedEvent; MalformedEvent if it isn't one."""
    try:
        payload = json.loads(body)
        event = payload["data"]
        event_id = str(event["id"])
        attributes = event["attributes"]
        event_type = str(attributes["type"])
        environment = "live" if attributes["livemode"] else "test"
        created = float(attributes.get("created_at") or 0)
        data = attributes["data"]
    except (ValueError, KeyError, TypeError):
        raise MalformedEvent(
            "not a PayMongo event (data.id, data.attributes.type, livemode, data)"
        ) from None
    obj: ProviderObject | None = None
    try:
        kind, a = str(data["type"]), data["attributes"]
        if kind == "payment":
            obj = c.parse_payment(str(data["id"]), a)
        elif kind == "subscription":
            obj = c.parse_subscription(str(data["id"]), a)
        elif kind == "invoice":
            obj = c.parse_invoice_as_subscription(a)
        elif kind == "refund":
            obj = c.parse_refund(str(data["id"]), a)
    except (KeyError, TypeError, ValueError):
        raise MalformedEvent(f"{event_type} carries no valid {data.get('type')}") from None
    normalized = c.normalized_type(event_type, obj)
    if event_type == "payment.refund.updated" and obj is not None and obj.kind == "payment":
        normalized = c.refund_update_type(data["attributes"])
    return NormalizedEvent(
        event_id=event_id,
        type=normalized,
        provider_type=event_type,
        environment=environment,
        object=obj,
        created_at=created,
        payload=payload,
    )


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


def _webhook_state(hook: dict[str, Any]) -> WebhookState:
    a = hook.get("attributes") or {}
    return WebhookState(
        endpoint_id=str(hook["id"]),
        status=str(a.get("status") or "disabled"),
        events=tuple(str(e) for e in a.get("events") or []),
    )
