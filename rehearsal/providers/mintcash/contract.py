"""The MintCash wire contract, in one place: paths, headers, keys, events, cards, shapes.

What the runbook (seed 002) states is marked RUNBOOK; the rest is our choice where the
runbook is silent, modelled on Stripe, and written down in docs/providers/mintcash.md.
The adapter imports this module; the simulator's MintCash dialect keeps its own copy
(rehearsal/simulator/mintcash/wire.py) and tests/test_simulator_independence.py checks that
the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from rehearsal.providers.base import Environment, ObjectKind, ProviderObject
from rehearsal.providers.jsonwire import Body

# Keys. RUNBOOK: pk_live_/sk_live_ keys; test keys are sk_test_.
SECRET_KEY_PREFIX: dict[Environment, str] = {"test": "sk_test_", "live": "sk_live_"}
WEBHOOK_SECRET_PREFIX = "whsec_"

# Headers. RUNBOOK: a requestId on every response. Ours: where it travels, and the rest.
AUTH_HEADER = "Authorization"  # "Bearer <secret key>"
REQUEST_ID_HEADER = "X-Request-Id"  # also `requestId` in every JSON body
IDEMPOTENT_REPLAY_HEADER = "Idempotent-Replayed"  # "true" when an externalId replays
SIGNATURE_HEADER = "MintCash-Signature"  # t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">
SIGNATURE_TOLERANCE = 300.0

# Paths. RUNBOOK: POST /payments, POST /subscriptions, POST /refund, each with externalId.
PAYMENTS = "/payments"  # POST creates; GET ?subscriptionId= lists a subscription's payments
# GET /payments, /refunds and /subscriptions ?externalId=K: what a POST with that
# externalId created (a list of one), or an empty list if no such call landed. Ours: cleanup
# uses it to settle a call whose answer was lost, without sending the call again.
PAYMENT = "/payments/{id}"
REFUND = "/refund"
REFUNDS = "/refunds"  # GET ?externalId= only
REFUND_ONE = "/refunds/{id}"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = "/subscriptions/{id}"
CANCEL = "/subscriptions/{id}/cancel"
EVENTS = "/events"
# Test mode only: move the clock to the subscription's next renewal (modelled on Stripe's
# test clocks and PayMongo's test_cycle). A MintCash without it answers 404.
ADVANCE = "/test_helpers/subscriptions/{id}/advance"

# Events. RUNBOOK: payment.succeeded, payment.failed, payment.refunded,
# subscription.cancelled, and past_due -> cancelled. Ours: created and renewed.
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"  # sent for every refund, full or partial
SUBSCRIPTION_CREATED = "subscription.created"
SUBSCRIPTION_RENEWED = "subscription.renewed"
SUBSCRIPTION_PAST_DUE = "subscription.past_due"
SUBSCRIPTION_CANCELLED = "subscription.cancelled"
EVENT_TYPES = (
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    SUBSCRIPTION_CREATED,
    SUBSCRIPTION_RENEWED,
    SUBSCRIPTION_PAST_DUE,
    SUBSCRIPTION_CANCELLED,
)
# MintCash's event names are already the rehearsal's normalized names.
NORMALIZED_EVENT = {t: t for t in EVENT_TYPES}


@dataclass(frozen=True)
class TestCard:
    token: str
    number: str  # the simulator's table only; never sent by the adapter, never printed
    failure_code: str | None  # None: the charge succeeds


TEST_CARDS: dict[str, TestCard] = {
    "visa": TestCard("pm_card_visa", "4242424242424242", None),
    "mastercard": TestCard("pm_card_mastercard", "5555555555554444", None),
    "declined": TestCard("pm_card_declined", "4000000000000002", "card_declined"),
    "insufficient_funds": TestCard(
        "pm_card_insufficient_funds", "4000000000009995", "insufficient_funds"
    ),
}

INTERVALS = ("day", "week", "month", "year")


def parse_object(data: Body, request_id: str | None = None) -> ProviderObject:
    """A MintCash JSON object (payment, refund or subscription) to a ProviderObject."""
    kind: ObjectKind = data["object"]
    card = data.get("card") or {}
    return ProviderObject(
        kind=kind,
        id=str(data["id"]),
        status=str(data["status"]),
        amount=int(data["amount"]),
        currency=str(data.get("currency", "")),
        environment=str(data.get("environment", "")),
        amount_refunded=int(data.get("amountRefunded", 0)),
        payment_id=data.get("paymentId") or data.get("latestPaymentId"),
        refund_ids=tuple(data.get("refunds", ())),
        renewals=int(data.get("renewals", 0)),
        failure_code=data.get("failureCode"),
        card_brand=card.get("brand"),
        card_last4=card.get("last4"),
        request_id=request_id,
    )
