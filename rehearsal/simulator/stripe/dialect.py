"""The simulator's Stripe dialect: Stripe's paths, form bodies, objects, errors and events.

Written from Stripe's documentation and checked with Stripe's own Python library
(tests/test_stripe_sim*.py drive it through `stripe` pointed at the simulator), never
from our adapter. Every answer carries a `Request-Id`. `Idempotency-Key` on a POST is
handled as https://docs.stripe.com/api/idempotent_requests describes it: the first answer
is saved once the endpoint begins its work (successes, card declines and 500s alike) and
replayed for the same key and parameters with `Idempotent-Replayed: true`; the same key
with other parameters is a 400 `idempotency_error`; a key whose first request is still
running is a 409; validation errors save nothing; keys are at most 255 characters.
The fault switches apply to Stripe's paths (`fail:POST /v1/refunds`) and, for webhooks,
to Stripe's types or the rehearsal's names for them. `/_sim/...` is the simulator's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.stripe.billing import BillingRoutes
from rehearsal.simulator.stripe.clocks import ClockRoutes
from rehearsal.simulator.stripe.payments import PaymentRoutes
from rehearsal.simulator.stripe.refunds import RefundRoutes
from rehearsal.simulator.stripe.store import API_VERSION, CURRENT_REQUEST, Store
from rehearsal.simulator.stripe.webhooks import WebhookRoutes, sign, stripe_types, widen_faults
from rehearsal.simulator.stripe.wire import (
    Handler,
    StripeError,
    authenticate,
    expand,
    expand_paths,
    new_request_id,
    public,
    read_params,
)

MAX_KEY = 255
SIGNATURE_HEADER = "Stripe-Signature"
Endpoint = Callable[[Request], Awaitable[Response]]


class StripeDialect(PaymentRoutes, RefundRoutes, BillingRoutes, ClockRoutes, WebhookRoutes):
    name = "stripe"

    def __init__(self) -> None:
        self.time_scale = 1.0  # the simulator's; scales a clock's advance and pending refunds
        self._running: set[tuple[str, str]] = set()  # (env, idempotency key) being worked on

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
        widen_faults(faults)
        api = self._endpoint
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
            *self._control_routes(books, faults),
        ]

        async def unknown(request: Request, exc: Exception) -> Response:
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

        return Starlette(
            routes=routes, exception_handlers={HTTPException: unknown, Exception: unknown}
        )

    def _endpoint(self, handler: Handler) -> Endpoint:
        async def run(request: Request) -> Response:
            request_id = new_request_id()
            headers = {
                "Request-Id": request_id,
                "Stripe-Version": request.headers.get("Stripe-Version") or API_VERSION,
            }
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            claimed: tuple[str, str] | None = None
            began = False
            token = CURRENT_REQUEST.set({"id": request_id, "idempotency_key": key})
            try:
                env = authenticate(self.store.books, request)
                self._catch_up()
                params = await read_params(request)
                fingerprint = f"{request.method} {request.url.path} " + json.dumps(
                    params, sort_keys=True
                )
                if key is not None:
                    if not key or len(key) > MAX_KEY:
                        raise StripeError(
                            400, f"Idempotency-Key must be 1 to {MAX_KEY} characters long."
                        )
                    saved = self._saved(env, key, fingerprint)
                    if saved is not None:
                        status, body, original = saved
                        return JSONResponse(
                            body,
                            status,
                            headers={
                                **headers,
                                "Idempotent-Replayed": "true",
                                "Original-Request": original,
                            },
                        )
                    claimed = (env, key)
                    self._running.add(claimed)
                fault = self.faults.take_api_fault(request.method, request.url.path)
                if fault and fault.kind == "hold":
                    await asyncio.sleep(fault.value)
                elif fault and fault.kind == "garble":  # not Stripe's error shape at all
                    return JSONResponse({"message": "boom"}, int(fault.value), headers=headers)
                elif fault and fault.kind == "fail":
                    raise StripeError(int(fault.value), "Simulated outage.", kind="api_error")
                began = True
                status, body = handler(request, env, params)
                if fault and fault.kind == "fail-after":  # the work is done; the answer lost
                    raise StripeError(500, "An unknown error occurred.", kind="api_error")
                body = public(expand(body, expand_paths(params), self.store.find))
            except StripeError as exc:
                status, body = exc.status, public(exc.body())
                if status == 500 and began:
                    headers["Stripe-Should-Retry"] = "false"  # a retry would replay it
            finally:
                CURRENT_REQUEST.reset(token)
                if claimed is not None:
                    self._running.discard(claimed)
            if claimed is not None and began and (status < 400 or status == 402 or status >= 500):
                self._save(claimed, fingerprint, status, body, request_id)
            return JSONResponse(body, status, headers=headers)

        return run

    # --- idempotency ------------------------------------------------------------------------

    def _saved(self, env: str, key: str, fingerprint: str) -> tuple[int, Row, str] | None:
        if (env, key) in self._running:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through): " + key + ". Please try again later.",
                kind="idempotency_error",
                code="idempotency_key_in_use",
            )
        row = self.store.books._one(
            "SELECT fingerprint, status, body FROM st_idempotency WHERE env = ? AND key = ?",
            env,
            key,
        )
        if row is None:
            return None
        if row["fingerprint"] != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                kind="idempotency_error",
            )
        saved = json.loads(row["body"])
        return int(row["status"]), saved["body"], saved["request_id"]

    def _save(
        self, claimed: tuple[str, str], fingerprint: str, status: int, body: Row, request_id: str
    ) -> None:
        env, key = claimed
        with contextlib.suppress(sqlite3.IntegrityError), self.store.books.tx() as db:
            db.execute(
                "INSERT INTO st_idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (
                    env,
                    key,
                    fingerprint,
                    status,
                    json.dumps({"body": body, "request_id": request_id}),
                    time.time(),
                ),
            )

    # --- the simulator's own control routes -----------------------------------------------------

    def _control_routes(self, books: Books, faults: Faults) -> list[Route]:
        def control(work: Callable[[Request, Row], tuple[int, Row]]) -> Endpoint:
            async def run(request: Request) -> Response:
                try:
                    authenticate(books, request)
                    raw = await request.body()
                    body = json.loads(raw) if raw else {}
                    if not isinstance(body, dict):
                        raise StripeError(400, "The body must be a JSON object.")
                    status, data = work(request, body)
                except (ValueError, FaultSpecError) as exc:
                    status, data = 400, StripeError(400, str(exc)).body()
                except StripeError as exc:
                    status, data = exc.status, exc.body()
                return JSONResponse(data, status)

            return run

        def add(request: Request, body: Row) -> tuple[int, Row]:
            url = body.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise StripeError(400, "url must be http(s)")
            events = stripe_types(list(body.get("events") or ["*"]))
            row = books.add_endpoint(url, events, body.get("environment"))
            return 201, {"id": row["id"], "url": url, "events": events}

        def remove(request: Request, body: Row) -> tuple[int, Row]:
            removed = books.remove_endpoint(request.path_params["id"])
            return 200, {"id": request.path_params["id"], "removed": removed}

        def repoint(request: Request, body: Row) -> tuple[int, Row]:
            url = body.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise StripeError(400, "url must be http(s)")
            if not books.repoint_endpoint(request.path_params["id"], url):
                raise StripeError(404, "no such enabled endpoint")
            books.on_enqueue()
            return 200, {"id": request.path_params["id"], "url": url}

        def set_faults(request: Request, body: Row) -> tuple[int, Row]:
            if request.method == "PUT":
                specs = body.get("faults", [])
                if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
                    raise StripeError(400, "faults must be a list of fault specs")
                fresh = Faults.parse(specs, faults.unknown_event)
                widen_faults(fresh)
                faults.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})
            return 200, {"faults": faults.specs}

        def advance(request: Request, body: Row) -> tuple[int, Row]:
            seconds = body.get("seconds")
            if not isinstance(seconds, int | float) or seconds < 0:
                raise StripeError(400, "seconds must be a number >= 0")
            books.advance_clock(float(seconds))
            return 200, {"now": int(books.now())}

        def summary(request: Request, body: Row) -> tuple[int, Row]:
            books_now = books.summary()
            books_now["subscriptions"] = [
                {
                    "id": s["id"],
                    "env": "live" if s["livemode"] else "test",
                    "external_id": s.get("_key"),
                    "status": s["status"],
                    "renewals": s.get("_renewals", 0),
                }
                for env in ("test", "live")
                for s in reversed(self.store.objects(env, "subscription"))
            ]
            return 200, books_now

        async def info(request: Request) -> Response:
            return JSONResponse({"simulator": "rehearsal", "dialect": "stripe"})

        return [
            Route("/_sim/info", info, methods=["GET"]),
            Route("/_sim/webhook_endpoints", control(add), methods=["POST"]),
            Route("/_sim/webhook_endpoints/{id}", control(remove), methods=["DELETE"]),
            Route("/_sim/webhook_endpoints/{id}", control(repoint), methods=["PATCH"]),
            Route("/_sim/faults", control(set_faults), methods=["PUT", "GET"]),
            Route("/_sim/clock/advance", control(advance), methods=["POST"]),
            Route("/_sim/books", control(summary), methods=["GET"]),
        ]


DIALECT = StripeDialect  # found by rehearsal/simulator/server.py through this module's name
