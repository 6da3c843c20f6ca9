"""The PayMongo dialect's payment routes: intents, methods, attach, the 3-D Secure page,
payments and refunds. Live card payments always need 3-D Secure; test-mode refunds are
refused, as PayMongo documents, unless the `test-refunds` switch makes the account one
that refunds them. A refund is created `pending` and settles later (paymongo_store).
"""

from __future__ import annotations

import json
import time
import urllib.parse

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from rehearsal.simulator.books import Row, new_id
from rehearsal.simulator.paymongo import spec as c
from rehearsal.simulator.paymongo.store import RefundRefused
from rehearsal.simulator.paymongo.tables import insert
from rehearsal.simulator.paymongo.wire import (
    TEST_REFUND,
    Handler,
    PMError,
    Routes,
    base_url,
    parse_amount,
    parse_currency,
    require_attributes,
)

# What a Payment Intent's create request may set that the books do not keep.
INTENT_EXTRAS = ("statement_descriptor", "payment_method_options")
# https://developers.paymongo.com/v1/reference/refund-resource
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "others")
REFUND_MINIMUM = 100  # "minimum amount of 100"


class PaymentRoutes(Routes):
    # --- payments ---------------------------------------------------------------------------

    def _create_intent(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = require_attributes(body)
        amount = parse_amount(a, c.MIN_AMOUNT)
        currency = parse_currency(a)
        allowed = a.get("payment_method_allowed")
        if not isinstance(allowed, list) or "card" not in allowed:
            raise PMError(
                400,
                "parameter_invalid",
                "payment_method_allowed must include card.",
                "attributes.payment_method_allowed",
            )
        with self.books.tx() as db:
            row = self.store.new_intent(
                db,
                env,
                amount=amount,
                currency=currency,
                description=a.get("description"),
                metadata=a.get("metadata"),
            )
            extras = {k: a[k] for k in INTENT_EXTRAS if a.get(k) is not None}
            if extras:
                self.store.save_extras(db, row["id"], extras)
        return 200, {"data": self.store.intent(row, base_url(request))}

    def _intent_row(self, env: str, intent_id: str) -> Row:
        assert self.store is not None
        row = self.store.one("pm_intents", env, intent_id) or self.store.derived_intent(
            env, intent_id
        )
        if row is None:
            raise PMError(404, "resource_not_found", f"Payment intent {intent_id} does not exist.")
        return row

    def _get_intent(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.store is not None
        row = self._intent_row(env, request.path_params["id"])
        return 200, {"data": self.store.intent(row, base_url(request))}

    def _create_method(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = require_attributes(body)
        if a.get("type") != "card":
            raise PMError(400, "parameter_invalid", "type must be card.", "attributes.type")
        details = a.get("details")
        if not isinstance(details, dict):
            raise PMError(400, "parameter_required", "details is required.", "attributes.details")
        number = str(details.get("card_number", ""))
        card = c.TEST_CARD_BY_NUMBER.get(number)
        if card is None:
            # The simulator knows PayMongo's published test numbers only, in either mode.
            raise PMError(
                400,
                "parameter_format_invalid",
                "details.card_number format is invalid.",
                "attributes.details.card_number",
            )
        month, year = details.get("exp_month"), details.get("exp_year")
        if not isinstance(month, int) or not 1 <= month <= 12:
            raise PMError(400, "parameter_invalid", "details.exp_month is invalid.")
        if not isinstance(year, int) or c.full_year(year) < time.gmtime().tm_year:
            raise PMError(400, "parameter_invalid", "details.exp_year is invalid.")
        row: Row = {
            "id": new_id("pm"),
            "env": env,
            "brand": "visa" if number.startswith("4") else "mastercard",
            "last4": number[-4:],
            "three_ds": card.three_ds,
            "failure_code": card.failure_code,
            "exp_month": month,
            "exp_year": year,
            "billing": json.dumps(a.get("billing")) if a.get("billing") else None,
            "created_at": self.books.now(),
        }
        with self.books.tx() as db:
            insert(db, "pm_methods", row)
            if a.get("metadata") is not None:
                self.store.save_extras(db, row["id"], {"metadata": a["metadata"]})
        return 200, {"data": self.store.method(row)}

    def _attach(self, request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = require_attributes(body)
        method_id = a.get("payment_method")
        if not isinstance(method_id, str) or not method_id:
            raise PMError(
                400,
                "parameter_required",
                "payment_method is required.",
                "attributes.payment_method",
            )
        with self.books.tx() as db:
            intent = self.store.one("pm_intents", env, request.path_params["id"])
            if intent is None:
                raise PMError(404, "resource_not_found", "Payment intent does not exist.")
            if intent["status"] != "awaiting_payment_method":
                raise PMError(
                    400,
                    "resource_failed_state",
                    f"The payment intent is {intent['status']}; it cannot be attached to.",
                )
            method = self.store.one("pm_methods", env, method_id)
            if method is None:
                raise PMError(
                    404, "resource_not_found", f"Payment method {method_id} does not exist."
                )
            intent["method_id"] = method_id
            # Live: PayMongo blocks non-3-D Secure payments; a subscription's first payment
            # always needs authentication (paymongo_billing.py); test: as the card says.
            if env == "live" or method["three_ds"] == "required" or intent["subscription_id"]:
                intent = self.store.require_3ds(db, intent, a.get("return_url"))
            else:
                intent = self.store.charge_intent(db, intent, method)
        return 200, {"data": self.store.intent(intent, base_url(request))}

    async def _three_ds(self, request: Request) -> Response:
        """The cardholder's 3-D Secure page: Authorize or Fail, as PayMongo's test page."""
        assert self.books is not None and self.store is not None
        intent_id, token = request.path_params["id"], request.path_params["token"]
        row = self.store.find("pm_intents", intent_id)
        if row is None or not row["three_ds_token"] or row["three_ds_token"] != token:
            return HTMLResponse("<p>This authentication link is not valid any more.</p>", 404)
        if request.method == "GET":
            return HTMLResponse(
                f"<h1>3-D Secure (rehearsal simulator)</h1><p>{row['amount']} "
                f"{row['currency']} for {intent_id}</p>"
                '<form method="post"><button name="action" value="authorize">Authorize Test '
                'Payment</button><button name="action" value="fail">Fail Test Payment'
                "</button></form>"
            )
        # A browser's form post, parsed here: starlette's form() needs python-multipart.
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        action = (form.get("action") or [""])[0]
        with self.books.tx() as db:
            fresh = self.store.find("pm_intents", intent_id)
            assert fresh is not None
            if fresh["status"] != c.THREE_DS_STATUS:
                return HTMLResponse("<p>Already done.</p>", 409)
            if action == "authorize":
                method = self.store.find("pm_methods", fresh["method_id"])
                assert method is not None
                result = self.store.charge_intent(db, fresh, method)
            else:
                result = self.store.fail_3ds(db, fresh)
        done = result["status"] == "succeeded"
        return HTMLResponse(
            "<p>Authentication Complete</p>" if done else "<p>Authentication failed or canceled</p>"
        )

    def _create_refund(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = require_attributes(body)
        amount = parse_amount(a, REFUND_MINIMUM)
        payment_id = a.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise PMError(
                400, "parameter_required", "payment_id is required.", "attributes.payment_id"
            )
        reason = a.get("reason")
        if reason not in REFUND_REASONS:
            raise PMError(
                400,
                "parameter_invalid",
                f"reason must be one of {', '.join(REFUND_REASONS)}.",
                "attributes.reason",
            )
        notes = a.get("notes")
        if notes is not None and (not isinstance(notes, str) or len(notes) > 255):
            raise PMError(
                400,
                "parameter_invalid",
                "notes must be a string of at most 255 characters.",
                "attributes.notes",
            )
        payment = self.books.object_row("payment", payment_id)
        if payment is None:
            raise PMError(404, "resource_not_found", f"Payment {payment_id} does not exist.")
        if payment["env"] != env:
            raise PMError(
                400,
                "livemode_mismatched",
                "Payment livemode/testmode does not match the authentication's mode.",
            )
        if env == "test" and not self.faults.test_refunds:
            # "Do take note that only live transactions can be refunded." The code PayMongo
            # answers with is not documented: ASSUMED, see docs/providers/paymongo.md.
            raise PMError(400, "refund_not_allowed", TEST_REFUND)
        if payment["status"] == "failed":
            raise PMError(
                400, "resource_failed_state", "Only payment in paid state can be refunded."
            )
        with self.books.tx() as db:
            fresh = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            try:
                refund = self.store.create_refund(
                    db,
                    env,
                    payment=dict(fresh),
                    amount=amount,
                    reason=str(reason),
                    fails=lambda refund_id: self.faults.refund_fails(refund_id, payment_id, key),
                )
            except RefundRefused as exc:
                raise PMError(400, exc.code, exc.detail, exc.pointer) from None
            extras = {k: a[k] for k in ("notes", "metadata") if a.get(k) is not None}
            if extras:
                self.store.save_extras(db, refund["id"], extras)
        return 200, {"data": self.store.refund(refund)}

    def _get(self, kind: str) -> Handler:
        table = {
            "method": "pm_methods",
            "plan": "pm_plans",
            "customer": "pm_customers",
        }

        def get(request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
            assert self.books is not None and self.store is not None
            object_id = request.path_params["id"]
            if kind == "payment":
                return 200, {"data": self.store.payment(self.books.payment(env, object_id))}
            if kind == "refund":
                return 200, {"data": self.store.refund(self.books.refund(env, object_id))}
            if kind == "subscription":
                sub = self.books.subscription(env, object_id)
                return 200, {"data": self.store.subscription(sub, base_url(request))}
            row = self.store.one(table[kind], env, object_id)
            if row is None:
                raise PMError(404, "resource_not_found", f"{kind} {object_id} does not exist.")
            render = {"method": self.store.method, "plan": self.store.plan}.get(
                kind, self.store.customer
            )
            return 200, {"data": render(row)}

        return get
