"""The Stripe dialect's payment routes: PaymentMethods, PaymentIntents, Charges (refunds
are in refunds.py), and the issuer's 3-D Secure page.

As https://docs.stripe.com/api/payment_intents and https://docs.stripe.com/testing describe
them: a PaymentIntent confirmed with a test PaymentMethod makes a Charge that succeeds or
is declined (402 `card_error` with the card's `decline_code`, the PaymentIntent back to
`requires_payment_method`); a 3-D Secure card leaves it `requires_action` with a
`next_action` (a local page stands in for the issuer's). The charging itself is
charging.py's, shared with billing, which charges invoices.
"""

from __future__ import annotations

import sqlite3

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.charging import (
    card_error,
    charge_intent,
    check_amount,
    currency_of,
    new_intent,
    resolve_method,
)
from rehearsal.simulator.stripe.store import Routes
from rehearsal.simulator.stripe.wire import (
    StripeError,
    as_bool,
    as_int,
    as_str,
    base_url,
    decode_form,
    page,
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
        auto = params.get("automatic_payment_methods") or {}
        redirects = isinstance(auto, dict) and auto.get("allow_redirects") == "never"
        if confirm and not redirects and not as_str(params, "return_url"):
            raise StripeError(
                400,
                "This PaymentIntent is configured to accept payment methods enabled in your "
                "Dashboard. Because some of these payment methods might redirect your customer "
                "off of your page, you must provide a `return_url`. If you don't want to accept "
                "redirect-based payment methods, set `automatic_payment_methods[enabled]` to "
                "`true` and `automatic_payment_methods[allow_redirects]` to `never` when "
                "creating Setup Intents and Payment Intents.",
            )
        at = self.store.clock_time(env, self.store.customer_clock(env, customer))
        pi = new_intent(params, env, amount, currency, customer, at)
        # endive has no payment_method_types on create (refused as unknown by strict.py):
        # automatic payment methods are always on.
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
