"""The simulator's PayMongo dialect: PayMongo's paths, JSON:API envelopes and errors.

Basic auth with the secret key (with or without the trailing colon), `{"data":
{"attributes": ...}}` bodies, 200 for every create, `{"errors": [{code, detail, source}]}`
for refusals, `Idempotency-Key` replays (same key and body: the saved answer; other body:
refused), a rate limit answered with PayMongo's plain-text 429, and webhooks signed with
`Paymongo-Signature` (`te` for test-mode events, `li` for live). Faithful to what PayMongo
documents, not to what is convenient: refunds are refused in test mode ("only live
transactions can be refunded"), live card payments always need 3-D Secure, and
subscriptions can be switched off as on an account PayMongo has not configured. The 3-D
Secure page is a local URL (`/_sim/paymongo/3ds/...`); `/_sim/...` is the simulator's own.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo import signature
from rehearsal.simulator.books import Books, BooksError, Row, new_id
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.paymongo_store import (
    BOOKS_INTERVAL,
    BOOKS_KIND,
    KNOWN_EVENTS,
    PAYMONGO_EVENT,
    Store,
    insert,
)

Handler = Callable[[Request, str, Row, str | None], tuple[int, Row]]
MAX_BODY = 64 * 1024
RATE_LIMITED = "Too many requests, please try again later."
NOT_CONFIGURED = "Subscriptions is not yet configured for this organization."
TEST_REFUND = "Only live transactions can be refunded."
# The books' error codes, as PayMongo names them.
_CODES = {
    "resource_missing": "resource_not_found",
    "amount_exceeds_refundable": "parameter_above_maximum",
    "payment_not_refundable": "resource_failed_state",
    "subscription_not_active": "resource_failed_state",
    "external_id_reused": "idempotency_key_in_use",
}


class PMError(Exception):
    def __init__(self, status: int, code: str, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.pointer = status, code, detail, pointer

    def body(self) -> Row:
        error: Row = {"code": self.code, "detail": self.detail}
        if self.pointer:
            error["source"] = {"pointer": self.pointer, "attribute": self.pointer.split(".")[-1]}
        return {"errors": [error]}


class PayMongoDialect:
    name = "paymongo"

    def __init__(self, rate_limit: int = 100) -> None:
        self.books: Books | None = None
        self.store: Store | None = None
        self.rate_limit = rate_limit  # requests per second per key, as PayMongo documents
        self.subscriptions_enabled = True
        self._recent: dict[str, collections.deque[float]] = {}

    # --- books hooks ------------------------------------------------------------------------

    def resolve_card(self, token: str) -> Row:
        assert self.books is not None
        row = self.books._one("SELECT * FROM pm_methods WHERE id = ?", token)
        if row is None:
            raise BooksError(
                404, "invalid_request", "resource_missing", f"no payment method {token}"
            )
        return {"brand": row["brand"], "last4": row["last4"], "failure_code": row["failure_code"]}

    def render_event(self, event_id: str, kind: str, obj: Row, env: str, created: float) -> bytes:
        assert self.store is not None
        data = self.store.event_data(kind, obj)
        payload = {
            "data": {
                "id": event_id,
                "type": "event",
                "attributes": {
                    "type": PAYMONGO_EVENT.get(kind, kind),
                    "livemode": env == "live",
                    "data": data,
                    "previous_data": {},
                    "created_at": int(created),
                    "updated_at": int(created),
                },
            }
        }
        return json.dumps(payload, separators=(",", ":")).encode()

    def signature_headers(self, body: bytes) -> dict[str, str]:
        assert self.books is not None
        livemode = bool(json.loads(body)["data"]["attributes"]["livemode"])
        header = signature.sign(self.books.keys.webhook_secret, body, livemode=livemode)
        return {signature.HEADER: header}

    # --- the app ----------------------------------------------------------------------------

    def app(self, books: Books, faults: Faults) -> Starlette:
        self.books = books
        self.store = Store(books)
        books.resolve_card = self.resolve_card

        def endpoint(
            handler: Handler, *, control: bool = False
        ) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                try:
                    env, key = _authenticate(books, request, control=control)
                    if not control and self._limited(key):
                        return PlainTextResponse(RATE_LIMITED, 429)
                    body = await _json_body(request)
                    fault = (
                        None if control else faults.take_api_fault(request.method, request.url.path)
                    )
                    if fault and fault.kind == "hold":
                        await asyncio.sleep(fault.value)
                    elif fault and fault.kind == "fail":
                        if int(fault.value) == 429:
                            return PlainTextResponse(RATE_LIMITED, 429)
                        raise PMError(int(fault.value), "simulated_outage", "simulated outage")
                    idem = request.headers.get(c.IDEMPOTENCY_HEADER)
                    status, data = self._idempotent(request, env, body, idem, handler)
                    if fault and fault.kind == "fail-after":
                        raise PMError(500, "simulated_failure_after_work", "simulated failure")
                except BooksError as exc:
                    code = _CODES.get(exc.code, exc.code)
                    status, data = exc.status, PMError(exc.status, code, exc.message).body()
                except PMError as exc:
                    status, data = exc.status, exc.body()
                return JSONResponse(data, status)

            return run

        R = Route
        routes = [
            R(c.PAYMENT_INTENTS, endpoint(self._create_intent), methods=["POST"]),
            R(c.PAYMENT_INTENT, endpoint(self._get_intent), methods=["GET"]),
            R(c.ATTACH, endpoint(self._attach), methods=["POST"]),
            R(c.PAYMENT_METHODS, endpoint(self._create_method), methods=["POST"]),
            R("/v1/payment_methods/{id}", endpoint(self._get("method")), methods=["GET"]),
            R(c.PAYMENT, endpoint(self._get("payment")), methods=["GET"]),
            R(c.REFUNDS, endpoint(self._create_refund), methods=["POST"]),
            R(c.REFUND, endpoint(self._get("refund")), methods=["GET"]),
            R(c.PLANS, endpoint(self._create_plan), methods=["POST"]),
            R("/v1/plans/{id}", endpoint(self._get("plan")), methods=["GET"]),
            R(c.CUSTOMERS, endpoint(self._create_customer), methods=["POST"]),
            R("/v1/customers/{id}", endpoint(self._get("customer")), methods=["GET"]),
            R(c.SUBSCRIPTIONS, endpoint(self._create_subscription), methods=["POST"]),
            R(c.SUBSCRIPTION, endpoint(self._get("subscription")), methods=["GET"]),
            R(c.CANCEL, endpoint(self._cancel), methods=["POST"]),
            R(c.TEST_CYCLE, endpoint(self._test_cycle), methods=["POST"]),
            R(c.INVOICES, endpoint(self._list_invoices), methods=["GET"]),
            R(c.WEBHOOKS, endpoint(self._create_webhook), methods=["POST"]),
            R(c.WEBHOOKS, endpoint(self._list_webhooks), methods=["GET"]),
            R(c.WEBHOOK, endpoint(self._get_webhook), methods=["GET"]),
            R(c.WEBHOOK_DISABLE, endpoint(self._disable_webhook), methods=["POST"]),
            R("/_sim/paymongo/3ds/{id}/{token}", self._three_ds, methods=["GET", "POST"]),
            R("/_sim/info", _info, methods=["GET"]),
            R(
                "/_sim/webhook_endpoints",
                endpoint(self._add_endpoint, control=True),
                methods=["POST"],
            ),
            R(
                "/_sim/webhook_endpoints/{id}",
                endpoint(self._remove_endpoint, control=True),
                methods=["DELETE"],
            ),
            R("/_sim/faults", endpoint(_set_faults(faults), control=True), methods=["PUT", "GET"]),
            R(
                "/_sim/paymongo/subscriptions",
                endpoint(self._switch_subscriptions, control=True),
                methods=["PUT"],
            ),
            R(
                "/_sim/books",
                endpoint(lambda r, e, b, k: (200, books.summary()), control=True),
                methods=["GET"],
            ),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 500)
            code = {404: "resource_not_found", 405: "method_not_allowed"}.get(status, "api_error")
            return JSONResponse(PMError(status, code, f"HTTP {status}").body(), status)

        return Starlette(
            routes=routes, exception_handlers={HTTPException: http_error, Exception: http_error}
        )

    def _limited(self, key: str) -> bool:
        now = time.monotonic()
        window = self._recent.setdefault(key, collections.deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        window.append(now)
        return len(window) > self.rate_limit

    def _idempotent(
        self, request: Request, env: str, body: Row, key: str | None, handler: Handler
    ) -> tuple[int, Row]:
        """PayMongo saves the first answer to a key on a creating POST and returns it again
        for the same body; a different body under the same key is refused."""
        assert self.books is not None
        if request.method != "POST" or not key:
            return handler(request, env, body, key)
        route = request.scope.get("route")
        scope = f"{getattr(route, 'path', request.url.path)}:{request.path_params.get('id', '')}"
        replay = self.books.replay(env, scope, key, body)
        if replay is not None:
            return replay
        status, data = handler(request, env, body, key)
        # Saved once the work is done; a concurrent twin that saved first keeps its answer.
        with contextlib.suppress(sqlite3.IntegrityError), self.books.tx() as db:
            self.books.remember(db, env, scope, key, body, status, data)
        return status, data

    # --- payments ---------------------------------------------------------------------------

    def _create_intent(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = _attributes(body)
        amount = _amount(a, c.MIN_AMOUNT)
        currency = _currency(a)
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
        return 200, {"data": self.store.intent(row, _base(request))}

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
        return 200, {"data": self.store.intent(row, _base(request))}

    def _create_method(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = _attributes(body)
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
        if not isinstance(year, int) or year < time.gmtime().tm_year:
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
        return 200, {"data": self.store.method(row)}

    def _attach(self, request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = _attributes(body)
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
            # Live: PayMongo blocks non-3-D Secure payments; test: as the card says.
            if env == "live" or method["three_ds"] == "required":
                intent = self.store.require_3ds(db, intent, a.get("return_url"))
            else:
                intent = self.store.charge_intent(db, intent, method)
        return 200, {"data": self.store.intent(intent, _base(request))}

    async def _three_ds(self, request: Request) -> Response:
        """The cardholder's 3-D Secure page: Authorize or Fail, as PayMongo's test page."""
        assert self.books is not None and self.store is not None
        intent_id, token = request.path_params["id"], request.path_params["token"]
        row = self.books._one("SELECT * FROM pm_intents WHERE id = ?", intent_id)
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
            fresh = self.books._one("SELECT * FROM pm_intents WHERE id = ?", intent_id)
            assert fresh is not None
            if fresh["status"] != c.THREE_DS_STATUS:
                return HTMLResponse("<p>Already done.</p>", 409)
            if action == "authorize":
                method = self.books._one(
                    "SELECT * FROM pm_methods WHERE id = ?", fresh["method_id"]
                )
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
        a = _attributes(body)
        amount = _amount(a, 100)
        payment_id = a.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise PMError(
                400, "parameter_required", "payment_id is required.", "attributes.payment_id"
            )
        reason = a.get("reason")
        if reason not in c.REFUND_REASONS:
            raise PMError(
                400,
                "parameter_invalid",
                f"reason must be one of {', '.join(c.REFUND_REASONS)}.",
                "attributes.reason",
            )
        payment = self.books._one("SELECT * FROM payments WHERE id = ?", payment_id)
        if payment is None:
            raise PMError(404, "resource_not_found", f"Payment {payment_id} does not exist.")
        if payment["env"] != env:
            raise PMError(
                400,
                "livemode_mismatched",
                "Payment livemode/testmode does not match the authentication's mode.",
            )
        if env == "test":
            # "Do take note that only live transactions can be refunded." The code PayMongo
            # answers with is not documented: ASSUMED, see docs/providers/paymongo.md.
            raise PMError(400, "refund_not_allowed", TEST_REFUND)
        if payment["status"] == "failed":
            raise PMError(
                400, "resource_failed_state", "Only payment in paid state can be refunded."
            )
        with self.books.tx() as db:
            refund = self.books.create_refund(
                db,
                env,
                external_id=key or new_id("rk"),
                payment_id=payment_id,
                amount=amount,
                reason=reason,
            )
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
                return 200, {"data": self.store.subscription(sub)}
            row = self.store.one(table[kind], env, object_id)
            if row is None:
                raise PMError(404, "resource_not_found", f"{kind} {object_id} does not exist.")
            render = {"method": self.store.method, "plan": self.store.plan}.get(
                kind, self.store.customer
            )
            return 200, {"data": render(row)}

        return get

    # --- subscriptions ----------------------------------------------------------------------

    def _subscriptions_on(self) -> None:
        if not self.subscriptions_enabled:
            raise PMError(403, "forbidden", NOT_CONFIGURED)

    def _create_plan(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        self._subscriptions_on()
        a = _attributes(body)
        interval = a.get("interval")
        if interval not in BOOKS_INTERVAL:
            raise PMError(
                400,
                "parameter_invalid",
                f"interval must be one of {', '.join(BOOKS_INTERVAL)}.",
                "attributes.interval",
            )
        if a.get("interval_count", 1) != 1:
            raise PMError(400, "parameter_invalid", "the simulator bills interval_count 1 only.")
        name = a.get("name")
        if not isinstance(name, str) or not name:
            raise PMError(400, "parameter_required", "name is required.", "attributes.name")
        row: Row = {
            "id": new_id("plan"),
            "env": env,
            "name": name,
            "description": a.get("description"),
            "amount": _amount(a, c.MIN_AMOUNT),
            "currency": _currency(a),
            "interval": interval,
            "interval_count": 1,
            "cycle_count": a.get("cycle_count"),
            "created_at": self.books.now(),
        }
        with self.books.tx() as db:
            insert(db, "pm_plans", row)
        return 200, {"data": self.store.plan(row)}

    def _create_customer(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = _attributes(body)
        for field in ("first_name", "last_name", "email"):
            if not isinstance(a.get(field), str) or not a[field]:
                raise PMError(
                    400, "parameter_required", f"{field} is required.", f"attributes.{field}"
                )
        row: Row = {
            "id": new_id("cus"),
            "env": env,
            **{k: a.get(k) for k in ("first_name", "last_name", "email", "phone")},
            "default_device": a.get("default_device", "email"),
            "created_at": self.books.now(),
        }
        with self.books.tx() as db:
            insert(db, "pm_customers", row)
        return 200, {"data": self.store.customer(row)}

    def _create_subscription(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        self._subscriptions_on()
        a = _attributes(body)
        plan = self.store.one("pm_plans", env, str(a.get("plan_id")))
        if plan is None:
            raise PMError(
                404, "resource_not_found", "plan_id does not exist.", "attributes.plan_id"
            )
        customer = self.store.one("pm_customers", env, str(a.get("customer_id")))
        if customer is None:
            raise PMError(
                404, "resource_not_found", "customer_id does not exist.", "attributes.customer_id"
            )
        now = self.books.now()
        sub_id = new_id("subs")
        with self.books.tx() as db:
            intent = self.store.new_intent(
                db,
                env,
                amount=plan["amount"],
                currency=plan["currency"],
                description=plan["name"],
                metadata=None,
                subscription_id=sub_id,
            )
            sub: Row = {
                "id": sub_id,
                "env": env,
                "external_id": key,
                "amount": plan["amount"],
                "currency": plan["currency"],
                "interval": BOOKS_INTERVAL[plan["interval"]],
                "status": "incomplete",
                "card_token": None,
                "card_brand": None,
                "card_last4": None,
                "period_start": now,
                "period_end": now,
                "renewals": 0,
                "latest_payment_id": None,
                "cancel_reason": None,
                "created_at": now,
                "cancelled_at": None,
            }
            insert(db, "subscriptions", sub)
            insert(
                db,
                "pm_subscriptions",
                {
                    "id": sub_id,
                    "plan_id": plan["id"],
                    "customer_id": customer["id"],
                    "intent_id": intent["id"],
                },
            )
        return 200, {"data": self.store.subscription(sub)}

    def _cancel(self, request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        reason = _attributes(body).get("cancellation_reason")
        if reason not in c.CANCELLATION_REASONS:
            raise PMError(
                400,
                "parameter_invalid",
                f"cancellation_reason must be one of {', '.join(c.CANCELLATION_REASONS)}.",
                "attributes.cancellation_reason",
            )
        sub = self.books.cancel_subscription(env, request.path_params["id"], str(reason))
        return 200, {"data": self.store.subscription(sub)}

    def _test_cycle(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        if env != "test":
            raise PMError(400, "parameter_invalid", "test_cycle needs a test secret API key.")
        sub = self.books.advance_to_renewal(env, request.path_params["id"])
        return 200, {"data": self.store.subscription(sub)}

    def _list_invoices(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        sub_id = request.query_params.get("subscription_id")
        if not sub_id:
            raise PMError(400, "parameter_required", "subscription_id is required.")
        sub = self.books.subscription(env, sub_id)
        return 200, {"data": self.store.invoices(sub), "has_more": False}

    def _switch_subscriptions(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        self.subscriptions_enabled = bool(body.get("enabled", True))
        return 200, {"enabled": self.subscriptions_enabled}

    # --- webhooks ---------------------------------------------------------------------------

    def _create_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = _attributes(body)
        url, events = a.get("url"), a.get("events")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PMError(400, "parameter_invalid", "url must be a valid URL.", "attributes.url")
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, str) and e in KNOWN_EVENTS for e in events)
        ):
            raise PMError(
                400,
                "parameter_invalid",
                f"events must be a list of: {', '.join(sorted(KNOWN_EVENTS))}.",
                "attributes.events",
            )
        kinds = sorted({BOOKS_KIND[e] for e in events if e in BOOKS_KIND})
        endpoint = self.books.add_endpoint(url, kinds, env)
        now = time.time()
        row: Row = {
            "id": new_id("hook"),
            "env": env,
            "endpoint_id": endpoint["id"],
            "url": url,
            "events": json.dumps(events),
            "status": "enabled",
            "created_at": now,
            "updated_at": now,
        }
        with self.books.tx() as db:
            insert(db, "pm_webhooks", row)
        return 200, {"data": self.store.webhook(row, self.books.keys.webhook_secret)}

    def _webhook_row(self, env: str, webhook_id: str) -> Row:
        assert self.store is not None
        row = self.store.one("pm_webhooks", env, webhook_id)
        if row is None:
            raise PMError(404, "resource_not_found", f"Webhook {webhook_id} does not exist.")
        return row

    def _get_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        row = self._webhook_row(env, request.path_params["id"])
        return 200, {"data": self.store.webhook(row, self.books.keys.webhook_secret)}

    def _list_webhooks(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        rows = self.books._all("SELECT * FROM pm_webhooks WHERE env = ? ORDER BY created_at", env)
        secret = self.books.keys.webhook_secret
        return 200, {"data": [self.store.webhook(r, secret) for r in rows], "has_more": False}

    def _disable_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        row = self._webhook_row(env, request.path_params["id"])
        self.books.remove_endpoint(row["endpoint_id"])
        row.update(status="disabled", updated_at=time.time())
        with self.books.tx() as db:
            db.execute(
                "UPDATE pm_webhooks SET status = ?, updated_at = ? WHERE id = ?",
                (row["status"], row["updated_at"], row["id"]),
            )
        return 200, {"data": self.store.webhook(row, self.books.keys.webhook_secret)}

    def _add_endpoint(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PMError(400, "parameter_invalid", "url must be http(s)")
        events = body.get("events") or ["*"]
        row = self.books.add_endpoint(url, list(events), body.get("environment"))
        return 201, {"id": row["id"], "url": url, "events": events}

    def _remove_endpoint(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        removed = self.books.remove_endpoint(request.path_params["id"])
        return 200, {"id": request.path_params["id"], "removed": removed}


def _info(request: Request) -> Response:
    return JSONResponse({"simulator": "rehearsal", "dialect": "paymongo"})


def _set_faults(faults: Faults) -> Handler:
    def handler(request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
        if request.method == "PUT":
            specs = body.get("faults", [])
            if not isinstance(specs, list) or not all(isinstance(x, str) for x in specs):
                raise PMError(400, "parameter_invalid", "faults must be a list of fault specs")
            try:
                fresh = Faults.parse([str(s) for s in specs])
            except FaultSpecError as exc:
                raise PMError(400, "parameter_invalid", str(exc)) from None
            faults.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})
        return 200, {"faults": faults.specs}

    return handler


def _authenticate(books: Books, request: Request, *, control: bool) -> tuple[str, str]:
    """(environment, key) for Basic base64("sk_…:") (or without the colon, as PayMongo's
    Python library sends it); the control routes also take the control client's Bearer."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    key = ""
    if scheme == "Basic":
        try:
            key = base64.b64decode(value, validate=True).decode().removesuffix(":")
        except (ValueError, UnicodeDecodeError):
            key = ""
    elif scheme == "Bearer" and control:
        key = value
    env = books.environment_for_key(key) if key else None
    if env is None:
        raise PMError(401, "unauthenticated", "The API key is invalid or missing.")
    return env, key


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _json_body(request: Request) -> Row:
    if request.method in ("GET", "DELETE"):
        return {}
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PMError(413, "parameter_invalid", "The request body is too large.")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise PMError(400, "parameter_invalid", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise PMError(400, "parameter_invalid", "The request body must be a JSON object.")
    return body


def _attributes(body: Row) -> Row:
    a = (body.get("data") or {}).get("attributes") if isinstance(body.get("data"), dict) else None
    if not isinstance(a, dict):
        raise PMError(400, "parameter_required", "data.attributes is required.", "data.attributes")
    return a


def _amount(a: Row, minimum: int) -> int:
    amount = a.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise PMError(400, "parameter_required", "amount is required.", "attributes.amount")
    if amount < minimum:
        raise PMError(
            400, "parameter_invalid", f"amount must be at least {minimum}.", "attributes.amount"
        )
    return amount


def _currency(a: Row) -> str:
    currency = a.get("currency")
    if currency != "PHP":
        raise PMError(400, "parameter_invalid", "currency must be PHP.", "attributes.currency")
    return str(currency)
