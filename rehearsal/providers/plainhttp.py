"""Requests to a plain `http://` API base (the simulator on loopback) over kept-alive
`http.client` connections: what the adapters' HttpCore sends when no TLS is involved.

httpx was half of a matrix's runner time (bench/README.md): per call it merges and parses
URLs, builds a Request and headers object, and walks httpcore's pool and h11's state
machine. Here a call is one `http.client` request on an idle connection of this adapter's,
the headers fixed when the adapter is made. https (every real provider) stays on httpx.

What it keeps of httpx's behaviour, so the adapters cannot tell: the URL is the base's path
plus the call's (httpx's merge), JSON and form bodies are encoded as httpx encodes them,
Basic auth as httpx builds it, one timeout bounds connect and every read and write, no
redirect is followed, and a network failure is an `httpx`-named `NetworkError` (its class
name goes into the operator's message, never a URL, header or body). An idle connection the
server has closed is noticed before it is reused (it reads as readable, as httpcore checks),
so a request is not sent into a dead socket; a failure after sending is the caller's to
retry, with the same idempotency key.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

# Characters a path and query may hold as they are (RFC 3986 pchar, "/", "?", and "%" so an
# escape the caller made is not escaped twice); anything else is percent-encoded, as httpx does.
_SAFE = "/?%:@!$&'()*+,;=-._~"


class NetworkError(Exception):
    """No usable answer: `what` is the httpx name of the failure (ConnectError, ReadTimeout)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Headers(Protocol):
    """A response's headers, looked up case-insensitively (http.client's and httpx's)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str | None) -> str | None:
        return self.headers.get(name) if name else None

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (or too deeply nested to parse)."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None


def is_plain(api_base: str) -> bool:
    return urlsplit(api_base.strip()).scheme.lower() == "http"


class PlainHttp:
    """One adapter's connections to one `http://` origin; safe to use from many threads."""

    def __init__(
        self,
        api_base: str,
        *,
        headers: Mapping[str, str],
        auth: tuple[str, str] | None,
        timeout: float,
    ) -> None:
        url = urlsplit(api_base.strip())
        if url.scheme.lower() != "http" or not url.hostname:
            raise ValueError("PlainHttp serves http:// bases with a host")
        self._host, self._port = url.hostname, url.port or 80
        self._prefix = url.path.rstrip("/") + "/"  # httpx: the base always ends in "/"
        self._timeout = timeout
        fixed = {"Accept": "*/*", **headers}
        if auth is not None:
            token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            fixed["Authorization"] = f"Basic {token}"
        self._headers = fixed
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def target(self, path: str) -> str:
        """The request target for `path` (which may carry a query): base path + path."""
        return quote(self._prefix + path.lstrip("/"), safe=_SAFE)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        body: bytes | None = None
        sent = dict(self._headers)
        if json_body is not None:
            body = json.dumps(
                json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            sent["Content-Type"] = "application/json"
        elif form:
            body = urlencode(list(form.items()), doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if headers:
            sent.update(headers)
        # http.client adds Content-Length (0 for a POST without a body, as httpx does)
        return self.send(method, self.target(path), body, sent)

    def send(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Reply:
        """One exchange on an idle connection (or a new one); the answer read whole."""
        conn, phase = self._take(), "connect"
        try:
            if conn.sock is None:
                conn.connect()
                sock: socket.socket = conn.sock  # type: ignore[assignment]  # connect set it
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            phase = "write"
            conn.request(method, target, body=body, headers=headers)
            phase = "read"
            response = conn.getresponse()
            data = response.read()
        except BaseException as exc:
            conn.close()
            if isinstance(exc, OSError | http.client.HTTPException):
                raise NetworkError(_httpx_name(phase, exc)) from None
            raise
        reply = Reply(response.status, response.headers, data)
        if response.will_close or conn.sock is None:
            conn.close()
        else:
            self._give_back(conn)
        return reply

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            if not _closed_by_peer(conn.sock):
                return conn
            conn.close()

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()


def _closed_by_peer(sock: socket.socket | None) -> bool:
    """An idle keep-alive socket that reads as readable was closed (or spoken to out of
    turn) by the server: not to be reused. httpcore makes the same check."""
    if sock is None:
        return True
    try:
        if not hasattr(select, "poll"):  # Windows
            return bool(select.select([sock], [], [], 0)[0])
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _httpx_name(phase: str, exc: BaseException) -> str:
    """The name httpx gives the same failure, so messages read as they did."""
    if isinstance(exc, TimeoutError):
        return {"connect": "ConnectTimeout", "write": "WriteTimeout"}.get(phase, "ReadTimeout")
    if isinstance(exc, http.client.HTTPException | ConnectionResetError | BrokenPipeError):
        return "ConnectError" if phase == "connect" else "RemoteProtocolError"
    return {"connect": "ConnectError", "write": "WriteError"}.get(phase, "ReadError")
