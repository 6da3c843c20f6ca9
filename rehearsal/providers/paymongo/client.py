"""PayMongo over HTTP: Basic auth with the secret key, JSON:API bodies, retries.

429, 5xx and network errors are retried with exponential backoff (tenacity), re-sending the
same `Idempotency-Key`, so PayMongo answers a retry with its saved response. Refusals become
one line for the operator from PayMongo's `{"errors": [{code, detail, source}]}`, never a
header, a key or a raw body. Every exchange is reported to `on_call` (method, route, status).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import httpx

from rehearsal.errors import ProviderError
from rehearsal.providers.base import ApiCall
from rehearsal.providers.errorbody import CODE_LIMIT, json_or_none, one_line
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.retry import Transient, with_retries


class PayMongoHttp:
    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        http_timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.25,
    ) -> None:
        self.on_call: Callable[[ApiCall], None] | None = None
        # Told before each attempt is sent: the ledger bounds when a lost call can land.
        self.on_send: Callable[[str, str], None] | None = None
        self._attempts = attempts
        self._backoff = backoff
        self._client = httpx.Client(
            base_url=api_base.rstrip("/"),
            auth=(secret_key, ""),  # Basic base64("sk_…:"), as PayMongo's curl examples
            headers={"User-Agent": "rehearsal", "Accept": "application/json"},
            timeout=http_timeout,
        )

    def _get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path, None, None)

    def _post(self, path: str, body: dict[str, Any] | None, key: str | None) -> dict[str, Any]:
        if key is not None and len(key) > c.MAX_IDEMPOTENCY_KEY:
            key = hashlib.sha256(key.encode()).hexdigest()
        return self._request("POST", path, body, key)

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, key: str | None
    ) -> dict[str, Any]:
        try:
            return with_retries(
                lambda: self._once(method, path, body, key),
                attempts=self._attempts,
                backoff=self._backoff,
            )
        except Transient as exc:
            raise ProviderError(
                f"PayMongo {method} {_route(path)} failed after {self._attempts} attempts: {exc}",
                hint="PayMongo or the network is failing; the same Idempotency-Key makes a "
                "later retry safe",
                status=exc.status,
            ) from None

    def _once(
        self, method: str, path: str, body: dict[str, Any] | None, key: str | None
    ) -> dict[str, Any]:
        headers = {c.IDEMPOTENCY_HEADER: key} if key else {}
        if self.on_send:
            self.on_send(method, path.split("?", 1)[0])
        started = time.perf_counter()
        try:
            response = self._client.request(method, path, json=body, headers=headers)
        except httpx.TransportError as exc:
            self._observe(method, path, None, started)
            raise Transient(None, f"network error ({exc.__class__.__name__})") from None
        self._observe(method, path, response.status_code, started)
        status = response.status_code
        if status == 429 or status >= 500:
            raise Transient(status, f"HTTP {status}")
        data = json_or_none(response)
        if status >= 400 or not isinstance(data, dict):
            raise _refusal(method, path, status, data)
        return data

    def _observe(self, method: str, path: str, status: int | None, started: float) -> None:
        if self.on_call:
            elapsed = (time.perf_counter() - started) * 1000
            self.on_call(ApiCall(method, _route(path), status, None, elapsed))


def _route(path: str) -> str:
    return path.split("?", 1)[0]


def _refusal(method: str, path: str, status: int, data: Any) -> ProviderError:
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
    message = f"PayMongo refused {method} {_route(path)}: HTTP {status}"
    if parts:
        message += " " + "; ".join(p for p in parts if p)
    return ProviderError(message.rstrip(), status=status, code=first)
