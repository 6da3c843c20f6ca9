"""The Stripe dialect's payments: PaymentMethods, PaymentIntents, Charges (refunds are in
stripe_refunds.py).

As https://docs.stripe.com/api/payment_intents and https://docs.stripe.com/testing describe
them: a PaymentIntent confirmed with a test PaymentMethod makes a Charge that succeeds or
is declined (402 `card_error` with the card's `decline_code`, the PaymentIntent back to
`requires_payment_method`); a 3-D Secure card leaves it `requires_action` with a
`next_action` (a local page stands in for the issuer's). `charge_intent` is shared with
billing, which charges invoices.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.cards import TEST_CARDS, decline_message
from rehearsal.simulator.stripe.store import Routes, Store, stripe_id
from rehearsal.simulator.stripe.wire import (
    StripeError,
    as_bool,
    as_int,
    as_str,
    base_url,
    decode_form,
    metadata,
    missing,
    page,
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


class PaymentRoutes(Routes):
    def _create_intent(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        currency = currency_of(params)
        amount = as_int(params, "amount", required=True, minimum=1) or 0
        check_amount(amount, currency)
        customer = as_str(params, "customer")
        if customer:
            self.store.get(env, "customer", customer)
        confirm = as_bool(params, "confirm")
        types = params.get("payment_method_types")
        auto = params.get("automatic_payment_methods") or {}
        redirects = isinstance(auto, dict) and auto.get("allow_redirects") == "never"
        if confirm and not types and not redirects and not as_str(params, "return_url"):
            raise StripeError(
                400,
                "This PaymentIntent is configured to accept payment methods enabled in your "
                "Dashboard. Because some of these payment methods might redirect your customer "
                "off of your page, you must provide a `return_url`. If you don't want to accept "
                "redirect-based payment methods, set `automatic_payment_methods[enabled]` to "
                "`true` and `automatic_payment_methods[allow_redirects]` to `never` when "
                "creating Setup Intents and Payment Intents.",
            )
        if types not in (None, ["card"]):
            raise StripeError(
                400, "The simulator takes card payments only.", param="payment_method_types"
            )
        at = self.store.clock_time(env, self.store.customer_clock(env, customer))
        pi = new_intent(params, env, amount, currency, customer, at)
        if not types:
            pi["automatic_payment_methods"] = {
                "allow_redirects": "never" if redirects else "always",
                "enabled": True,
            }
        pi["_return_url"] = as_str(params, "return_url")
        given = as_str(params, "payment_method")
        with self.store.books.tx() as db:
            if given:
                pi.update(
                    payment_method=resolve_method(self.store, db, env, given)["id"],
                    status="requires_confirmation",
                )
            self.store.put(db, env, pi)
            self.store.emit(db, env, "payment_intent.created", pi)
            if confirm:
                self._confirm(request, db, env, pi, params)
        if pi["status"] == "requires_payment_method" and pi["last_payment_error"]:
            raise card_error(pi)
        return 200, pi

    def _confirm(
        self, request: Request, db: sqlite3.Connection, env: str, pi: Row, params: Row
    ) -> None:
        given = as_str(params, "payment_method") or pi["payment_method"]
        if not given:
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        method = resolve_method(self.store, db, env, given)
        charge_intent(
            self.store,
            db,
            env,
            pi,
            method,
            off_session=as_bool(params, "off_session"),
            key=request.headers.get("Idempotency-Key"),
            base=base_url(request),
        )

    def _confirm_intent(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        pi = self.store.get(env, "payment_intent", request.path_params["id"])
        if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeError(
                400,
                f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": pi},
            )
        if "return_url" in params:
            pi["_return_url"] = as_str(params, "return_url")
        with self.store.books.tx() as db:
            self._confirm(request, db, env, pi, params)
        if pi["status"] == "requires_payment_method" and pi["last_payment_error"]:
            raise card_error(pi)
        return 200, pi

    def _cancel_intent(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        pi = self.store.get(env, "payment_intent", request.path_params["id"])
        if pi["status"] in ("succeeded", "canceled"):
            raise StripeError(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                code="payment_intent_unexpected_state",
            )
        with self.store.books.tx() as db:
            pi.update(
                status="canceled",
                next_action=None,
                canceled_at=int(self.store.books.now()),
                cancellation_reason=as_str(params, "cancellation_reason"),
            )
            self.store.put(db, env, pi)
            self.store.emit(db, env, "payment_intent.canceled", pi)
        return 200, pi

    def _get_intent(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "payment_intent", request.path_params["id"])

    def _list_intents(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        rows = self.store.objects(env, "payment_intent", customer=as_str(params, "customer"))
        return 200, page(rows, params, "/v1/payment_intents")

    def _get_method(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        with self.store.books.tx() as db:
            return 200, resolve_method(self.store, db, env, request.path_params["id"], "id")

    def _attach_method(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        customer = as_str(params, "customer", required=True) or ""
        self.store.get(env, "customer", customer)
        with self.store.books.tx() as db:
            method = resolve_method(self.store, db, env, request.path_params["id"], "id")
            if method["customer"] not in (None, customer):
                raise StripeError(
                    400,
                    "The payment method you provided has already been attached to a customer.",
                    code="payment_method_unexpected_state",
                )
            method["customer"] = customer
            self.store.put(db, env, method)
            self.store.emit(db, env, "payment_method.attached", method)
        return 200, method

    def _get_charge(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "charge", request.path_params["id"])

    def _list_charges(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        rows = self.store.objects(
            env,
            "charge",
            payment_intent=as_str(params, "payment_intent"),
            customer=as_str(params, "customer"),
        )
        return 200, page(rows, params, "/v1/charges")

    # --- the issuer's 3-D Secure page (the customer's browser; no API key) ----------------------

    async def _three_ds(self, request: Request) -> Response:
        pi_id, token = request.path_params["id"], request.path_params["token"]
        row = self.store.find(pi_id)
        if row is None or row.get("_3ds_token") != token or row["status"] != "requires_action":
            return HTMLResponse("<p>This authentication is no longer pending.</p>", 404)
        if request.method == "GET":
            return HTMLResponse(
                "<form method=post><button name=result value=succeed>Complete</button>"
                "<button name=result value=fail>Fail</button></form>"
            )
        result = decode_form((await request.body()).decode(errors="replace")).get("result")
        env = "live" if row["livemode"] else "test"
        with self.store.books.tx() as db:
            if result == "succeed":
                row["_authenticated"] = True
                method = self.store.get(env, "payment_method", row["payment_method"])
                charge_intent(self.store, db, env, row, method, off_session=False, key=None)
            else:
                row.update(
                    status="requires_payment_method",
                    next_action=None,
                    last_payment_error={
                        "type": "invalid_request_error",
                        "code": "payment_intent_authentication_failure",
                        "message": "The provided PaymentMethod has failed authentication.",
                    },
                )
                self.store.put(db, env, row)
                self.store.emit(db, env, "payment_intent.payment_failed", row)
        done = row["status"] == "succeeded"
        return HTMLResponse(
            "<p>Authentication complete.</p>" if done else "<p>Authentication failed.</p>"
        )
