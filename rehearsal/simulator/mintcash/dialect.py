"""The simulator's MintCash dialect: MintCash's paths, JSON shapes, errors and signatures.

Every answer carries a request id (header and body). POSTs that move money require an
`externalId`: the same id with the same body replays the original answer, the same id with
another body is a 409. Fault switches for API calls apply here, before or after the work.
The `/_sim/...` routes are the simulator's own control surface, not MintCash's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rehearsal.simulator.books import Books, BooksError, Row, new_id
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.mintcash import wire as c

Handler = Callable[[Request, str, dict[str, Any]], tuple[int, Row]]

MAX_BODY = 64 * 1024


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class MintCashDialect:
    name = "mintcash"

    def __init__(self) -> None:
        self.books: Books | None = None

    # --- rendering --------------------------------------------------------------------------

    def render(self, kind: str, row: Row) -> Row:
        card = {"brand": row.get("card_brand"), "last4": row.get("card_last4")}
        common = {
            "id": row["id"],
            "object": kind,
            "externalId": row.get("external_id"),
            "environment": row["env"],
            "createdAt": iso(row["created_at"]),
        }
        if kind == "payment":
            refunds = self.books.refund_ids(row["id"]) if self.books else []
            return {
                **common,
                "amount": row["amount"],
                "currency": row["currency"],
                "status": row["status"],
                "amountRefunded": row["amount_refunded"],
                "refunds": refunds,
                "failureCode": row["failure_code"],
                "card": card,
                "subscriptionId": row["subscription_id"],
                "description": row["description"],
            }
        if kind == "refund":
            return {
                **common,
                "paymentId": row["payment_id"],
                "amount": row["amount"],
                "status": row["status"],
                "reason": row["reason"],
            }
        return {
            **common,
            "amount": row["amount"],
            "currency": row["currency"],
            "interval": row["interval"],
            "status": row["status"],
            "card": card,
            "currentPeriodStart": iso(row["period_start"]),
            "currentPeriodEnd": iso(row["period_end"]),
            "renewals": row["renewals"],
            "latestPaymentId": row["latest_payment_id"],
            "cancellationReason": row["cancel_reason"],
            "cancelledAt": iso(row["cancelled_at"]),
        }

    def render_event(self, event_id: str, kind: str, obj: Row, env: str, created: float) -> bytes:
        payload = {
            "eventId": event_id,
            "type": kind,
            "environment": env,
            "createdAt": iso(created),
            "data": {"object": self.render(obj["object_kind"], obj)},
        }
        return json.dumps(payload, separators=(",", ":")).encode()

    def signature_headers(self, body: bytes) -> dict[str, str]:
        assert self.books is not None
        return {c.SIGNATURE_HEADER: c.sign(self.books.keys.webhook_secret, body)}

    # --- the app ----------------------------------------------------------------------------

    def app(self, books: Books, faults: Faults) -> Starlette:
        self.books = books
        books.renewal_failure = lambda sub: faults.renewal_failure(sub["id"])

        def endpoint(
            handler: Handler, *, control: bool = False
        ) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                request_id = new_id("req")
                try:
                    env = _authenticate(books, request)
                    body = await _json_body(request)
                    fault = (
                        None if control else faults.take_api_fault(request.method, request.url.path)
                    )
                    if fault and fault.kind == "hold":
                        await asyncio.sleep(fault.value)
                    elif fault and fault.kind == "garble":  # a string where an object goes
                        headers = {c.REQUEST_ID_HEADER: request_id}
                        return JSONResponse({"error": "boom"}, int(fault.value), headers=headers)
                    elif fault and fault.kind == "fail":
                        raise BooksError(
                            int(fault.value),
                            "api_error",
                            "simulated_outage",
                            "the simulator was told to fail this call",
                        )
                    status, data = handler(request, env, body)
                    if fault and fault.kind == "fail-after":
                        raise BooksError(
                            500,
                            "api_error",
                            "simulated_failure_after_work",
                            "the simulator did the work, then failed the answer",
                        )
                except BooksError as exc:
                    status, data = (
                        exc.status,
                        {"error": {"type": exc.kind, "code": exc.code, "message": exc.message}},
                    )
                headers = {c.REQUEST_ID_HEADER: request_id}
                if data.pop("_replayed", False):
                    headers[c.IDEMPOTENT_REPLAY_HEADER] = "true"
                return JSONResponse({**data, "requestId": request_id}, status, headers=headers)

            return run

        routes = [
            Route(c.PAYMENTS, endpoint(self._create_payment), methods=["POST"]),
            Route(c.PAYMENTS, endpoint(self._list_payments), methods=["GET"]),
            Route(c.PAYMENT, endpoint(self._get("payment")), methods=["GET"]),
            Route(c.REFUND, endpoint(self._create_refund), methods=["POST"]),
            Route(c.REFUNDS, endpoint(self._list_refunds), methods=["GET"]),
            Route(c.REFUND_ONE, endpoint(self._get("refund")), methods=["GET"]),
            Route(c.SUBSCRIPTIONS, endpoint(self._create_subscription), methods=["POST"]),
            Route(c.SUBSCRIPTIONS, endpoint(self._list_subscriptions), methods=["GET"]),
            Route(c.SUBSCRIPTION, endpoint(self._get("subscription")), methods=["GET"]),
            Route(c.CANCEL, endpoint(self._cancel), methods=["POST"]),
            Route(c.ADVANCE, endpoint(self._advance), methods=["POST"]),
            Route(c.EVENTS, endpoint(self._events), methods=["GET"]),
            Route("/_sim/info", _info, methods=["GET"]),
            Route(
                "/_sim/webhook_endpoints",
                endpoint(self._add_endpoint, control=True),
                methods=["POST"],
            ),
            Route(
                "/_sim/webhook_endpoints/{id}",
                endpoint(self._remove_endpoint, control=True),
                methods=["DELETE"],
            ),
            Route(
                "/_sim/webhook_endpoints/{id}",
                endpoint(self._repoint_endpoint, control=True),
                methods=["PATCH"],
            ),
            Route(
                "/_sim/faults", endpoint(_set_faults(faults), control=True), methods=["PUT", "GET"]
            ),
            Route(
                "/_sim/clock/advance", endpoint(self._advance_clock, control=True), methods=["POST"]
            ),
            Route(
                "/_sim/books",
                endpoint(lambda r, e, b: (200, books.summary()), control=True),
                methods=["GET"],
            ),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 500)
            request_id = new_id("req")
            code = {404: "not_found", 405: "method_not_allowed"}.get(status, "api_error")
            return JSONResponse(
                {
                    "error": {
                        "type": "invalid_request" if status < 500 else "api_error",
                        "code": code,
                        "message": f"HTTP {status}",
                    },
                    "requestId": request_id,
                },
                status,
                headers={c.REQUEST_ID_HEADER: request_id},
            )

        return Starlette(
            routes=routes, exception_handlers={HTTPException: http_error, Exception: http_error}
        )

    # --- handlers ---------------------------------------------------------------------------

    def _idempotent(
        self,
        env: str,
        scope: str,
        body: Row,
        create: Callable[[Any], tuple[str, Row]],
        *,
        status: int = 201,
        fingerprint: Row | None = None,
    ) -> tuple[int, Row]:
        """`create` once per externalId: the same id with the same request (`fingerprint`,
        the body by default) replays the first answer, another request is a 409."""
        assert self.books is not None
        external_id = body.get("externalId")
        if not isinstance(external_id, str) or not external_id:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_missing",
                "externalId is required on every POST that moves money",
            )
        request = body if fingerprint is None else fingerprint
        with self.books.tx() as db:  # the replay check and the write are one transaction
            replay = self.books.replay(env, scope, external_id, request)
            if replay is not None:
                return replay[0], {**replay[1], "_replayed": True}
            kind, row = create(db)
            response = self.render(kind, row)
            self.books.remember(db, env, scope, external_id, request, status, response)
        return status, response

    def _create_payment(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        amount, currency = _amount(body), _currency(body)
        card = _str(body, "paymentMethod")
        assert self.books is not None
        books = self.books
        return self._idempotent(
            env,
            "payments",
            body,
            lambda db: (
                "payment",
                books.create_payment(
                    db,
                    env,
                    external_id=body["externalId"],
                    amount=amount,
                    currency=currency,
                    card_token=card,
                    description=body.get("description"),
                ),
            ),
        )

    def _create_refund(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        payment_id = _str(body, "paymentId")
        amount = _amount(body) if "amount" in body else None
        assert self.books is not None
        books = self.books
        return self._idempotent(
            env,
            "refund",
            body,
            lambda db: (
                "refund",
                books.create_refund(
                    db,
                    env,
                    external_id=body["externalId"],
                    payment_id=payment_id,
                    amount=amount,
                    reason=body.get("reason"),
                ),
            ),
        )

    def _create_subscription(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        amount, currency = _amount(body), _currency(body)
        interval = body.get("interval", "month")
        if interval not in c.INTERVALS:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_invalid",
                f"interval must be one of {', '.join(c.INTERVALS)}",
            )
        card = _str(body, "paymentMethod")
        assert self.books is not None
        books = self.books
        return self._idempotent(
            env,
            "subscriptions",
            body,
            lambda db: (
                "subscription",
                books.create_subscription(
                    db,
                    env,
                    external_id=body["externalId"],
                    amount=amount,
                    currency=currency,
                    interval=interval,
                    card_token=card,
                ),
            ),
        )

    def _get(self, kind: str) -> Handler:
        def get(request: Request, env: str, body: Row) -> tuple[int, Row]:
            assert self.books is not None
            fetch = {
                "payment": self.books.payment,
                "refund": self.books.refund,
                "subscription": self.books.subscription,
            }[kind]
            return 200, self.render(kind, fetch(env, request.path_params["id"]))

        return get

    def _list_payments(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        if "externalId" in request.query_params:
            return self._by_external_id(request, env, "payment")
        sub_id = request.query_params.get("subscriptionId")
        if not sub_id:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_missing",
                "subscriptionId or externalId is required to list payments",
            )
        rows = self.books.subscription_payments(env, sub_id)
        return 200, {"object": "list", "data": [self.render("payment", r) for r in rows]}

    def _list_subscriptions(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        return self._by_external_id(request, env, "subscription")

    def _list_refunds(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        return self._by_external_id(request, env, "refund")

    def _by_external_id(self, request: Request, env: str, kind: str) -> tuple[int, Row]:
        """What a POST with this externalId created: a list of one, or empty if none landed."""
        assert self.books is not None
        if not request.query_params.get("externalId"):
            raise BooksError(
                400,
                "invalid_request",
                "parameter_missing",
                f"externalId is required to list {kind}s",
            )
        row = self.books.by_external_id(env, kind, request.query_params["externalId"])
        return 200, {"object": "list", "data": [self.render(kind, row)] if row else []}

    def _cancel(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        sub = self.books.cancel_subscription(env, request.path_params["id"], body.get("reason"))
        return 200, self.render("subscription", sub)

    def _advance(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        if env != "test":
            raise BooksError(
                404, "invalid_request", "not_found", "test helpers exist only in test mode"
            )
        books, sub_id = self.books, request.path_params["id"]
        # An advance renews (charges) once per externalId, like every POST that moves money;
        # the subscription is part of the request, so the same id on another one is a 409.
        return self._idempotent(
            env,
            "advance",
            body,
            lambda db: ("subscription", books.advance_to_renewal(env, sub_id, db)),
            status=200,
            fingerprint={**body, "subscriptionId": sub_id},
        )

    def _events(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_invalid",
                "limit must be an integer from 1 to 100",
            )
        rows = self.books.events_after(env, request.query_params.get("after"), int(raw))
        events = [json.loads(ev["payload"]) for ev in rows]
        return 200, {"object": "list", "data": events}

    def _add_endpoint(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        url = _str(body, "url")
        if not url.startswith(("http://", "https://")):
            raise BooksError(400, "invalid_request", "parameter_invalid", "url must be http(s)")
        events = body.get("events") or ["*"]
        row = self.books.add_endpoint(url, list(events), body.get("environment"))
        return 201, {"id": row["id"], "url": url, "events": events}

    def _remove_endpoint(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        removed = self.books.remove_endpoint(request.path_params["id"])
        return 200, {"id": request.path_params["id"], "removed": removed}

    def _repoint_endpoint(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        url = _str(body, "url")
        if not url.startswith(("http://", "https://")):
            raise BooksError(400, "invalid_request", "parameter_invalid", "url must be http(s)")
        if not self.books.repoint_endpoint(request.path_params["id"], url):
            raise BooksError(404, "invalid_request", "not_found", "no such enabled endpoint")
        self.books.on_enqueue()  # wake the deliverer: due retries go to the new URL now
        return 200, {"id": request.path_params["id"], "url": url}

    def _advance_clock(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise BooksError(
                400, "invalid_request", "parameter_invalid", "seconds must be a number >= 0"
            )
        self.books.advance_clock(float(seconds))
        return 200, {"now": iso(self.books.now())}


def _info(request: Request) -> Response:
    return JSONResponse({"simulator": "rehearsal", "dialect": "mintcash"})


def _set_faults(faults: Faults) -> Handler:
    def handler(request: Request, env: str, body: Row) -> tuple[int, Row]:
        if request.method == "PUT":
            specs = body.get("faults", [])
            if not isinstance(specs, list) or not all(isinstance(x, str) for x in specs):
                raise BooksError(
                    400,
                    "invalid_request",
                    "parameter_invalid",
                    "faults must be a list of fault specs (strings)",
                )
            try:
                fresh = Faults.parse([str(s) for s in specs], faults.unknown_event)
            except FaultSpecError as exc:
                raise BooksError(400, "invalid_request", "parameter_invalid", str(exc)) from None
            faults.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})
        return 200, {"faults": faults.specs, "api_faults": faults.api_faults_left()}

    return handler


def _authenticate(books: Books, request: Request) -> str:
    scheme, _, key = request.headers.get(c.AUTH_HEADER, "").partition(" ")
    env = books.environment_for_key(key) if scheme == "Bearer" and key else None
    if env is None:
        raise BooksError(
            401, "authentication_error", "invalid_api_key", "missing or unknown API key"
        )
    return env


async def _json_body(request: Request) -> Row:
    if request.method in ("GET", "DELETE"):
        return {}
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BooksError(413, "invalid_request", "body_too_large", "request body too large")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BooksError(400, "invalid_request", "body_invalid", "body is not JSON") from None
    if not isinstance(body, dict):
        raise BooksError(400, "invalid_request", "body_invalid", "body must be a JSON object")
    return body


def _amount(body: Row) -> int:
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BooksError(
            400,
            "invalid_request",
            "parameter_invalid",
            "amount must be a positive integer in minor units",
        )
    return amount


def _currency(body: Row) -> str:
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise BooksError(
            400,
            "invalid_request",
            "parameter_invalid",
            "currency must be a three-letter ISO code such as USD",
        )
    return currency


def _str(body: Row, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BooksError(400, "invalid_request", "parameter_missing", f"{key} is required")
    return value


DIALECT = MintCashDialect  # found by rehearsal/simulator/server.py through this module's name
