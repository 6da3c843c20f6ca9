"""PayMongo's `Paymongo-Signature: t=<unix>,te=<hex>,li=<hex>` webhook signatures.

HMAC-SHA256 with the webhook's secret over `"{t}.{raw body}"` (the same signed string as
rehearsal/providers/signatures.py, whose `compute` this reuses). PayMongo fills `te` for a test-mode
event and `li` for a live one, the other left empty
(https://developers.paymongo.com/docs/securing-webhook). We compare, in constant time,
only the field of the mode we run in: an event signed for the other mode is refused, even
if its signature is genuine. PayMongo documents no replay window; we refuse timestamps
more than the tolerance away from now, as for every provider. Messages never hold a
secret or an expected signature.
"""

from __future__ import annotations

import hmac
import time

from rehearsal.providers.signatures import SignatureError, compute, refuse_empty

HEADER = "Paymongo-Signature"
TOLERANCE = 300.0  # seconds; PayMongo publishes none (docs/providers/paymongo.md)
FIELD = {"test": "te", "live": "li"}


def sign(secret: str, body: bytes, *, livemode: bool, timestamp: int | None = None) -> str:
    """The header PayMongo would send for `body` in that mode."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = compute(secret, t, body)
    te, li = ("", digest) if livemode else (digest, "")
    return f"t={t},te={te},li={li}"


def parse_header(header: str) -> tuple[int, dict[str, str]]:
    """The timestamp and the `te`/`li` fields, by key (PayMongo's own SDKs differ on order)."""
    fields: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key in ("t", "te", "li") and key not in fields:
            fields[key] = value.strip()
    raw = fields.pop("t", None)
    if raw is None:
        raise SignatureError("Paymongo-Signature has no timestamp (t=)")
    try:
        timestamp = int(raw)
    except ValueError:
        raise SignatureError("Paymongo-Signature has a malformed timestamp") from None
    return timestamp, fields


def verify(
    header: str | None,
    body: bytes,
    secrets: list[str],
    *,
    environment: str,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a delivery for `environment` ("test" or "live"); its timestamp, or SignatureError."""
    refuse_empty(secrets)
    if not header:
        raise SignatureError("Paymongo-Signature header is missing")
    timestamp, fields = parse_header(header)
    mine = FIELD[environment]
    other = FIELD["live" if environment == "test" else "test"]
    given = fields.get(mine, "")
    if not given:
        if fields.get(other):
            raise SignatureError(
                f"the event is signed for {'live' if environment == 'test' else 'test'} mode "
                f"({other}=), not for this {environment}-mode run ({mine}= is empty)"
            )
        raise SignatureError(f"Paymongo-Signature has no {mine}= signature")
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError(f"timestamp is older than the {tolerance:.0f}s tolerance")
    if timestamp > current + tolerance:
        raise SignatureError(f"timestamp is more than {tolerance:.0f}s in the future")
    candidate = given.encode("utf-8", "replace")
    for secret in secrets:
        if hmac.compare_digest(compute(secret, timestamp, body).encode("ascii"), candidate):
            return timestamp
    raise SignatureError(f"the {mine}= signature does not match the body with the webhook's secret")
