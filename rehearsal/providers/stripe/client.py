"""Stripe over HTTP: Bearer auth, form bodies, a pinned Stripe-Version, one-line refusals.

httpx through the shared HttpCore (providers/http.py), not Stripe's library: the same
retries, call observation and messages as every adapter (docs/providers/stripe.md, "Why
httpx"). Every POST carries an `Idempotency-Key`; a retry of a 429, a 5xx or a network
error re-sends it, so Stripe answers with its saved response (`Idempotent-Replayed: true`).
Stripe's `{"error": {type, code, decline_code, message, param}}` becomes one line; a key,
a header or a raw body never does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from rehearsal.errors import ProviderError
from rehearsal.net.transport import transport_for
from rehearsal.providers.base import ObjectGone, ProviderObserver
from rehearsal.providers.errorbody import CODE_LIMIT, one_line
from rehearsal.providers.http import Answer, HttpCore, Wire, route
from rehearsal.providers.jsonwire import Body, JSONObject
from rehearsal.providers.stripe import contract as c
from rehearsal.providers.stripe.form import encode, query


class StripeRefusal(ProviderError):
    """Stripe's error answer, with what a caller may act on (a declined card's intent)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        error_type: str | None,
        decline_code: str | None,
        payment_intent: str | None,
        request_id: str | None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.error_type = error_type
        self.decline_code = decline_code
        self.payment_intent = payment_intent


class StripeHttp(HttpCore):
    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        http_timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.25,
        observer: ProviderObserver | None = None,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {secret_key}",
            c.VERSION_HEADER: c.API_VERSION,
            "Accept": "application/json",
        }
        super().__init__(
            WIRE,
            transport_for(api_base, headers=headers, timeout=http_timeout),
            attempts=attempts,
            backoff=backoff,
            observer=observer,
        )

    def get(self, path: str, params: JSONObject | None = None) -> Body:
        return self.exchange("GET", query(path, params or {})).data

    def post(self, path: str, params: JSONObject, key: str | None) -> Body:
        return self.post_answer(path, params, key).data

    def post_answer(self, path: str, params: JSONObject, key: str | None) -> Answer:
        return self.exchange("POST", path, form=encode(params), key=key)

    def delete(self, path: str) -> Body:
        return self.exchange("DELETE", path).data

    def list_all(self, path: str, params: JSONObject | None = None) -> Iterator[Body]:
        """Every object of a list call, page by page (`has_more`, `starting_after`): list
        calls read Stripe's books as they are, unlike Search."""
        params = {**(params or {}), "limit": c.LIST_LIMIT}
        while True:
            page = self.get(path, params)
            data = [o for o in page.get("data") or [] if isinstance(o, dict)]
            yield from data
            if not page.get("has_more") or not data:
                return
            params["starting_after"] = data[-1]["id"]


def _refusal(
    method: str, path: str, status: int, data: object, request_id: str | None = None
) -> ProviderError:
    error = data.get("error") if isinstance(data, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    kind = one_line(error.get("type"), CODE_LIMIT)
    code = one_line(error.get("code"), CODE_LIMIT)
    decline = one_line(error.get("decline_code"), CODE_LIMIT)
    param = one_line(error.get("param"), CODE_LIMIT)
    text = one_line(error.get("message"))
    message = f"Stripe refused {method} {route(path)}: HTTP {status}"
    for part in (kind, code):
        if part:
            message += f" {part}"
    if decline:
        message += f" (decline_code {decline})"
    if text:
        message += f": {text}"
    if param:
        message += f" (param {param})"
    intent = error.get("payment_intent")
    return StripeRefusal(
        message,
        status=status,
        code=decline or code or None,
        error_type=kind or None,
        decline_code=decline or None,
        payment_intent=c.ident(intent) if isinstance(intent, Mapping | str) else None,
        request_id=request_id,
    )


WIRE = Wire(
    provider="Stripe",
    refusal=_refusal,
    retry_hint="Stripe or the network is failing; the same Idempotency-Key makes a later "
    "retry safe (Stripe keeps keys at least 24 hours)",
    idempotency_header=c.IDEMPOTENCY_HEADER,
    request_id_header=c.REQUEST_ID_HEADER,
    replay_header=c.REPLAY_HEADER,
    max_key=c.MAX_IDEMPOTENCY_KEY,
)


def gone(exc: StripeRefusal, kind: str, object_id: str) -> ProviderError:
    """A subscription Stripe no longer has (404 resource_missing) went with its test clock
    (the rehearsal deletes each clock once its subscription is cancelled and its payments
    refunded: docs/providers/stripe.md); anything else is the refusal itself."""
    if kind == "subscription" and exc.status == 404 and exc.code == "resource_missing":
        return ObjectGone(
            f"Stripe no longer has subscription {object_id}: deleted with its test clock",
            status=404,
            code=exc.code,
            request_id=exc.request_id,
        )
    return exc
