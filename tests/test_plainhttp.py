"""rehearsal/net/plain.py against real servers on 127.0.0.1: the requests it sends
are the ones httpx sent (URL, body, auth, content type), kept-alive connections are reused
and a closed one is not, and network failures carry httpx's names."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from rehearsal.net.plain import NetworkError, PlainHttp, is_plain


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON; `close` ends the connection
    after the answer without saying so (as a server's idle timeout does)."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]
    close_after: bool = False

    def _answer(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        record = {
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "content_type": self.headers.get("Content-Type"),
            "authorization": self.headers.get("Authorization"),
            "key": self.headers.get("Idempotency-Key"),
            "peer": self.client_address[1],
        }
        self.server.seen.append(record)  # type: ignore[attr-defined]
        out = json.dumps(record).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", "req_1")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        self.wfile.flush()
        if self.server.close_after:  # type: ignore[attr-defined]
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    closed = threading.Event()  # set when the server has closed a connection

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = _Server(("127.0.0.1", 0), _Echo)
    srv.closed = threading.Event()
    srv.daemon_threads = True
    srv.seen = []  # type: ignore[attr-defined]
    srv.close_after = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def base(srv: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/v1/"


def test_requests_are_the_ones_httpx_sends(server: ThreadingHTTPServer) -> None:
    plain = PlainHttp(base(server), headers={}, auth=("sk_test_x", ""), timeout=5)
    client = httpx.Client(base_url=base(server), auth=("sk_test_x", ""), timeout=5)
    calls: list[dict[str, Any]] = [
        {"method": "POST", "path": "/payments", "json": {"amount": 500, "note": "café"}},
        {"method": "POST", "path": "customers", "form": {"email": "a b@x.io", "m[k]": "v&w"}},
        {"method": "GET", "path": "/payments/pay_1?limit=3&starting_after=x"},
        {"method": "POST", "path": "/payments/pay_1/cancel"},
        {"method": "DELETE", "path": "/subscriptions/sub 1"},
    ]
    try:
        for call in calls:
            plain.request(call["method"], call["path"], json_body=call.get("json"),
                          form=call.get("form"))  # fmt: skip
            client.request(call["method"], call["path"], json=call.get("json"),
                           data=call.get("form"))  # fmt: skip
    finally:
        plain.close()
        client.close()
    ours, theirs = server.seen[0::2], server.seen[1::2]  # type: ignore[attr-defined]
    for a, b in zip(ours, theirs, strict=True):
        a.pop("peer"), b.pop("peer")
        assert a == b


def test_an_answer_is_read_whole_with_its_headers(server: ThreadingHTTPServer) -> None:
    plain = PlainHttp(base(server), headers={}, auth=None, timeout=5)
    try:
        reply = plain.request("POST", "/x", json_body={"a": 1}, headers={"Idempotency-Key": "k1"})
    finally:
        plain.close()
    assert reply.status == 201
    assert reply.header("request-id") == "req_1" and reply.header(None) is None
    assert reply.json()["key"] == "k1"


def test_a_kept_alive_connection_is_reused_and_a_closed_one_is_not(
    server: ThreadingHTTPServer,
) -> None:
    plain = PlainHttp(base(server), headers={}, auth=None, timeout=5)
    try:
        first = plain.request("GET", "/a").json()["peer"]
        assert plain.request("GET", "/b").json()["peer"] == first  # the same connection
        server.close_after = True  # type: ignore[attr-defined]
        plain.request("GET", "/c")  # answered, then the server closes it silently
        server.close_after = False  # type: ignore[attr-defined]
        assert server.closed.wait(5)  # type: ignore[attr-defined]
        # Noticed before reuse: the next request goes out on a new connection, not into
        # the closed one (which would fail it, or leave it unknown whether it was sent).
        assert plain.request("GET", "/d").json()["peer"] != first
    finally:
        plain.close()


def test_refused_connections_are_named_as_httpx_names_them() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        plain = PlainHttp(f"http://127.0.0.1:{port}", headers={}, auth=None, timeout=5)
        with pytest.raises(NetworkError) as caught:
            plain.request("GET", "/x")
    assert caught.value.what == "ConnectError"


def test_a_silent_server_is_a_read_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        plain = PlainHttp(
            f"http://127.0.0.1:{listener.getsockname()[1]}", headers={}, auth=None, timeout=0.2
        )
        with pytest.raises(NetworkError) as caught:
            plain.request("POST", "/x", json_body={"a": 1})
        plain.close()
    assert caught.value.what == "ReadTimeout"
    assert "127.0.0.1" not in str(caught.value)  # a name, never the URL


def test_only_http_bases_on_this_machine() -> None:
    for base in ("http://127.0.0.1:8420", "http://localhost:1/v1", "http://[::1]:80/"):
        assert is_plain(base), base
    for base in ("https://127.0.0.1:8420", "http://api.example.com", "http://10.0.0.1/"):
        assert not is_plain(base), base
        with pytest.raises(ValueError):
            PlainHttp(base, headers={}, auth=None, timeout=5)


def scripted(answer: bytes, then_close: bool) -> tuple[socket.socket, threading.Thread]:
    """A server for one connection: reads a request's head, writes `answer` as bytes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(answer)
            if not then_close:
                conn.recv(1)  # until the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(
    ("answer", "then_close"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"7\r\n{\"a\": 1\r\n1\r\n}\r\n0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\": 1}", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\n{\"a\": 1}", False),
    ],
    ids=["chunked", "until-close", "http/1.0"],
)  # fmt: skip
def test_bodies_however_framed(answer: bytes, then_close: bool) -> None:
    listener, thread = scripted(answer, then_close)
    plain = PlainHttp(
        f"http://127.0.0.1:{listener.getsockname()[1]}", headers={}, auth=None, timeout=5
    )
    try:
        assert plain.request("GET", "/x").json() == {"a": 1}
    finally:
        plain.close()
        thread.join(5)
        listener.close()
    assert not plain._idle  # none of these is kept for another request


def test_an_answer_cut_short_is_a_protocol_error() -> None:
    listener, thread = scripted(b'HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n{"a"', True)
    plain = PlainHttp(
        f"http://127.0.0.1:{listener.getsockname()[1]}", headers={}, auth=None, timeout=5
    )
    with pytest.raises(NetworkError) as caught:
        plain.request("GET", "/x")
    thread.join(5)
    listener.close()
    assert caught.value.what == "RemoteProtocolError"


@pytest.mark.parametrize("value", ["k\r\nX-Injected: 1", "k\n", "k\x00"])
def test_a_header_that_would_split_the_request_is_refused_before_sending(value: str) -> None:
    plain = PlainHttp("http://127.0.0.1:9", headers={}, auth=None, timeout=5)
    with pytest.raises(ValueError):
        plain.request("POST", "/x", headers={"Idempotency-Key": value})
    with pytest.raises(ValueError):
        PlainHttp("http://127.0.0.1:9", headers={"Authorization": value}, auth=None, timeout=5)
