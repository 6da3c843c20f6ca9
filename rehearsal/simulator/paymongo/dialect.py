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

import collections
import contextlib
import json
import sqlite3
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from rehearsal.simulator import http
from rehearsal.simulator.books import Books, BooksError, Row
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.http import Call, Endpoint
from rehearsal.simulator.paymongo import signing as paymongo_signing
from rehearsal.simulator.paymongo import spec as c
from rehearsal.simulator.paymongo.billing import RENEWAL_FAILED_EVENT, BillingRoutes
from rehearsal.simulator.paymongo.lists import ListRoutes
from rehearsal.simulator.paymongo.payments import PaymentRoutes
from rehearsal.simulator.paymongo.store import Store
from rehearsal.simulator.paymongo.tables import PAYMONGO_EVENT
from rehearsal.simulator.paymongo.webhooks import WebhookRoutes
from rehearsal.simulator.paymongo.wire import (
    CODES,
    RATE_LIMITED,
    Handler,
    PMError,
    authenticate,
    read_json,
)


class PayMongoDialect(PaymentRoutes, BillingRoutes, WebhookRoutes, ListRoutes):
    name = "paymongo"

    def __init__(self, rate_limit: int = 100) -> None:
        self.books: Books | None = None
        self.store: Store | None = None
        self.rate_limit = rate_limit  # requests per second per key, as PayMongo documents
        self.rate_window = 1.0  # seconds; tests stretch it to count without racing the clock
        self.subscriptions_enabled = True
        self.faults = Faults()
        self._recent: dict[str, collections.deque[float]] = {}

    # --- books hooks ------------------------------------------------------------------------

    def resolve_card(self, token: str) -> Row:
        assert self.store is not None
        row = self.store.find("pm_methods", token)
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
        header = paymongo_signing.sign(self.books.keys.webhook_secret, body, livemode=livemode)
        return {paymongo_signing.HEADER: header}

    # --- the app ----------------------------------------------------------------------------

    def app(self, books: Books, faults: Faults) -> Starlette:
        self.books = books
        self.store = Store(books)
        self.faults = faults
        books.timed_work = self.store.finish_pending_refunds
        books.resolve_card = self.resolve_card
        books.renewal_failure = lambda sub: self.renewal_failure(faults, sub)
        books.renewal_failed_event = RENEWAL_FAILED_EVENT

        api = self._endpoints(books, faults)

        def control(handler: Handler) -> Endpoint:
            return api(handler, control=True)

        R = Route
        routes = [
            R(c.PAYMENT_INTENTS, api(self._create_intent), methods=["POST"]),
            R(c.PAYMENT_INTENT, api(self._get_intent), methods=["GET"]),
            R(c.ATTACH, api(self._attach), methods=["POST"]),
            R(c.PAYMENT_METHODS, api(self._create_method), methods=["POST"]),
            R(c.PAYMENT_METHOD, api(self._get("method")), methods=["GET"]),
            R(c.PAYMENTS, api(self._list_payments), methods=["GET"]),
            R(c.PAYMENT, api(self._get("payment")), methods=["GET"]),
            R(c.REFUNDS, api(self._create_refund), methods=["POST"]),
            R(c.REFUNDS, api(self._list_refunds), methods=["GET"]),
            R(c.REFUND, api(self._get("refund")), methods=["GET"]),
            R(c.PLANS, api(self._create_plan), methods=["POST"]),
            R(c.PLAN, api(self._get("plan")), methods=["GET"]),
            R(c.CUSTOMERS, api(self._create_customer), methods=["POST"]),
            R(c.CUSTOMER, api(self._get("customer")), methods=["GET"]),
            R(c.SUBSCRIPTIONS, api(self._create_subscription), methods=["POST"]),
            R(c.SUBSCRIPTION, api(self._get("subscription")), methods=["GET"]),
            R(c.CANCEL, api(self._cancel), methods=["POST"]),
            R(c.TEST_CYCLE, api(self._test_cycle), methods=["POST"]),
            R(c.INVOICES, api(self._list_invoices), methods=["GET"]),
            R(c.WEBHOOKS, api(self._create_webhook), methods=["POST"]),
            R(c.WEBHOOKS, api(self._list_webhooks), methods=["GET"]),
            R(c.WEBHOOK, api(self._get_webhook), methods=["GET"]),
            R(c.WEBHOOK, api(self._update_webhook), methods=["PUT"]),
            R(c.WEBHOOK_ENABLE, api(self._enable_webhook), methods=["POST"]),
            R(c.WEBHOOK_DISABLE, api(self._disable_webhook), methods=["POST"]),
            R("/_sim/paymongo/3ds/{id}/{token}", self._three_ds, methods=["GET", "POST"]),
            R("/_sim/info", _info, methods=["GET"]),
            R(
                "/_sim/webhook_endpoints",
                control(self._add_endpoint),
                methods=["POST"],
            ),
            R(
                "/_sim/webhook_endpoints/{id}",
                control(self._remove_endpoint),
                methods=["DELETE"],
            ),
            R(
                "/_sim/webhook_endpoints/{id}",
                control(self._repoint_endpoint),
                methods=["PATCH"],
            ),
            R(
                "/_sim/clock/advance",
                control(self._advance_clock),
                methods=["POST"],
            ),
            R("/_sim/faults", control(_set_faults(faults)), methods=["PUT", "GET"]),
            R(
                "/_sim/paymongo/subscriptions",
                control(self._switch_subscriptions),
                methods=["PUT"],
            ),
            R(
                "/_sim/books",
                control(lambda r, e, b, k: (200, books.summary())),
                methods=["GET"],
            ),
        ]

        return http.app(routes, _http_error)

    def _endpoints(self, books: Books, faults: Faults) -> http.Endpoints[Call, Handler]:
        """PayMongo's wire for the shared wrapper: Basic auth, a rate limit per key (not on
        control routes), JSON bodies, `Idempotency-Key` replays, PayMongo's error shape."""

        async def open_call(call: Call, control: bool) -> Response | None:
            call.env, key = authenticate(books, call.request, control=control)
            if not control and self._limited(key):
                return PlainTextResponse(RATE_LIMITED, 429)
            call.body = await read_json(call.request)
            return None

        def run(call: Call, handler: Handler) -> tuple[int, Row]:
            idem = call.request.headers.get(c.IDEMPOTENCY_HEADER)
            return self._idempotent(call.request, call.env, call.body, idem, handler)

        def failed(call: Call, status: int) -> Exception | Response:
            if status == 429:
                return PlainTextResponse(RATE_LIMITED, 429)
            return PMError(status, "simulated_outage", "simulated outage")

        return http.Endpoints(
            faults=faults,
            start=Call,
            open=open_call,
            run=run,
            refused=_refused,
            answer=lambda call, status, data: JSONResponse(data, status),
            # a string where a list goes
            garbled=lambda call, status: JSONResponse({"errors": "boom"}, status),
            failed=failed,
            failed_after=lambda call: PMError(
                500, "simulated_failure_after_work", "simulated failure"
            ),
        )

    def _limited(self, key: str) -> bool:
        now = time.monotonic()
        window = self._recent.setdefault(key, collections.deque())
        while window and window[0] <= now - self.rate_window:
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
        if len(key) > c.MAX_IDEMPOTENCY_KEY:
            # "up to 255 characters" (https://developers.paymongo.com/reference/idempotent-requests);
            # the refusal's status and code are not documented: ASSUMED 400 parameter_invalid.
            raise PMError(
                400,
                "parameter_invalid",
                f"{c.IDEMPOTENCY_HEADER} must be at most {c.MAX_IDEMPOTENCY_KEY} characters.",
            )
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


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status in (404, 405):
        # No such route (or not with this method): 404 with an empty body. PayMongo's
        # official clients tell a missing route from a missing resource by exactly
        # that (paymongo/paymongo-php src/HttpClient.php RouteNotFoundException,
        # paymongo/paymongo-node src/HttpClient.js RouteNotFoundError); a missing
        # resource is 404 with PayMongo's errors array.
        return Response(b"", 404)
    return JSONResponse(PMError(status, "api_error", f"HTTP {status}").body(), status)


def _info(request: Request) -> Response:
    return JSONResponse({"simulator": "rehearsal", "dialect": "paymongo"})


def _refused(call: Call, exc: Exception) -> tuple[int, Row] | None:
    if isinstance(exc, BooksError):
        code = CODES.get(exc.code, exc.code)
        return exc.status, PMError(exc.status, code, exc.message).body()
    if isinstance(exc, PMError):
        return exc.status, exc.body()
    return None


def _set_faults(faults: Faults) -> Handler:
    def handler(request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
        if request.method == "PUT":
            specs = body.get("faults", [])
            if not isinstance(specs, list) or not all(isinstance(x, str) for x in specs):
                raise PMError(400, "parameter_invalid", "faults must be a list of fault specs")
            try:
                fresh = Faults.parse([str(s) for s in specs], faults.unknown_event)
            except FaultSpecError as exc:
                raise PMError(400, "parameter_invalid", str(exc)) from None
            faults.replace_with(fresh)
        return 200, {"faults": faults.specs}

    return handler


DIALECT = PayMongoDialect  # found by rehearsal/simulator/server.py through this module's name
