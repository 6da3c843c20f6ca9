"""PayMongo's wire contract, in one place: paths, keys, event names, test cards, shapes.

Each fact carries its source in docs/providers/paymongo.md; what PayMongo does not document
is marked ASSUMED there and here. The adapter imports this module; the simulator's PayMongo
dialect does not (it keeps its own, written from the same docs: rehearsal/simulator/
paymongo_spec.py, paymongo_cards.py, paymongo_signing.py), and tests check both against the
examples in PayMongo's documentation (tests/fixtures/paymongo/) and against each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from rehearsal.providers.base import Environment, ProviderObject
from rehearsal.providers.jsonwire import Body, JSONObject

API_BASE = "https://api.paymongo.com"
SECRET_KEY_PREFIX: dict[Environment, str] = {"test": "sk_test_", "live": "sk_live_"}
PUBLIC_KEY_PREFIX: dict[Environment, str] = {"test": "pk_test_", "live": "pk_live_"}
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
# https://developers.paymongo.com/reference/idempotent-requests: keys expire after 24 hours.
IDEMPOTENCY_KEY_TTL = 24 * 3600.0

# Paths (all under /v1).
PAYMENT_INTENTS = "/v1/payment_intents"
PAYMENT_INTENT = "/v1/payment_intents/{id}"
ATTACH = "/v1/payment_intents/{id}/attach"
PAYMENT_METHODS = "/v1/payment_methods"
PAYMENT = "/v1/payments/{id}"
REFUNDS = "/v1/refunds"
REFUND = "/v1/refunds/{id}"
PLANS = "/v1/plans"  # PayMongo's guide; third-party code uses the fallback below
PLANS_FALLBACK = "/v1/subscriptions/plans"
CUSTOMERS = "/v1/customers"
SUBSCRIPTIONS = "/v1/subscriptions"
SUBSCRIPTION = "/v1/subscriptions/{id}"
CANCEL = "/v1/subscriptions/{id}/cancel"
TEST_CYCLE = "/v1/subscriptions/{id}/test_cycle"
INVOICES = "/v1/invoices"  # ASSUMED: ?subscription_id= filters a subscription's invoices
WEBHOOKS = "/v1/webhooks"
WEBHOOK = "/v1/webhooks/{id}"
WEBHOOK_DISABLE = "/v1/webhooks/{id}/disable"
WEBHOOK_ENABLE = "/v1/webhooks/{id}/enable"

# PayMongo's event names -> the rehearsal's transitions. subscription.updated is mapped by
# status in normalized_type(); PayMongo documents no cancellation event.
# payment.refund.updated ("every time a payment's refund is updated. This includes failed
# refunds", https://developers.paymongo.com/docs/webhooks) by the updated refund's status in
# refund_update_type().
NORMALIZED_EVENT = {
    "payment.paid": "payment.succeeded",
    "payment.failed": "payment.failed",
    "payment.refunded": "payment.refunded",
    "payment.refund.updated": "payment.refund_updated",
    "subscription.activated": "subscription.created",  # ASSUMED: third-party lists only
    "subscription.invoice.paid": "subscription.renewed",
    "subscription.past_due": "subscription.past_due",
}
# What to subscribe a webhook to for each transition a plan waits for.
PROVIDER_EVENTS = {
    "payment.succeeded": ["payment.paid"],
    "payment.failed": ["payment.failed"],
    "payment.refunded": ["payment.refunded", "payment.refund.updated"],
    "subscription.created": ["subscription.activated"],
    "subscription.renewed": ["subscription.invoice.paid"],
    "subscription.past_due": ["subscription.past_due"],
    "subscription.cancelled": ["subscription.updated"],
}

# PayMongo statuses -> the rehearsal's (plans read the same across providers). A payment
# documents `paid` and `failed` only: it stays `paid` when refunded; each refund has its own
# status (https://developers.paymongo.com/v1/reference/refund-resource).
PAYMENT_STATUS = {"paid": "succeeded"}
REFUND_STATUSES = ("pending", "processing", "succeeded", "failed")
REFUND_IN_FLIGHT = ("pending", "processing")
INTERVALS = {"week": "weekly", "month": "monthly", "year": "yearly"}
CANCELLATION_REASONS = ("too_expensive", "missing_features", "switched_service", "unused", "other")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "others")
MIN_AMOUNT = 2000  # centavos: "amount must be at least 2000." (error-handling example)
THREE_DS_STATUS = "awaiting_next_action"


@dataclass(frozen=True)
class TestCard:
    number: str  # PayMongo's published test numbers; sent to PayMongo only in test mode
    three_ds: str  # "none", "required", "optional"
    failure_code: str | None  # the payment's sub_code when it fails; None: it succeeds


# https://developers.paymongo.com/docs/payment-acceptance-testing and .../testing (the older
# page: the PH cards, the 3-D Secure cards and one card per decline sub code). The names are
# the ones a plan uses (`card: visa`); the simulator keeps its own table of the numbers
# (rehearsal/simulator/paymongo/cards.py) and a test compares the two.
TEST_CARDS: dict[str, TestCard] = {
    "visa": TestCard("4343434343434345", "none", None),
    "visa_debit": TestCard("4571736000000075", "none", None),
    "visa_credit_ph": TestCard("4009930000001421", "none", None),
    "visa_debit_ph": TestCard("4404520000001439", "none", None),
    "mastercard": TestCard("5555444444444457", "none", None),
    "mastercard_no_3ds": TestCard("5123000000000002", "none", None),
    "mastercard_debit": TestCard("5455590000000009", "none", None),
    "mastercard_prepaid": TestCard("5339080000000003", "none", None),
    "mastercard_credit_ph": TestCard("5240050000001440", "none", None),
    "mastercard_debit_ph": TestCard("5577510000001446", "none", None),
    "visa_3ds": TestCard("4120000000000007", "required", None),
    # 3-D Secure optional; in a subscription it activates and its renewals fail.
    "mastercard_3ds": TestCard("5123000000000001", "optional", None),
    "declined_before_3ds": TestCard("4230000000000004", "required", "generic_decline"),
    "declined_after_3ds": TestCard("5234000000000106", "required", "generic_decline"),
    "declined": TestCard("4111111111111111", "none", "generic_decline"),
    "generic_decline": TestCard("4400000000000016", "none", "generic_decline"),
    "generic_decline_ph": TestCard("4028220000001457", "none", "generic_decline"),
    "expired_card": TestCard("4200000000000018", "none", "card_expired"),
    "invalid_cvc": TestCard("4300000000000017", "none", "cvc_invalid"),
    "fraudulent": TestCard("4500000000000015", "none", "fraudulent"),
    "insufficient_funds": TestCard("5100000000000198", "none", "insufficient_funds"),
    "insufficient_funds_ph": TestCard("5240460000001466", "none", "insufficient_funds"),
    "processor_blocked": TestCard("5200000000000197", "none", "processor_blocked"),
    "lost_card": TestCard("5300000000000196", "none", "lost_card"),
    "lost_card_ph": TestCard("5483530000001462", "none", "lost_card"),
    "stolen_card": TestCard("5400000000000195", "none", "stolen_card"),
    "processor_unavailable": TestCard("5500000000000194", "none", "processor_unavailable"),
    "blocked": TestCard("4600000000000014", "none", "blocked"),
}
TEST_CARD_BY_NUMBER = {card.number: card for card in TEST_CARDS.values()}


def envelope(attributes: JSONObject) -> JSONObject:
    """A request body: PayMongo wraps every attribute set in {"data": {"attributes": ...}}."""
    return {"data": {"attributes": dict(attributes)}}


def resource(body: Body) -> tuple[str, str, Body]:
    """(id, type, attributes) of a `{"data": {"id", "type", "attributes"}}` answer."""
    data = body["data"]
    return str(data["id"]), str(data["type"]), dict(data["attributes"])


def environment(attributes: Body) -> str:
    return "live" if attributes.get("livemode") else "test"


def billed_period(due_date: str | None) -> int:
    """A subscription's billing period as a number that grows with each cycle: the days from
    1970-01-01 to the invoice's due date. PayMongo keeps no renewal count; the rehearsal only
    compares these (a renewal is a paid invoice due later than the last one)."""
    if not due_date:
        return 0
    return (date.fromisoformat(due_date[:10]) - date(1970, 1, 1)).days


def parse_payment(payment_id: str, a: Body, request_id: str | None = None) -> ProviderObject:
    """A payment; `amount_refunded` counts its refunds that succeeded or are still on their
    way (pending, processing: they cannot be cancelled, and what is left to refund excludes
    them); each refund's own status is in `refund_statuses`."""
    refunds = [r for r in a.get("refunds") or [] if isinstance(r, Mapping)]
    refunded = pending = 0
    ids: list[str] = []
    statuses: list[tuple[str, str]] = []
    for refund in refunds:
        attrs = refund.get("attributes", refund)
        ids.append(str(refund.get("id")))
        statuses.append((str(refund.get("id")), str(attrs.get("status"))))
        if attrs.get("status") in ("succeeded", *REFUND_IN_FLIGHT):
            refunded += int(attrs.get("amount", 0))
        if attrs.get("status") in REFUND_IN_FLIGHT:
            pending += int(attrs.get("amount", 0))
    source = a.get("source") or {}
    status = str(a["status"])
    return ProviderObject(
        kind="payment",
        id=payment_id,
        status=PAYMENT_STATUS.get(status, status),
        amount=int(a["amount"]),
        currency=str(a.get("currency", "")),
        environment=environment(a),
        amount_refunded=refunded,
        amount_refund_pending=pending,
        refund_ids=tuple(ids),
        refund_statuses=tuple(statuses),
        failure_code=a.get("sub_code") or a.get("failed_code"),
        card_last4=source.get("last4") if isinstance(source, Mapping) else None,
        request_id=request_id,
    )


def parse_refund(refund_id: str, a: Body, request_id: str | None = None) -> ProviderObject:
    return ProviderObject(
        kind="refund",
        id=refund_id,
        status=str(a["status"]),
        amount=int(a["amount"]),
        currency=str(a.get("currency", "")),
        environment=environment(a),
        payment_id=a.get("payment_id"),
        request_id=request_id,
    )


def parse_subscription(
    subscription_id: str, a: Body, request_id: str | None = None
) -> ProviderObject:
    plan = a.get("plan") or {}
    invoice = a.get("latest_invoice") or {}
    paid = invoice.get("status") == "paid"
    return ProviderObject(
        kind="subscription",
        id=subscription_id,
        status=str(a["status"]),
        amount=int(plan.get("amount", 0)),
        currency=str(plan.get("currency", "")),
        environment=environment(a),
        renewals=billed_period(invoice.get("due_date")) if paid else 0,
        request_id=request_id,
    )


def parse_invoice_as_subscription(a: Body) -> ProviderObject:
    """A paid invoice, seen as the subscription it renews (for subscription.invoice.paid)."""
    sub = a["subscription"]
    status = str(sub.get("status") or "active")
    return ProviderObject(
        kind="subscription",
        id=str(sub["id"]),
        status=status,
        amount=int(a["amount"]),
        currency=str(a.get("currency", "")),
        environment=environment(a),
        renewals=billed_period(a.get("due_date")) if a.get("status") == "paid" else 0,
    )


def refund_update_type(payment: Body) -> str:
    """The rehearsal's name for a `payment.refund.updated` event, whose data is the payment:
    its most recently updated refund (ASSUMED to be the one the event is about; PayMongo's
    event names no refund) `succeeded` is `payment.refunded`, `failed` is
    `payment.refund_failed`, anything else `payment.refund_updated`."""
    refunds = [
        r.get("attributes", r) for r in payment.get("refunds") or [] if isinstance(r, Mapping)
    ]
    if not refunds:
        return "payment.refund_updated"
    latest = max(enumerate(refunds), key=lambda ir: (int(ir[1].get("updated_at") or 0), ir[0]))
    status = latest[1].get("status")
    if status == "succeeded":
        return "payment.refunded"
    if status == "failed":
        return "payment.refund_failed"
    return "payment.refund_updated"


def normalized_type(event_type: str, obj: ProviderObject | None) -> str:
    if event_type == "subscription.updated":
        if obj is not None and obj.status == "cancelled":
            return "subscription.cancelled"
        return "subscription.updated"
    return NORMALIZED_EVENT.get(event_type, event_type)


def errors_of(body: object) -> list[Body]:
    """PayMongo's `{"errors": [{code, detail, source}]}`, or [] when the body is not that."""
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, Mapping)]
    return []
