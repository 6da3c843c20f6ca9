"""How the simulator signs its PayMongo webhooks, written from PayMongo's "Securing a
Webhook" page (https://developers.paymongo.com/docs/securing-webhook), not from the
adapter's verifier: `Paymongo-Signature: t=<unix>,te=<hex>,li=<hex>`, each signature the
lowercase hex HMAC-SHA256 of `"<t>.<raw body>"` keyed with the webhook's secret; `te` is
filled for a test-mode event and `li` for a live one, the other left empty (the official
Python README's live example: `t=1675323267,te=,li=...`).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Paymongo-Signature"


def digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, livemode: bool, timestamp: int | None = None) -> str:
    """The header value PayMongo sends with `body`, for an event of that mode."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = digest(secret, t, body)
    test, live = ("", signature) if livemode else (signature, "")
    return f"t={t},te={test},li={live}"
