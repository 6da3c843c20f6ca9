"""Stripe's test PaymentMethods, as https://docs.stripe.com/testing documents them.

A test token (`pm_card_visa`) used in a request stands for a fresh PaymentMethod with that
card's brand and last four digits; what the card does when charged is its behaviour:
decline (with Stripe's `decline_code`), ask for 3-D Secure, fail only once attached to a
customer and charged later, or refund slowly. Card numbers are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    decline_code: str | None = None  # every charge is declined with it
    three_ds: bool = False  # on-session charges need authentication (requires_action)
    fails_later: bool = False  # attaches, but charges to the customer are declined
    pending_refund: bool = False  # refunds are pending, then succeed


# https://docs.stripe.com/testing#cards, #declined-payments, #regulatory-cards, #refunds
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeDeclined": TestCard("visa", "0002", decline_code="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", decline_code="insufficient_funds"
    ),
    "pm_card_chargeDeclinedLostCard": TestCard("visa", "9987", decline_code="lost_card"),
    "pm_card_chargeDeclinedExpiredCard": TestCard("visa", "0069", decline_code="expired_card"),
    "pm_card_chargeCustomerFail": TestCard("visa", "0341", fails_later=True),
    "pm_card_authenticationRequired": TestCard("visa", "3184", three_ds=True),
    "pm_card_threeDSecure2Required": TestCard("visa", "3220", three_ds=True),
    "pm_card_pendingRefund": TestCard("visa", "7726", pending_refund=True),
}

# Stripe's `message` for each decline code (its wording on https://docs.stripe.com/testing).
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
    "test_mode_live_card": "Your card was declined. Your request was in live mode, but used "
    "a known test card.",
}


def decline_message(code: str) -> str:
    return DECLINE_MESSAGES.get(code, "Your card was declined.")
