"""Stripe's wire contract as the adapter uses it: paths, headers, events, test cards, shapes.

Written from Stripe's API reference (https://docs.stripe.com/api) and its official Python
library (stripe/stripe-python 16.1.0, whose types describe API version 2026-10-28.endive);
each fact's source is in docs/providers/stripe.md, "The adapter". The simulator's Stripe
dialect does not import this module, nor this one the simulator: the two are written apart
and each checked against Stripe's library, so a shared mistake cannot make them agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from rehearsal.providers.base import Environment, ProviderObject
from rehearsal.providers.jsonwire import Body

API_BASE = "https://api.stripe.com"
SECRET_KEY_PREFIX: dict[Environment, str] = {"test": "sk_test_", "live": "sk_live_"}
# Restricted keys, with only the permissions the loop needs (https://docs.stripe.com/keys
# #limit-access; docs/providers/stripe.md lists them): the better key to hand a tool.
RESTRICTED_KEY_PREFIX: dict[Environment, tuple[str, ...]] = {
    "test": ("rk_test_",),
    "live": ("rk_live_",),
}
# Pinned, so a change of the account's default version cannot change the shapes we read:
# the version stripe-python 16.1.0 sends (`stripe/_api_version.py`), whose types we read.
API_VERSION = "2026-10-28.endive"
VERSION_HEADER = "Stripe-Version"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REQUEST_ID_HEADER = "Request-Id"
REPLAY_HEADER = "Idempotent-Replayed"
SIGNATURE_HEADER = "Stripe-Signature"
MAX_IDEMPOTENCY_KEY = 255  # https://docs.stripe.com/idempotency
IDEMPOTENCY_KEY_TTL = 24 * 3600.0  # "keys ... removed ... after they're at least 24 hours old"
SIGNATURE_TOLERANCE = 300.0  # stripe-python `Webhook.DEFAULT_TOLERANCE`
CLOCK_LIFETIME = 7 * 24 * 3600.0  # API example: deletes_after - created = 604800
INVOICE_FINALIZE_DELAY = 3600  # a renewal's draft is finalized (and paid) an hour later
LIST_LIMIT = 100  # the largest `limit` a list call takes

PAYMENT_INTENTS = "/v1/payment_intents"
PAYMENT_INTENT = "/v1/payment_intents/{id}"
REFUNDS = "/v1/refunds"
REFUND = "/v1/refunds/{id}"
CUSTOMERS = "/v1/customers"
PRICES = "/v1/prices"
SUBSCRIPTIONS = "/v1/subscriptions"
SUBSCRIPTION = "/v1/subscriptions/{id}"  # DELETE cancels
INVOICES = "/v1/invoices"
TEST_CLOCKS = "/v1/test_helpers/test_clocks"
TEST_CLOCK = "/v1/test_helpers/test_clocks/{id}"
TEST_CLOCK_ADVANCE = "/v1/test_helpers/test_clocks/{id}/advance"
WEBHOOK_ENDPOINTS = "/v1/webhook_endpoints"
WEBHOOK_ENDPOINT = "/v1/webhook_endpoints/{id}"
EVENTS = "/v1/events"

# What a plan may wait for -> the Stripe events behind it (a webhook endpoint is created
# with exactly these `enabled_events`; GET /v1/events is filtered by them).
PROVIDER_EVENTS: dict[str, list[str]] = {
    "payment.succeeded": ["payment_intent.succeeded"],
    "payment.failed": ["payment_intent.payment_failed"],
    "payment.requires_action": ["payment_intent.requires_action"],
    # Sent for every refund, partial ones too; its Charge carries amount_refunded.
    "payment.refunded": ["charge.refunded"],
    "payment.refund_updated": ["refund.created", "refund.updated"],
    "subscription.created": ["customer.subscription.created"],
    # invoice.paid of a renewal (billing_reason subscription_cycle) only; see normalized_type.
    "subscription.renewed": ["invoice.paid"],
    "subscription.past_due": ["customer.subscription.updated"],
    "subscription.cancelled": ["customer.subscription.deleted"],
}
EVENT_TYPES = tuple(PROVIDER_EVENTS)
# Stripe's names -> the rehearsal's, for the plan checker's hint.
NATIVE_EVENTS = {
    native: ours
    for ours, natives in PROVIDER_EVENTS.items()
    for native in natives
    if native not in ("customer.subscription.updated", "invoice.paid")
} | {"invoice.paid": "subscription.renewed"}

# https://docs.stripe.com/testing: test PaymentMethods, usable in test mode only.
TEST_CARDS: dict[str, str] = {
    "visa": "pm_card_visa",
    "mastercard": "pm_card_mastercard",
    "declined": "pm_card_chargeDeclined",
    "insufficient_funds": "pm_card_chargeDeclinedInsufficientFunds",
    "expired_card": "pm_card_chargeDeclinedExpiredCard",
    "visa_3ds": "pm_card_threeDSecure2Required",  # 4000 0027 6000 3184
    "authentication_required": "pm_card_authenticationRequired",  # 4000 0025 0000 3155
}
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
INTERVALS = ("day", "week", "month", "year")  # recurring[interval]


def environment(obj: Body) -> str:
    return "live" if obj.get("livemode") else "test"


def ident(value: object) -> str | None:
    """An expandable field's id, whether it came as an id or as the expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def payment_status(intent_status: str, amount: int, refunded: int, failed: bool) -> str:
    """A PaymentIntent's status in the rehearsal's words (plans read alike everywhere)."""
    if intent_status == "succeeded":
        if refunded >= amount > 0:
            return "refunded"
        return "partially_refunded" if refunded else "succeeded"
    if intent_status == "requires_payment_method" and failed:
        return "failed"  # a declined attempt: Stripe keeps the intent for another method
    return intent_status


def parse_payment_intent(
    pi: Body,
    refund_ids: tuple[str, ...] = (),
    request_id: str | None = None,
) -> ProviderObject:
    charge = pi.get("latest_charge")
    charge = charge if isinstance(charge, Mapping) else {}
    refunded = int(charge.get("amount_refunded") or 0)
    error = pi.get("last_payment_error")
    error = error if isinstance(error, Mapping) else {}
    amount = int(pi["amount"])
    card = _card(charge)
    return ProviderObject(
        kind="payment",
        id=str(pi["id"]),
        status=payment_status(str(pi["status"]), amount, refunded, bool(error)),
        amount=amount,
        currency=str(pi.get("currency") or ""),
        environment=environment(pi),
        amount_refunded=refunded,
        refund_ids=refund_ids,
        failure_code=error.get("decline_code") or error.get("code"),
        card_brand=card.get("brand"),
        card_last4=card.get("last4"),
        request_id=request_id,
    )


def parse_charge_as_payment(charge: Body, refund_ids: tuple[str, ...]) -> ProviderObject:
    """A Charge (charge.refunded) seen as its PaymentIntent: the payment the run knows."""
    amount = int(charge["amount"])
    refunded = int(charge.get("amount_refunded") or 0)
    status = "succeeded" if charge.get("status") == "succeeded" else str(charge.get("status"))
    card = _card(charge)
    return ProviderObject(
        kind="payment",
        id=ident(charge.get("payment_intent")) or str(charge["id"]),
        status=payment_status(status, amount, refunded, status == "failed"),
        amount=amount,
        currency=str(charge.get("currency") or ""),
        environment=environment(charge),
        amount_refunded=refunded,
        refund_ids=refund_ids,
        card_brand=card.get("brand"),
        card_last4=card.get("last4"),
    )


def charge_refund_ids(charge: Body) -> tuple[str, ...]:
    """The refunds a Charge lists, where it carries them (not expanded by default)."""
    refunds = charge.get("refunds")
    data = refunds.get("data") if isinstance(refunds, Mapping) else None
    return tuple(str(r["id"]) for r in data or [] if isinstance(r, Mapping) and r.get("id"))


def parse_refund(refund: Body, request_id: str | None = None) -> ProviderObject:
    return ProviderObject(
        kind="refund",
        id=str(refund["id"]),
        status=str(refund["status"]),
        amount=int(refund["amount"]),
        currency=str(refund.get("currency") or ""),
        environment=environment(refund),
        payment_id=ident(refund.get("payment_intent")),
        request_id=request_id,
    )


def subscription_status(status: str) -> str:
    return "cancelled" if status == "canceled" else status


def first_item(sub: Body) -> Body:
    items = sub.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    return data[0] if data and isinstance(data[0], Mapping) else {}


def period_end(sub: Body) -> int | None:
    """The current period's end: on the subscription's item since API 2025-03-31.basil,
    on the subscription itself before it."""
    value = first_item(sub).get("current_period_end") or sub.get("current_period_end")
    return int(value) if value else None


def parse_subscription(
    sub: Body, renewals: int = 0, request_id: str | None = None
) -> ProviderObject:
    item = first_item(sub)
    price = item.get("price")
    price = price if isinstance(price, Mapping) else {}
    quantity = int(item.get("quantity") or 1)
    return ProviderObject(
        kind="subscription",
        id=str(sub["id"]),
        status=subscription_status(str(sub["status"])),
        amount=int(price.get("unit_amount") or 0) * quantity,
        currency=str(price.get("currency") or sub.get("currency") or ""),
        environment=environment(sub),
        payment_id=None,
        renewals=renewals,
        request_id=request_id,
    )


def invoice_subscription(invoice: Body) -> str | None:
    """The subscription an invoice bills: under parent.subscription_details since API
    2025-03-31.basil, `subscription` before it."""
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if isinstance(details, Mapping) and details.get("subscription"):
        return ident(details["subscription"])
    return ident(invoice.get("subscription"))


def is_renewal(invoice: Body) -> bool:
    return invoice.get("billing_reason") == "subscription_cycle" and invoice.get("status") == "paid"


def renewal_mark(invoice: Body) -> int:
    """What grows with each renewal: the paid renewal invoice's creation time (clock time).
    Stripe keeps no renewal count; the rehearsal only compares these."""
    return int(invoice.get("created") or 0) if is_renewal(invoice) else 0


def parse_invoice_as_subscription(invoice: Body) -> ProviderObject:
    """A paid invoice (invoice.paid), seen as the subscription it renews."""
    sub_id = invoice_subscription(invoice)
    if sub_id is None:
        raise KeyError("subscription")
    return ProviderObject(
        kind="subscription",
        id=sub_id,
        status="active" if invoice.get("status") == "paid" else str(invoice.get("status")),
        amount=int(invoice.get("amount_paid") or 0),
        currency=str(invoice.get("currency") or ""),
        environment=environment(invoice),
        renewals=renewal_mark(invoice),
    )


def normalized_type(event_type: str, obj: Body) -> str:
    if event_type == "invoice.paid":
        return "subscription.renewed" if is_renewal(obj) else "invoice.paid"
    if event_type == "customer.subscription.updated":
        return "subscription.past_due" if obj.get("status") == "past_due" else event_type
    for ours, natives in PROVIDER_EVENTS.items():
        if event_type in natives:
            return ours
    return event_type


def _card(charge: Body) -> Body:
    details = charge.get("payment_method_details")
    card = details.get("card") if isinstance(details, Mapping) else None
    return dict(card) if isinstance(card, Mapping) else {}
