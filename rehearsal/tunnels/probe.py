"""The end-to-end probe: proof that the public URL reaches this run's receiver.

A probe is a POST to the public webhook URL carrying `X-Rehearsal-Probe` (a fresh nonce)
and an HMAC-SHA256 over "<timestamp>.<nonce>" with a random per-run secret that never leaves
this process. It cannot pass for a provider event: the receiver answers it before any
provider verification, never stores it, never publishes it. It passes only when the
receiver itself records the nonce: a relay that answers 200 without forwarding fails.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from rehearsal.tunnels.base import TunnelError

PROBE_HEADER = "X-Rehearsal-Probe"
SIGNATURE_HEADER = "X-Rehearsal-Probe-Signature"
TOLERANCE = 300  # seconds


class ProbeBox:
    """The receiver's side: checks probes and records their arrival; the sender waits on it."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._cond = threading.Condition()
        self._arrived: dict[str, float] = {}
        self.rejected = 0

    def sign(self, nonce: str, timestamp: int) -> str:
        mac = hmac.new(self._secret, f"{timestamp}.{nonce}".encode(), hashlib.sha256)
        return f"t={timestamp},v1={mac.hexdigest()}"

    def headers(self) -> tuple[str, dict[str, str]]:
        nonce = secrets.token_hex(16)
        return nonce, {
            PROBE_HEADER: nonce,
            SIGNATURE_HEADER: self.sign(nonce, int(time.time())),
            "Content-Type": "application/json",
            "User-Agent": "rehearsal-probe",
            "ngrok-skip-browser-warning": "1",  # the free plan's interstitial, for browsers
        }

    def answer(self, headers: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        """What the receiver answers a request that carries the probe header."""
        nonce = headers.get(PROBE_HEADER.lower()) or headers.get(PROBE_HEADER) or ""
        given = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER) or ""
        try:
            stamp = int(given.split(",", 1)[0].removeprefix("t="))
        except ValueError:
            stamp = 0
        fresh = abs(time.time() - stamp) <= TOLERANCE
        if not (nonce and fresh and hmac.compare_digest(given, self.sign(nonce, stamp))):
            with self._cond:
                self.rejected += 1
            return 400, {"error": "probe signature"}
        with self._cond:
            self._arrived[nonce] = time.monotonic()
            self._cond.notify_all()
        return 200, {"probe": "received"}

    def wait(self, nonce: str, deadline: float) -> float | None:
        """Arrival time (monotonic) of `nonce`, or None at `deadline` (monotonic)."""
        with self._cond:
            while nonce not in self._arrived:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._arrived[nonce]


RESEND_EVERY = 0.5  # seconds: a probe that did not get through is sent again until the deadline


def send_probe(url: str, box: ProbeBox, *, within: float, shown: str) -> float:
    """POST a probe to `url`; seconds until the receiver had it. TunnelError otherwise.

    A probe that does not get through (a refused connection, a DNS name not yet resolvable,
    the tunnel edge's 404 or 5xx while a fresh tunnel settles) is sent again, with the same
    nonce, until `within` has passed: a new quick tunnel can take a moment to be reachable.
    `shown` is how the URL appears in messages (without the receiver's secret path).
    """
    nonce, headers = box.headers()
    began = time.monotonic()
    deadline = began + within
    answer, attempts = "no answer", 0
    with _Poster(url) as post:
        while True:
            attempts += 1
            left = max(0.1, deadline - time.monotonic())
            status, failure = post(headers, left)
            answer = failure or f"HTTP {status}"
            through = status is not None and 200 <= status < 300  # the receiver has the nonce
            # Wait on the receiver's record (it may trail the answer), or until the resend.
            until = deadline if through else min(deadline, time.monotonic() + RESEND_EVERY)
            arrived = box.wait(nonce, until)
            if arrived is not None:
                return arrived - began
            if time.monotonic() >= deadline:
                break
    raise TunnelError(
        f"the tunnel probe did not reach the receiver within {within:g}s "
        f"(sent {attempts} time(s) to {shown}; last: {answer}); the path from the internet "
        "is broken",
        hint="no money was moved; check the tunnel (or your proxy's forwarding to "
        "--listen), then run again",
    )


class _Poster:
    """POSTs the probe to one URL: (status, None), or (None, the failure's httpx name).
    A receiver on this machine through rehearsal/net/plain.py (no httpx in a rehearsal on
    the simulator); a tunnel's public URL through httpx."""

    def __init__(self, url: str) -> None:
        from rehearsal.net.plain import is_plain, origin_and_target

        self._url = url
        self._httpx: Any = None
        self._plain = is_plain(url)
        if self._plain:
            self._origin, self._target = origin_and_target(url)
        else:
            import httpx

            from rehearsal.net import tls

            self._httpx = httpx.Client(verify=tls.for_url(url))

    def __call__(self, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
        if self._plain:
            from rehearsal.net.plain import NetworkError, PlainHttp

            client = PlainHttp(self._origin, headers={}, auth=None, timeout=timeout)
            try:
                reply = client.send("POST", self._target, b"{}", {**headers, "Content-Length": "2"})
            except NetworkError as exc:
                return None, exc.what
            finally:
                client.close()
            return reply.status, None
        import httpx

        try:
            r = self._httpx.post(self._url, headers=headers, content=b"{}", timeout=timeout)
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        return r.status_code, None

    def __enter__(self) -> _Poster:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpx is not None:
            self._httpx.close()
