"""The simulator's own control routes (`/_sim/...`) in the Stripe dialect: webhook endpoints
for the rehearsal's receiver, fault switches, the simulator's clock and the books at a
glance. JSON in and out, the secret key as for the API, Stripe's error shape; no fault
switch applies to them. They are the simulator's, not Stripe's: nothing here is on Stripe.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rehearsal.simulator import http
from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.http import Call
from rehearsal.simulator.stripe.store import Store
from rehearsal.simulator.stripe.webhooks import stripe_types, widen_faults
from rehearsal.simulator.stripe.wire import StripeError, authenticate

Work = Callable[[Request, Row], tuple[int, Row]]


def control_routes(books: Books, faults: Faults, store: Store) -> list[Route]:
    wrap = _endpoints(books, faults)

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
            faults.replace_with(fresh)
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
            for s in reversed(store.objects(env, "subscription"))
        ]
        return 200, books_now

    def route(path: str, work: Work, method: str, *more: str) -> Route:
        return Route(path, wrap(work, control=True), methods=[method, *more])

    return [
        Route("/_sim/info", _info, methods=["GET"]),
        route("/_sim/webhook_endpoints", add, "POST"),
        route("/_sim/webhook_endpoints/{id}", remove, "DELETE"),
        route("/_sim/webhook_endpoints/{id}", repoint, "PATCH"),
        route("/_sim/faults", set_faults, "PUT", "GET"),
        route("/_sim/clock/advance", advance, "POST"),
        route("/_sim/books", summary, "GET"),
    ]


async def _info(request: Request) -> Response:
    return JSONResponse({"simulator": "rehearsal", "dialect": "stripe"})


def _endpoints(books: Books, faults: Faults) -> http.Endpoints[Call, Work]:
    async def open_call(call: Call, control: bool) -> Response | None:
        authenticate(books, call.request)
        raw = await call.request.body()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise StripeError(400, "The body must be a JSON object.")
        call.body = body
        return None

    def refused(call: Call, exc: Exception) -> tuple[int, Row] | None:
        if isinstance(exc, ValueError | FaultSpecError):
            return 400, StripeError(400, str(exc)).body()
        if isinstance(exc, StripeError):
            return exc.status, exc.body()
        return None

    return http.Endpoints(
        faults=faults,
        start=Call,
        open=open_call,
        run=lambda call, work: work(call.request, call.body),
        refused=refused,
        answer=lambda call, status, data: JSONResponse(data, status),
        # control routes take no fault switch; these are the API's answers, never sent
        garbled=lambda call, status: JSONResponse({"message": "boom"}, status),
        failed=lambda call, status: StripeError(status, "Simulated outage.", kind="api_error"),
        failed_after=lambda call: StripeError(500, "An unknown error occurred.", kind="api_error"),
    )
