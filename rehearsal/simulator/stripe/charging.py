"""How the Stripe dialect charges: PaymentMethods from test cards, PaymentIntents, and the
Charge a confirmation makes, as https://docs.stripe.com/api/payment_intents and
https://docs.stripe.com/testing describe them. A Charge succeeds or is declined (402
`card_error` with the card's `decline_code`, the PaymentIntent back to
`requires_payment_method`); a 3-D Secure card leaves it `requires_action` with a
`next_action`. Shared by the payment routes (payments.py) and billing, which charges
invoices; no route lives here.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.cards import TEST_CARDS, decline_message
from rehearsal.simulator.stripe.store import Store, stripe_id
from rehearsal.simulator.stripe.wire import (
    StripeError,
    as_str,
    metadata,
    missing,
)

ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "pyg", "xaf", "xof", "ugx", "rwf", "kmf", "gnf"}


def currency_of(params: Row) -> str:
    currency = as_str(params, "currency", required=True) or ""
    if len(currency) != 3 or not currency.isalpha():
        raise StripeError(400, f"Invalid currency: {currency}.", param="currency")
    return currency.lower()


def check_amount(amount: int, currency: str) -> None:
    """Stripe's minimum charge is about 0.50 USD (https://docs.stripe.com/currencies#minimum-
    and-maximum-charge-amounts); the simulator applies 50 minor units to every
    two-decimal currency, ASSUMED for those other than USD."""
    if currency not in ZERO_DECIMAL and amount < 50:
        raise StripeError(
            400,
            "Amount must be at least $0.50 usd",
            code="amount_too_small",
            param="amount",
        )


# --- payment methods --------------------------------------------------------------------------


def new_method(
    store: Store, db: sqlite3.Connection, env: str, token: str, customer: str | None, at: int
) -> Row:
    card = TEST_CARDS[token]
    year = datetime.fromtimestamp(at, UTC).year + 3
    method: Row = {
        "id": stripe_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": dict.fromkeys(("address", "email", "name", "phone")),
        "card": {
            "brand": card.brand,
            "country": "US",
            "exp_month": 12,
            "exp_year": year,
            "funding": "credit",
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
        },
        "created": at,
        "customer": customer,
        "livemode": env == "live",
        "metadata": {},
        "type": "card",
        "_card": token,
    }
    return store.put(db, env, method)


def resolve_method(
    store: Store, db: sqlite3.Connection, env: str, given: str, param: str = "payment_method"
) -> Row:
    """A test token stands for a fresh PaymentMethod; anything else must exist."""
    if given in TEST_CARDS:
        return new_method(store, db, env, given, None, int(store.books.now()))
    try:
        return store.get(env, "payment_method", given)
    except StripeError:
        raise missing("PaymentMethod", given, param) from None


# --- charging ---------------------------------------------------------------------------------


def new_intent(
    params: Row, env: str, amount: int, currency: str, customer: str | None, at: int
) -> Row:
    pi_id = stripe_id("pi")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{secrets.token_hex(12)}",
        "confirmation_method": "automatic",
        "created": at,
        "currency": currency,
        "customer": customer,
        "description": as_str(params, "description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": env == "live",
        "metadata": metadata(params),
        "next_action": None,
        "payment_method": None,
        "payment_method_types": ["card"],
        "receipt_email": None,
        "setup_future_usage": None,
        "statement_descriptor": None,
        "status": "requires_payment_method",
    }


def charge_intent(
    store: Store,
    db: sqlite3.Connection,
    env: str,
    pi: Row,
    method: Row,
    *,
    off_session: bool,
    key: str | None,
    base: str = "",
    fail_with: str | None = None,
    subscription_id: str | None = None,
) -> Row | None:
    """Confirm `pi` with `method`: a succeeded or declined Charge (returned), or None when
    the card asks for 3-D Secure first. Saves and announces everything in `db`."""
    card = TEST_CARDS[method["_card"]]
    at = store.clock_time(env, store.customer_clock(env, pi["customer"]))
    pi["payment_method"] = method["id"]
    decline = fail_with
    if env == "live":  # https://docs.stripe.com/testing: test cards are declined in live mode
        decline = "test_mode_live_card"
    elif card.decline_code:
        decline = card.decline_code
    elif card.fails_later and method.get("customer"):
        decline = "generic_decline"
    elif card.three_ds and off_session:
        decline = "authentication_required"
    elif card.three_ds and not pi.get("_authenticated"):
        token = secrets.token_urlsafe(12)
        url = f"{base}/_sim/stripe/3ds/{pi['id']}/{token}"
        pi.update(
            status="requires_action",
            _3ds_token=token,
            next_action={
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url},
            },
        )
        if pi.get("_return_url"):
            pi["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": url, "return_url": pi["_return_url"]},
            }
        store.put(db, env, pi)
        store.emit(db, env, "payment_intent.requires_action", pi)
        return None
    charge = _charge(pi, method, env, at, decline)
    store.put(db, env, charge)
    store.book_payment(db, env, charge, key, subscription_id)
    pi.update(latest_charge=charge["id"], next_action=None)
    if decline:
        pi.update(
            status="requires_payment_method",
            payment_method=None,
            last_payment_error={
                "type": "card_error",
                "code": "expired_card" if decline == "expired_card" else "card_declined",
                "decline_code": decline,
                "message": decline_message(decline),
                "charge": charge["id"],
                "payment_method": {k: v for k, v in method.items() if k != "_card"},
            },
        )
    else:
        pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
    store.put(db, env, pi)
    outcome = "failed" if decline else "succeeded"
    store.emit(db, env, f"charge.{outcome}", charge)
    store.emit(
        db, env, "payment_intent.payment_failed" if decline else "payment_intent.succeeded", pi
    )
    return charge


def _charge(pi: Row, method: Row, env: str, at: int, decline: str | None) -> Row:
    card = method["card"]
    return {
        "id": stripe_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": 0 if decline else pi["amount"],
        "amount_refunded": 0,
        "balance_transaction": None if decline else stripe_id("txn"),
        "billing_details": method["billing_details"],
        "captured": not decline,
        "created": at,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_code": ("expired_card" if decline == "expired_card" else "card_declined")
        if decline
        else None,
        "failure_message": decline_message(decline) if decline else None,
        "livemode": env == "live",
        "metadata": pi["metadata"],
        "outcome": {
            "network_status": "declined_by_network" if decline else "approved_by_network",
            "reason": decline,
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline."
            if decline
            else "Payment complete.",
            "type": "issuer_declined" if decline else "authorized",
        },
        "paid": not decline,
        "payment_intent": pi["id"],
        "payment_method": method["id"],
        "payment_method_details": {
            "card": {
                k: card[k]
                for k in ("brand", "country", "exp_month", "exp_year", "funding", "last4")
            },
            "type": "card",
        },
        "refunded": False,
        "status": "failed" if decline else "succeeded",
    }


def card_error(pi: Row) -> StripeError:
    """The 402 a declined confirmation answers, with the PaymentIntent as Stripe adds it."""
    err = pi["last_payment_error"]
    return StripeError(
        402,
        err["message"],
        kind="card_error",
        code=err["code"],
        decline_code=err["decline_code"],
        extra={
            "charge": err["charge"],
            "payment_intent": pi,
            "payment_method": err["payment_method"],
        },
    )
