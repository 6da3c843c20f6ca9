"""The simulator's MintCash dialect: MintCash's paths, JSON shapes, errors and signatures.

Every answer carries a request id (header and body). POSTs that move money require an
`externalId` (the handlers, in routes.py). Fault switches for API calls apply here, through
the shared endpoint wrapper (rehearsal/simulator/http.py), before or after the work.
The `/_sim/...` routes are the simulator's own control surface, not MintCash's.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rehearsal.simulator import http
from rehearsal.simulator.books import Books, BooksError, Row, new_id
from rehearsal.simulator.faults import Faults, FaultSpecError
from rehearsal.simulator.http import Call
from rehearsal.simulator.mintcash import wire as c
from rehearsal.simulator.mintcash.routes import Handler, MintCashRoutes, iso, required_str

MAX_BODY = 64 * 1024


class MintCashDialect(MintCashRoutes):
    name = "mintcash"

    def __init__(self) -> None:
        self.books: Books | None = None

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
        api = _endpoints(books, faults)

        def control(handler: Handler) -> http.Endpoint:
            return api(handler, control=True)

        routes = [
            Route(c.PAYMENTS, api(self._create_payment), methods=["POST"]),
            Route(c.PAYMENTS, api(self._list_payments), methods=["GET"]),
            Route(c.PAYMENT, api(self._get("payment")), methods=["GET"]),
            Route(c.REFUND, api(self._create_refund), methods=["POST"]),
            Route(c.REFUNDS, api(self._list_refunds), methods=["GET"]),
            Route(c.REFUND_ONE, api(self._get("refund")), methods=["GET"]),
            Route(c.SUBSCRIPTIONS, api(self._create_subscription), methods=["POST"]),
            Route(c.SUBSCRIPTIONS, api(self._list_subscriptions), methods=["GET"]),
            Route(c.SUBSCRIPTION, api(self._get("subscription")), methods=["GET"]),
            Route(c.CANCEL, api(self._cancel), methods=["POST"]),
            Route(c.ADVANCE, api(self._advance), methods=["POST"]),
            Route(c.EVENTS, api(self._events), methods=["GET"]),
            Route("/_sim/info", _info, methods=["GET"]),
            Route("/_sim/webhook_endpoints", control(self._add_endpoint), methods=["POST"]),
            Route(
                "/_sim/webhook_endpoints/{id}", control(self._remove_endpoint), methods=["DELETE"]
            ),
            Route(
                "/_sim/webhook_endpoints/{id}", control(self._repoint_endpoint), methods=["PATCH"]
            ),
            Route("/_sim/faults", control(_set_faults(faults)), methods=["PUT", "GET"]),
            Route("/_sim/clock/advance", control(self._advance_clock), methods=["POST"]),
            Route("/_sim/books", control(lambda r, e, b: (200, books.summary())), methods=["GET"]),
        ]
        return http.app(routes, _http_error)

    # --- the simulator's own control routes -------------------------------------------------

    def _add_endpoint(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        url = required_str(body, "url")
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
        url = required_str(body, "url")
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
            faults.replace_with(fresh)
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


# --- MintCash's wire, for the shared endpoint wrapper ----------------------------------------


def _endpoints(books: Books, faults: Faults) -> http.Endpoints[Call, Handler]:
    async def open_call(call: Call, control: bool) -> Response | None:
        call.env = _authenticate(books, call.request)
        call.body = await _json_body(call.request)
        return None

    return http.Endpoints(
        faults=faults,
        start=lambda request: Call(request, request_id=new_id("req")),
        open=open_call,
        run=lambda call, handler: handler(call.request, call.env, call.body),
        refused=_refused,
        answer=_answer,
        # a string where an object goes
        garbled=lambda call, status: JSONResponse(
            {"error": "boom"}, status, headers={c.REQUEST_ID_HEADER: call.request_id}
        ),
        failed=lambda call, status: BooksError(
            status, "api_error", "simulated_outage", "the simulator was told to fail this call"
        ),
        failed_after=lambda call: BooksError(
            500,
            "api_error",
            "simulated_failure_after_work",
            "the simulator did the work, then failed the answer",
        ),
    )


def _refused(call: Call, exc: Exception) -> tuple[int, Row] | None:
    if not isinstance(exc, BooksError):
        return None
    return exc.status, {"error": {"type": exc.kind, "code": exc.code, "message": exc.message}}


def _answer(call: Call, status: int, data: Row) -> Response:
    headers = {c.REQUEST_ID_HEADER: call.request_id}
    if data.pop("_replayed", False):
        headers[c.IDEMPOTENT_REPLAY_HEADER] = "true"
    return JSONResponse({**data, "requestId": call.request_id}, status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
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


DIALECT = MintCashDialect  # found by rehearsal/simulator/server.py through this module's name
