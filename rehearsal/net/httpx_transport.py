"""The transport for https and every real provider: an httpx Client, made on first use
with the process's one TLS context (rehearsal/net/tls.py), which honours HTTP_PROXY and the
like. It answers as rehearsal/net/plain.py does (a `Reply`; an httpx transport failure as a
`NetworkError` named by its class), so the core cannot tell which transport spoke. It never
retries and never puts a URL, header or body into a failure.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rehearsal.net import tls
from rehearsal.net.plain import NetworkError, Reply

if TYPE_CHECKING:
    import httpx


class HttpxTransport:
    """One httpx Client for one base URL; safe to use from many threads."""

    def __init__(
        self,
        api_base: str,
        *,
        headers: Mapping[str, str],
        auth: tuple[str, str] | None,
        timeout: float,
    ) -> None:
        self._base = api_base.rstrip("/")
        self._headers = dict(headers)
        self._auth = auth
        self._timeout = timeout

    @functools.cached_property
    def client(self) -> httpx.Client:
        """Made on first use (a test may set its own, over an httpx.MockTransport)."""
        import httpx

        return httpx.Client(
            base_url=self._base,
            auth=self._auth,
            headers=self._headers,
            timeout=self._timeout,
            verify=tls.for_url(self._base),  # tls.py: one context per process
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        import httpx

        try:
            response = self.client.request(
                method, path, json=json_body, data=dict(form) if form else None, headers=headers
            )
        except httpx.TransportError as exc:
            raise NetworkError(exc.__class__.__name__) from None
        return Reply(response.status_code, response.headers, response.content)

    def close(self) -> None:
        if "client" in self.__dict__:  # made (or set by a test) at some point
            self.client.close()
