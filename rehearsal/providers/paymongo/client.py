"""PayMongo over HTTP: Basic auth with the secret key, JSON:API bodies, retries.

429, 5xx and network errors are retried with exponential backoff (tenacity), re-sending the
same `Idempotency-Key`, so PayMongo answers a retry with its saved response. Refusals become
one line for the operator from PayMongo's `{"errors": [{code, detail, source}]}`, never a
header, a key or a raw body. Every exchange is reported to the observer (method, route, status).
"""

from __future__ import annotations

from rehearsal.errors import ProviderError
from rehearsal.net.transport import transport_for
from rehearsal.providers.base import ProviderObserver
from rehearsal.providers.errorbody import CODE_LIMIT, one_line
from rehearsal.providers.http import HttpCore, Wire, route
from rehearsal.providers.jsonwire import Body, JSONObject
from rehearsal.providers.paymongo import contract as c


class PayMongoHttp(HttpCore):
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
        self._http_timeout = http_timeout
        super().__init__(
            WIRE,
            transport_for(
                api_base,
                headers={"Accept": "application/json"},
                auth=(secret_key, ""),  # Basic base64("sk_…:"), as PayMongo's curl examples
                timeout=http_timeout,
            ),
            attempts=attempts,
            backoff=backoff,
            observer=observer,
        )

    def _get(self, path: str) -> Body:
        return self._request("GET", path, None, None)

    def _post(self, path: str, body: JSONObject | None, key: str | None) -> Body:
        return self._request("POST", path, body, key)

    def _request(self, method: str, path: str, body: JSONObject | None, key: str | None) -> Body:
        return self.exchange(method, path, json=body, key=key).data


def _refusal(
    method: str, path: str, status: int, data: object, request_id: str | None = None
) -> ProviderError:
    """PayMongo's errors array as one line for the operator: codes, details, fields. Only
    scalars are quoted, through one_line, so any body at all makes one line."""
    errors = c.errors_of(data)
    parts = []
    for error in errors[:3]:
        code = one_line(error.get("code"), CODE_LIMIT)
        detail = one_line(error.get("detail"))
        source = error.get("source")
        field = (
            one_line(source.get("pointer") or source.get("attribute"), CODE_LIMIT)
            if isinstance(source, dict)
            else ""
        )
        parts.append(
            code + (f": {detail}" if detail else "") + (f" (field {field})" if field else "")
        )
    first = one_line(errors[0].get("code"), CODE_LIMIT) or None if errors else None
    message = f"PayMongo refused {method} {route(path)}: HTTP {status}"
    if parts:
        message += " " + "; ".join(p for p in parts if p)
    return ProviderError(message.rstrip(), status=status, code=first)


WIRE = Wire(
    provider="PayMongo",
    refusal=_refusal,
    retry_hint="PayMongo or the network is failing; the same Idempotency-Key makes a "
    "later retry safe",
    idempotency_header=c.IDEMPOTENCY_HEADER,
    max_key=c.MAX_IDEMPOTENCY_KEY,
)
