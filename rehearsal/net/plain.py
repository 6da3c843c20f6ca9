"""Requests to a plain `http://` base on loopback (the simulator, the receiver) over
kept-alive connections of our own: the loopback Transport that rehearsal/net/transport.py
hands the adapters' HttpCore when no TLS is involved, and what the simulator's control
client, the target's first look and the tunnel probe send on this machine, so a rehearsal
on the simulator never imports httpx.

httpx was half of a matrix's runner time (bench/README.md): per call it merges and parses
URLs, builds a Request and headers object, and walks httpcore's pool and h11's state
machine; http.client, tried next, spent most of its time in the email package parsing
headers. Here a call writes one request (the fixed headers rendered once) and reads the
answer through httptools' C parser (uvicorn's, already a dependency), which also decides
Content-Length, chunked bodies and keep-alive. https (every real provider) stays on httpx.

What it keeps of httpx's behaviour, so the adapters cannot tell: the URL is the base's path
plus the call's (httpx's merge), JSON and form bodies are encoded as httpx encodes them,
Basic auth as httpx builds it, one timeout bounds connect and every read and write, no
redirect is followed, a header with a line break is refused before anything is sent, and a
network failure is an `httpx`-named `NetworkError` (its class name goes into the operator's
message, never a URL, header or body). An idle connection the server has closed is noticed
before it is reused (it reads as readable, as httpcore checks), so a request is not sent
into a dead socket; a failure after sending is the caller's to retry, with the same
idempotency key.
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import threading
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import httptools

# Characters a path and query may hold as they are (RFC 3986 pchar, "/", "?", and "%" so an
# escape the caller made is not escaped twice); anything else is percent-encoded, as httpx does.
_SAFE = "/?%:@!$&'()*+,;=-._~"
_CHUNK = 65536


class NetworkError(Exception):
    """No usable answer: `what` is the httpx name of the failure (ConnectError, ReadTimeout);
    `reason` the operating system's words for it, if any ("Connection refused")."""

    def __init__(self, what: str, reason: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.reason = reason


class Headers(Protocol):
    """A response's headers, looked up by lower-case name (ours, and httpx's: any case)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str | None) -> str | None:
        return self.headers.get(name.lower()) if name else None

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (or too deeply nested to parse)."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None


def is_plain(api_base: str) -> bool:
    """A plain `http://` base on this machine (the simulator). Elsewhere httpx speaks:
    it honours HTTP_PROXY and the like, which a loopback address never needs."""
    url = urlsplit(api_base.strip())
    return url.scheme.lower() == "http" and _loopback(url.hostname)


def origin_and_target(url: str) -> tuple[str, str]:
    """`http://host:port/path?query` as its origin (a PlainHttp base) and request target."""
    parts = urlsplit(url.strip())
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}", target


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        if not is_plain(api_base) or not url.hostname:
            raise ValueError("PlainHttp serves http:// bases on this machine")
        self._address = (url.hostname, url.port or 80)
        self._prefix = url.path.rstrip("/") + "/"  # httpx: the base always ends in "/"
        self._timeout = timeout
        host = url.hostname if url.port in (None, 80) else f"{url.hostname}:{url.port}"
        if ":" in url.hostname:  # an IPv6 literal keeps its brackets in Host
            host = url.netloc.rpartition("@")[2]
        fixed = {"Host": host, "Accept": "*/*", "Accept-Encoding": "identity", **headers}
        if auth is not None:
            token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            fixed["Authorization"] = f"Basic {token}"
        self._fixed = _lines(fixed)  # rendered once: the same for every request
        self._idle: list[socket.socket] = []
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
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        body = b""
        extra = dict(headers or {})
        if json_body is not None:
            body = json.dumps(
                json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            extra["Content-Type"] = "application/json"
        elif form:
            body = urlencode(list(form.items()), doseq=True).encode()
            extra["Content-Type"] = "application/x-www-form-urlencoded"
        if body or method in ("POST", "PUT", "PATCH"):
            extra["Content-Length"] = str(len(body))  # 0 for a POST without a body, as httpx
        return self.send(method, self.target(path), body, extra)

    def send(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """One exchange on an idle connection (or a new one); the answer read whole.
        `headers` are this request's own, after the fixed ones."""
        if not method.isalpha() or not target.isprintable() or " " in target:
            raise ValueError("a request line must be one line")
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}{_lines(headers)}\r\n"
        request = head.encode("latin-1") + body  # refused here, before any connection
        sock, phase = self._take(), "write"
        try:
            if sock is None:
                phase = "connect"
                sock = socket.create_connection(self._address, timeout=self._timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                phase = "write"
            sock.sendall(request)
            phase = "read"
            answer = _Answer()
            parser = answer.parser = httptools.HttpResponseParser(answer)
            while not answer.complete:
                data = sock.recv(_CHUNK)
                if not data:
                    if answer.until_close():  # a body that ends with the connection
                        break
                    raise _Dropped
                parser.feed_data(data)
        except BaseException as exc:
            if sock is not None:
                sock.close()
            if isinstance(exc, OSError | httptools.HttpParserError | _Dropped):
                reason = exc.strerror if isinstance(exc, OSError) else None
                raise NetworkError(_httpx_name(phase, exc), reason) from None
            raise
        if answer.extra or not answer.complete or not answer.keep_alive:
            sock.close()
        else:
            self._give_back(sock)
        return Reply(parser.get_status_code(), answer.headers, b"".join(answer.body))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    def _take(self) -> socket.socket | None:
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None or not _closed_by_peer(sock):
                return sock
            sock.close()

    def _give_back(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(sock)
                return
        sock.close()


class _Dropped(Exception):
    """The server closed the connection before its answer was complete."""


class _Answer:
    """httptools' callbacks: one response's headers (lower-case names; a repeated header
    joined with ", ", as httpx reads it) and body."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.complete = self.extra = self.began = self.headed = self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_message_begin(self) -> None:
        self.extra = self.began  # a second answer nobody asked for: not reused
        self.began = True

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.headed = True
        # Asked here: once the message is complete the parser has moved on to the next.
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def until_close(self) -> bool:
        """At end of stream: whether this was an answer whose body runs to the close (no
        Content-Length, not chunked); an answer cut short is not one."""
        framed = "content-length" in self.headers or "chunked" in self.headers.get(
            "transfer-encoding", ""
        )
        if self.headed and not framed:
            self.complete = True
            return True
        return False


def _lines(headers: Mapping[str, str]) -> str:
    """Header lines; a name or value that would break the request apart is refused."""
    out = []
    for name, value in headers.items():
        if not name.isprintable() or ":" in name or " " in name or not value.isprintable():
            raise ValueError("a header name or value must be one printable line")
        out.append(f"{name}: {value}\r\n")
    return "".join(out)


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive socket that reads as readable was closed (or spoken to out of
    turn) by the server: not to be reused. httpcore makes the same check."""
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
    if isinstance(exc, httptools.HttpParserError | _Dropped):
        return "RemoteProtocolError"
    return {"connect": "ConnectError", "write": "WriteError"}.get(phase, "ReadError")
