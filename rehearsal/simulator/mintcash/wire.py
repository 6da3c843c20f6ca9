"""What the MintCash dialect answers to: paths, headers, intervals, test cards and webhook
signing, written from the MintCash runbook (project seed 002) and, where it is silent, from
the contract docs/providers/mintcash.md sets out. Never imported from the adapter
(rehearsal/providers/): the simulator stands for MintCash, so a mistake shared with the
adapter would go unseen. A test compares the two.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

AUTH_HEADER = "Authorization"  # "Bearer <secret key>"
REQUEST_ID_HEADER = "X-Request-Id"  # the runbook: a requestId on every response
IDEMPOTENT_REPLAY_HEADER = "Idempotent-Replayed"
SIGNATURE_HEADER = "MintCash-Signature"  # t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">

# The runbook: POST /payments, POST /subscriptions, POST /refund; the rest is the contract.
PAYMENTS = "/payments"
PAYMENT = "/payments/{id}"
REFUND = "/refund"
REFUNDS = "/refunds"
REFUND_ONE = "/refunds/{id}"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = "/subscriptions/{id}"
CANCEL = "/subscriptions/{id}/cancel"
EVENTS = "/events"
ADVANCE = "/test_helpers/subscriptions/{id}/advance"

INTERVALS = ("day", "week", "month", "year")


@dataclass(frozen=True)
class Card:
    token: str
    number: str
    failure_code: str | None  # None: the charge succeeds


TEST_CARDS: tuple[Card, ...] = (
    Card("pm_card_visa", "4242424242424242", None),
    Card("pm_card_mastercard", "5555555555554444", None),
    Card("pm_card_declined", "4000000000000002", "card_declined"),
    Card("pm_card_insufficient_funds", "4000000000009995", "insufficient_funds"),
)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex>`: HMAC-SHA256 with the webhook secret over `"{t}.{raw body}"`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode("ascii") + body
    return f"t={t},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"
