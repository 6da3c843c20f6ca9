"""The simulator's Stripe dialect: Stripe's paths, form bodies, objects, errors and events.

Written from Stripe's documentation and checked with Stripe's own Python library
(tests/test_stripe_sim*.py drive it through `stripe` pointed at the simulator), never
from our adapter. Every answer carries a `Request-Id`. `Idempotency-Key` on a POST is
handled as https://docs.stripe.com/api/idempotent_requests describes it: the first answer
is saved once the endpoint begins its work (successes, card declines and 500s alike) and
replayed for the same key and parameters with `Idempotent-Replayed: true`; the same key
with other parameters is a 400 `idempotency_error`; a key whose first request is still
running is a 409; validation errors save nothing; keys are at most 255 characters.
A parameter the route does not know is a 400 `parameter_unknown` (strict.py, params.py).
The fault switches apply to Stripe's paths (`fail:POST /v1/refunds`) and, for webhooks,
to Stripe's types or the rehearsal's names for them. `/_sim/...` is the simulator's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import sqlite3
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rehearsal.simulator import http
from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.http import Call
from rehearsal.simulator.stripe.billing import BillingRoutes
from rehearsal.simulator.stripe.catalog import CatalogRoutes
from rehearsal.simulator.stripe.clocks import ClockRoutes
from rehearsal.simulator.stripe.control import control_routes
from rehearsal.simulator.stripe.idempotency import Claim, Idempotency
from rehearsal.simulator.stripe.payments import PaymentRoutes
from rehearsal.simulator.stripe.refunds import RefundRoutes
from rehearsal.simulator.stripe.store import API_VERSION, CURRENT_REQUEST, Store
from rehearsal.simulator.stripe.strict import read_known_params
from rehearsal.simulator.stripe.webhooks import WebhookRoutes, sign, widen_faults
from rehearsal.simulator.stripe.wire import (
    Handler,
    StripeError,
    authenticate,
    expand,
    expand_paths,
    new_request_id,
    public,
)

SIGNATURE_HEADER = "Stripe-Signature"


@dataclass
class StripeCall(Call):
    """A Stripe API request in the wrapper: its Idempotency-Key and what it claimed."""

    key: str | None = None  # the Idempotency-Key of a POST
    claim: Claim | None = None  # (env, key) while this request is the key's first
    fingerprint: str = ""  # method, path and parameters: a replay must match them
    token: contextvars.Token[Row | None] | None = None  # CURRENT_REQUEST, reset at close


class StripeDialect(
    PaymentRoutes, RefundRoutes, CatalogRoutes, BillingRoutes, ClockRoutes, WebhookRoutes
):
    name = "stripe"

    def __init__(self) -> None:
        self.time_scale = 1.0  # the simulator's; scales a clock's advance and pending refunds

    # --- the books' and the deliverer's hooks -----------------------------------------------

    def render_event(self, event_id: str, kind: str, obj: Row, env: str, created: float) -> bytes:
        envelope = self.store.envelope(event_id, kind, obj, env, created)
        return json.dumps(public(envelope), separators=(",", ":")).encode()

    def signature_headers(self, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(self.store.books.keys.webhook_secret, body)}

    # --- time -------------------------------------------------------------------------------

    def later(self, seconds: float) -> None:
        asyncio.get_running_loop().call_later(max(0.0, seconds) + 0.001, self._catch_up_quietly)

    def _catch_up(self) -> None:
        now = time.time()
        self.finish_clocks(now)
        self.finish_pending_refunds(now)

    def _catch_up_quietly(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # the simulator stopped meanwhile
            self._catch_up()

    # --- the app ----------------------------------------------------------------------------

    def app(self, books: Books, faults: Faults) -> Starlette:
        self.store = Store(books)
        self.faults = faults
        self.idempotency = Idempotency(books)
        widen_faults(faults)
        api = self._endpoints(faults)
        R = Route
        routes = [
            R("/v1/payment_intents", api(self._create_intent), methods=["POST"]),
            R("/v1/payment_intents", api(self._list_intents), methods=["GET"]),
            R("/v1/payment_intents/{id}", api(self._get_intent), methods=["GET"]),
            R("/v1/payment_intents/{id}/confirm", api(self._confirm_intent), methods=["POST"]),
            R("/v1/payment_intents/{id}/cancel", api(self._cancel_intent), methods=["POST"]),
            R("/v1/payment_methods/{id}", api(self._get_method), methods=["GET"]),
            R("/v1/payment_methods/{id}/attach", api(self._attach_method), methods=["POST"]),
            R("/v1/charges", api(self._list_charges), methods=["GET"]),
            R("/v1/charges/{id}", api(self._get_charge), methods=["GET"]),
            R("/v1/refunds", api(self._create_refund), methods=["POST"]),
            R("/v1/refunds", api(self._list_refunds), methods=["GET"]),
            R("/v1/refunds/{id}", api(self._get_refund), methods=["GET"]),
            R("/v1/customers", api(self._create_customer), methods=["POST"]),
            R("/v1/customers", api(self._list_customers), methods=["GET"]),
            R("/v1/customers/{id}", api(self._get_customer), methods=["GET"]),
            R("/v1/customers/{id}", api(self._update_customer), methods=["POST"]),
            R("/v1/customers/{id}", api(self._delete_customer), methods=["DELETE"]),
            R("/v1/products", api(self._create_product), methods=["POST"]),
            R("/v1/products/{id}", api(self._get_product), methods=["GET"]),
            R("/v1/prices", api(self._create_price), methods=["POST"]),
            R("/v1/prices/{id}", api(self._get_price), methods=["GET"]),
            R("/v1/subscriptions", api(self._create_subscription), methods=["POST"]),
            R("/v1/subscriptions", api(self._list_subscriptions), methods=["GET"]),
            R("/v1/subscriptions/{id}", api(self._get_subscription), methods=["GET"]),
            R("/v1/subscriptions/{id}", api(self._cancel_subscription), methods=["DELETE"]),
            R("/v1/invoices", api(self._list_invoices), methods=["GET"]),
            R("/v1/invoices/{id}", api(self._get_invoice), methods=["GET"]),
            R("/v1/test_helpers/test_clocks", api(self._create_clock), methods=["POST"]),
            R("/v1/test_helpers/test_clocks", api(self._list_clocks), methods=["GET"]),
            R("/v1/test_helpers/test_clocks/{id}", api(self._get_clock), methods=["GET"]),
            R("/v1/test_helpers/test_clocks/{id}", api(self._delete_clock), methods=["DELETE"]),
            R(
                "/v1/test_helpers/test_clocks/{id}/advance",
                api(self._advance_clock),
                methods=["POST"],
            ),
            R("/v1/webhook_endpoints", api(self._create_endpoint), methods=["POST"]),
            R("/v1/webhook_endpoints", api(self._list_endpoints), methods=["GET"]),
            R("/v1/webhook_endpoints/{id}", api(self._get_endpoint), methods=["GET"]),
            R("/v1/webhook_endpoints/{id}", api(self._update_endpoint), methods=["POST"]),
            R("/v1/webhook_endpoints/{id}", api(self._delete_endpoint), methods=["DELETE"]),
            R("/v1/events", api(self._list_events), methods=["GET"]),
            R("/v1/events/{id}", api(self._get_event), methods=["GET"]),
            R("/_sim/stripe/3ds/{id}/{token}", self._three_ds, methods=["GET", "POST"]),
            *control_routes(books, faults, self.store),
        ]
        return http.app(routes, _unknown)

    def _endpoints(self, faults: Faults) -> http.Endpoints[StripeCall, Handler]:
        """Stripe's wire for the shared wrapper: a `Request-Id` on every answer, the secret
        key, form parameters, `Idempotency-Key` (checked before the fault switches; saved
        once the work began: successes, card declines and 500s alike), `expand[]`."""
        idem = self.idempotency

        def start(request: Request) -> StripeCall:
            request_id = new_request_id()
            headers = {
                "Request-Id": request_id,
                "Stripe-Version": request.headers.get("Stripe-Version") or API_VERSION,
            }
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            call = StripeCall(request, request_id=request_id, headers=headers, key=key)
            call.token = CURRENT_REQUEST.set({"id": request_id, "idempotency_key": key})
            return call

        async def open_call(call: StripeCall, control: bool) -> Response | None:
            request = call.request
            call.env = authenticate(self.store.books, request)
            self._catch_up()
            call.body = await read_known_params(request)  # before a key is claimed
            call.fingerprint = f"{request.method} {request.url.path} " + json.dumps(
                call.body, sort_keys=True
            )
            if call.key is None:
                return None
            idem.check(call.key)
            saved = idem.saved(call.env, call.key, call.fingerprint)
            if saved is not None:
                status, body, original = saved
                replayed = {"Idempotent-Replayed": "true", "Original-Request": original}
                return JSONResponse(body, status, headers={**call.headers, **replayed})
            call.claim = (call.env, call.key)
            idem.claim(call.claim)
            return None

        def run(call: StripeCall, handler: Handler) -> tuple[int, Row]:
            call.began = True
            return handler(call.request, call.env, call.body)

        def refused(call: StripeCall, exc: Exception) -> tuple[int, Row] | None:
            if not isinstance(exc, StripeError):
                return None
            if exc.status == 500 and call.began:
                call.headers["Stripe-Should-Retry"] = "false"  # a retry would replay it
            return exc.status, public(exc.body())

        def close(call: StripeCall) -> None:
            if call.token is not None:
                CURRENT_REQUEST.reset(call.token)
            if call.claim is not None:
                idem.release(call.claim)

        def answer(call: StripeCall, status: int, body: Row) -> Response:
            kept = status < 400 or status == 402 or status >= 500
            if call.claim is not None and call.began and kept:
                idem.save(call.claim, call.fingerprint, status, body, call.request_id)
            return JSONResponse(body, status, headers=call.headers)

        return http.Endpoints(
            faults=faults,
            start=start,
            open=open_call,
            run=run,
            refused=refused,
            answer=answer,
            # not Stripe's error shape at all
            garbled=lambda call, status: JSONResponse(
                {"message": "boom"}, status, headers=call.headers
            ),
            failed=lambda call, status: StripeError(status, "Simulated outage.", kind="api_error"),
            failed_after=lambda call: StripeError(
                500, "An unknown error occurred.", kind="api_error"
            ),
            finish=lambda call, status, body: public(
                expand(body, expand_paths(call.body), self.store.find)
            ),
            close=close,
        )


async def _unknown(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status in (404, 405):  # Stripe answers an unknown method and path alike
        message = (
            f"Unrecognized request URL ({request.method}: {request.url.path}). "
            "Please see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/."
        )
        return JSONResponse(
            StripeError(404, message).body(), 404, headers={"Request-Id": new_request_id()}
        )
    body = StripeError(500, "An unknown error occurred", kind="api_error").body()
    return JSONResponse(body, 500, headers={"Request-Id": new_request_id()})


DIALECT = StripeDialect  # found by rehearsal/simulator/server.py through this module's name
