"""Merchant webhook endpoints for the audit's tests: real servers on 127.0.0.1 (plain
HTTP, or TLS with certificates made by trustme), one correct handler and the same handler
with one mistake switched on. The correct handler verifies as each provider documents
(the project's own verification code stands in for the merchant's library)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.providers import signatures
from rehearsal.providers.paymongo import signature as paymongo_signature

MISTAKES = (
    "accepts-bad-signature",  # only checks that a header is there
    "accepts-missing-signature",  # verifies a header when one is sent; none is fine
    "accepts-tampered-body",  # checks the header's shape and age, not its HMAC
    "accepts-stale-timestamp",  # no replay window
    "accepts-other-environment",  # never reads the environment field
    "accepts-other-mode-slot",  # PayMongo: takes te= or li=, whichever is filled
    "reserializes-body",  # verifies json.dumps(json.loads(body)), not the raw bytes
    "4xx-on-unknown-type",
    "5xx-on-duplicate",
    "slow",  # does its work before answering
)
KNOWN = {"payment.succeeded", "payment.refunded", "payment.paid", "payment.failed"}


@dataclass
class Merchant:
    provider: str
    secret: str
    environment: str = "test"
    mistake: str | None = None
    delay: float = 0.6
    seen: set[str] = field(default_factory=set)
    hits: int = 0

    def _fields(self, body: bytes) -> tuple[str, str, str]:
        """(event id, type, environment), read only after the signature passed."""
        data = json.loads(body)
        if self.provider == "paymongo":
            attrs = data["data"]["attributes"]
            return data["data"]["id"], attrs["type"], "live" if attrs["livemode"] else "test"
        return data["eventId"], data["type"], data["environment"]

    def _verify(self, headers: Any, body: bytes) -> bool:
        name = "paymongo-signature" if self.provider == "paymongo" else "mintcash-signature"
        header = headers.get(name)
        m = self.mistake
        if header is None:
            return m == "accepts-missing-signature"
        if m == "accepts-bad-signature":
            return True
        if m == "reserializes-body":
            body = json.dumps(json.loads(body), separators=(",", ":")).encode()
        tolerance = 1e12 if m == "accepts-stale-timestamp" else 300.0
        if m == "accepts-tampered-body":
            t = re.search(r"t=(\d+)", header)
            return bool(t and abs(time.time() - int(t.group(1))) < 300)
        try:
            if self.provider == "paymongo":
                if m == "accepts-other-mode-slot":
                    t, fields = paymongo_signature.parse_header(header)
                    given = fields.get("te") or fields.get("li") or ""
                    if abs(time.time() - t) > tolerance:
                        return False
                    expected = hmac.new(
                        self.secret.encode(), f"{t}.".encode() + body, hashlib.sha256
                    ).hexdigest()
                    return hmac.compare_digest(expected, given)
                paymongo_signature.verify(
                    header,
                    body,
                    [self.secret],
                    environment=self.environment,
                    tolerance=tolerance,
                )
            else:
                signatures.verify(header, body, [self.secret], tolerance=tolerance)
        except signatures.SignatureError:
            return False
        return True

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def hook(request: Request) -> JSONResponse:
            self.hits += 1
            body = await request.body()
            if not self._verify(request.headers, body):
                return JSONResponse({"error": "bad signature"}, 400)
            event_id, kind, env = self._fields(body)
            if env != self.environment and self.mistake != "accepts-other-environment":
                return JSONResponse({"error": "wrong environment"}, 400)
            if kind not in KNOWN:
                if self.mistake == "4xx-on-unknown-type":
                    return JSONResponse({"error": "unknown type"}, 422)
                return JSONResponse({"ignored": True})
            if event_id in self.seen:
                if self.mistake == "5xx-on-duplicate":
                    return JSONResponse({"error": "already processed"}, 500)
                return JSONResponse({"duplicate": True})
            self.seen.add(event_id)
            if self.mistake == "slow":  # the handler's own work, done before answering
                await asyncio.sleep(self.delay)
            return JSONResponse({"received": True})

        return Starlette(routes=[Route("/hooks/payments", hook, methods=["POST"])])


@contextmanager
def serving(merchant: Merchant, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """The merchant's endpoint on 127.0.0.1 (a free port); `tls`: (cert chain, key)."""
    import uvicorn

    ready = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            try:
                await super().startup(sockets=sockets)
            finally:
                ready.set()

    config = uvicorn.Config(
        merchant.app(),
        host="127.0.0.1",
        port=0,
        log_level="error",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert ready.wait(10) and server.started, "the merchant's server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/hooks/payments"
    finally:
        server.should_exit = True
        thread.join(5)


def trusted_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(cert chain, key, CA) from a trustme CA: trusted when the CA is given."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key, ca_pem = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    for i, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(chain), append=i > 0)
    ca.cert_pem.write_to_path(str(ca_pem))
    return chain, key, ca_pem


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate that signs itself (trustme's CA certificate, which is one), served for
    127.0.0.1: no CA vouches for it."""
    import trustme

    ca = trustme.CA()
    chain, key = folder / "self.pem", folder / "self-key.pem"
    ca.cert_pem.write_to_path(str(chain))
    ca.private_key_pem.write_to_path(str(key))
    return chain, key
