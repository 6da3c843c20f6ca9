"""What the PayMongo dialect's routes share: PayMongo's error shape, how a request's key,
body and attributes are read, and the base of the route classes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from starlette.requests import Request

from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.paymongo.store import Store

Handler = Callable[[Request, str, Row, str | None], tuple[int, Row]]
MAX_BODY = 64 * 1024
RATE_LIMITED = "Too many requests, please try again later."
NOT_CONFIGURED = "Subscriptions is not yet configured for this organization."
TEST_REFUND = "Only live transactions can be refunded."
# The books' error codes, as PayMongo names them.
CODES = {
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


class Routes:
    """The state every route class reads: the books, the dialect's resources, the fault
    switches, the subscriptions switch."""

    books: Books | None
    store: Store | None
    faults: Faults
    subscriptions_enabled: bool


def authenticate(books: Books, request: Request, *, control: bool) -> tuple[str, str]:
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


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def read_json(request: Request) -> Row:
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


def require_attributes(body: Row) -> Row:
    a = (body.get("data") or {}).get("attributes") if isinstance(body.get("data"), dict) else None
    if not isinstance(a, dict):
        raise PMError(400, "parameter_required", "data.attributes is required.", "data.attributes")
    return a


def parse_amount(a: Row, minimum: int) -> int:
    amount = a.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise PMError(400, "parameter_required", "amount is required.", "attributes.amount")
    if amount < minimum:
        raise PMError(
            400, "parameter_invalid", f"amount must be at least {minimum}.", "attributes.amount"
        )
    return amount


def parse_currency(a: Row) -> str:
    currency = a.get("currency")
    if currency != "PHP":
        raise PMError(400, "parameter_invalid", "currency must be PHP.", "attributes.currency")
    return str(currency)
