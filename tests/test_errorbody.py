"""Odd error bodies from a real HTTP server on 127.0.0.1: each adapter turns every one of
them into a one-line ProviderError, never another exception type (issue 11, item 4: a
MintCash `{"error": "boom"}` raised AttributeError and skipped compensation).

Property-style without a library: a fixed list of shapes seen in the wild (a string
`error`, lists, null, HTML from a proxy, invalid UTF-8, megabytes, deep nesting) and a
seeded generator of random JSON built from the keys the adapters look for.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rehearsal.errors import ProviderError
from rehearsal.providers.errorbody import CODE_LIMIT, one_line
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.providers.paymongo.adapter import PayMongo

ERROR_STATUSES = (400, 401, 402, 404, 409, 422)

ODD_BODIES: list[bytes] = [
    b'{"error": "boom"}',
    b'{"error": ["boom", {"code": "x"}]}',
    b'{"error": null}',
    b'{"error": 7}',
    b'{"error": {"code": {"nested": 1}, "message": ["not", "a", "string"]}}',
    b'{"error": {"code": "two\\nlines", "message": "line one\\nline two\\r\\n\\u0000\\u001b[31m"}}',
    b'{"errors": "boom"}',
    b'{"errors": [1, "x", null, {"code": 5, "source": "a string"}]}',
    b'{"errors": [{"code": "c", "detail": {"a": 1}, "source": {"pointer": ["x"]}}]}',
    b'{"errors": [{"code": null, "detail": null, "source": null}]}',
    b'{"errors": []}',
    b"null",
    b"[]",
    b'"just a string"',
    b"42",
    b"true",
    b"",
    b"<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>\n",
    b"\xff\xfe\x00\x01 not utf-8",
    b'{"error": "\xff\xfe"}',
    b"[" * 100_000 + b"]" * 100_000,  # deeper than json can parse: RecursionError
    b'{"error": {"code": "big", "message": "' + b"A" * 3_000_000 + b'"}}',
    b'{"errors": [{"code": "' + b"x\\n" * 200_000 + b'"}]}',
]

KEYS = ("error", "errors", "code", "message", "detail", "source", "pointer", "attribute", "x")


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, mostly objects keyed by what the adapters read."""
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**70), 2**70)
    if choice == 3:
        return rng.choice([0.5, -1e308, 1e-300])
    if choice in (4, 5):
        alphabet = 'ab \n\t\r\x00\x1b\u2028é€😀\\"'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
    if choice == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def random_bodies(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps(random_json(rng)).encode() for _ in range(count)]


class OddServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 answering every request with `answer`."""

    def __init__(self) -> None:
        self.answer: tuple[int, str, bytes] = (400, "application/json", b"{}")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms stall

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, content_type, body = outer.answer
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def odd() -> Iterator[OddServer]:
    server = OddServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def mintcash(odd: OddServer) -> Iterator[MintCash]:
    adapter = MintCash(
        api_base=odd.url,
        secret_key="sk_test_odd",
        webhook_secrets=[],
        environment="test",
        attempts=1,
        backoff=0.01,
    )
    yield adapter
    adapter.close()


@pytest.fixture(scope="module")
def paymongo(odd: OddServer) -> Iterator[PayMongo]:
    adapter = PayMongo(
        api_base=odd.url,
        secret_key="sk_test_odd",
        webhook_secrets=[],
        environment="test",
        attempts=1,
        backoff=0.01,
    )
    yield adapter
    adapter.close()


def assert_one_line_provider_error(exc: BaseException, status: int) -> None:
    assert isinstance(exc, ProviderError), repr(exc)[:300]
    # A 200 whose body is no object of ours is "an unexpected body", with no error status.
    assert exc.status == status or (status == 200 and exc.status is None)
    assert "\n" not in exc.message and "\r" not in exc.message
    assert exc.message.isprintable(), exc.message[:300]
    assert len(exc.message) < 1000
    assert exc.code is None or (exc.code.isprintable() and len(exc.code) <= CODE_LIMIT)


def raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no exception for an error answer")


CASES = [(body, status) for body in ODD_BODIES for status in (400, 200)] + [
    (body, ERROR_STATUSES[i % len(ERROR_STATUSES)])
    for i, body in enumerate(random_bodies(seed=11, count=300))
]


def test_odd_error_bodies_are_one_line_provider_errors_from_mintcash(
    odd: OddServer, mintcash: MintCash
) -> None:
    for body, status in CASES:
        if status == 200 and body.startswith(b"{") and b"error" not in body:
            continue  # a JSON object answered 200 is an object, not an error
        odd.answer = (status, "application/json", body)
        exc = raised(lambda: mintcash.retrieve("payment", "pay_odd"))
        assert_one_line_provider_error(exc, status)


def test_odd_error_bodies_are_one_line_provider_errors_from_paymongo(
    odd: OddServer, paymongo: PayMongo
) -> None:
    for body, status in CASES:
        if status == 200 and body.lstrip().startswith(b"{"):
            continue  # a 200 object goes to the resource parser, not the error mapping
        odd.answer = (status, "application/json", body)
        exc = raised(lambda: paymongo.retrieve("payment", "pay_odd"))
        assert_one_line_provider_error(exc, status)


def test_a_string_error_is_quoted_as_the_message(odd: OddServer, mintcash: MintCash) -> None:
    odd.answer = (400, "application/json", b'{"error": "boom", "requestId": "req_1"}')
    exc = raised(lambda: mintcash.refund(idempotency_key="k", payment_id="pay_1", amount=None))
    assert isinstance(exc, ProviderError)
    assert exc.message == "MintCash refused POST /refund: HTTP 400: boom"
    assert exc.code is None


def test_a_well_formed_error_still_gives_code_and_message(
    odd: OddServer, mintcash: MintCash, paymongo: PayMongo
) -> None:
    odd.answer = (
        409,
        "application/json",
        b'{"error": {"type": "idempotency_error", "code": "external_id_reused", '
        b'"message": "used"}}',
    )
    exc = raised(lambda: mintcash.retrieve("payment", "pay_1"))
    assert isinstance(exc, ProviderError)
    assert exc.code == "external_id_reused" and exc.message.endswith("external_id_reused: used")
    odd.answer = (
        400,
        "application/json",
        b'{"errors": [{"code": "parameter_invalid", "detail": "bad amount", '
        b'"source": {"pointer": "amount"}}]}',
    )
    exc = raised(lambda: paymongo.retrieve("payment", "pay_1"))
    assert isinstance(exc, ProviderError)
    assert exc.code == "parameter_invalid"
    assert exc.message.endswith("parameter_invalid: bad amount (field amount)")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\nb\r\nc\x00d", "a b c d"),
        ({"a": 1}, ""),
        (["x"], ""),
        (None, ""),
        (True, ""),
        (402, "402"),
        ("x" * 500, "x" * 199 + "…"),
    ],
)
def test_one_line(value: object, expected: str) -> None:
    assert one_line(value) == expected
