"""The one seam between the HTTP core and the wire: a `Transport` takes a request (method,
path, a JSON or form body, the call's own headers) and gives back a `Reply` (status, headers,
body) or raises the one failure type, `NetworkError`. Which transport speaks is decided
here and nowhere else (stripe-python's `HTTPClient` pattern), so the engine, the ledger and
the providers' adapters cannot tell which one runs.

A plain `http://` base on this machine (127/8, ::1, localhost: the simulator) is spoken to
by rehearsal/net/plain.py's kept-alive connections, unless `REHEARSAL_HTTPX_ON_LOOPBACK=1`
asks for httpx there too (tests/e2e/test_httpx_path.py rehearses that path); everything
else, https and every real provider, goes through httpx (rehearsal/net/httpx_transport.py),
which honours HTTP_PROXY and the like. httpx is imported only when its transport is chosen,
so a rehearsal on the simulator never imports it. A transport never retries, never logs and
never puts a header, key or body into a failure: those are the core's to decide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from rehearsal.net.plain import NetworkError, PlainHttp, Reply, is_plain

__all__ = ["HTTPX_ON_LOOPBACK", "NetworkError", "Reply", "Transport", "transport_for"]

HTTPX_ON_LOOPBACK = "REHEARSAL_HTTPX_ON_LOOPBACK"


class Transport(Protocol):
    """Requests to one base URL, with the headers and auth fixed when it was made; safe to
    use from many threads. A failure with no usable answer raises NetworkError."""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply: ...

    def close(self) -> None: ...


def transport_for(
    api_base: str,
    *,
    headers: Mapping[str, str],
    auth: tuple[str, str] | None = None,
    timeout: float,
) -> Transport:
    """The transport for `api_base`: loopback plain http, or httpx (see the module's note).
    `headers` go on every request, after a `User-Agent: rehearsal`."""
    fixed = {"User-Agent": "rehearsal", **headers}
    if is_plain(api_base) and os.environ.get(HTTPX_ON_LOOPBACK, "") != "1":
        return PlainHttp(api_base, headers=fixed, auth=auth, timeout=timeout)
    from rehearsal.net.httpx_transport import HttpxTransport

    return HttpxTransport(api_base, headers=fixed, auth=auth, timeout=timeout)
