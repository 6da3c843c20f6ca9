"""Every check of a signature or secret compares in constant time (`hmac.compare_digest`).

`==` on a signature answers as soon as one byte differs, so its timing tells an attacker how
much of a forged signature is right; nothing else in the suite notices the swap, since both
give the same verdict. Two guards:

- Each verification path runs with `hmac.compare_digest` (the attribute our modules look up)
  wrapped: the presented signature must reach it, and its answer must be the verdict (told to
  answer False, a genuine signature is refused; told True, a forged one passes), so no `==`
  can decide before or after it. (A module that took `from hmac import compare_digest` would
  fail here too: keep looking it up on `hmac`.)
- The source of every function that verifies (and of any function calling compare_digest)
  holds no `==`, `!=`, `in` or `is` between two computed values: only against a literal, or
  in the short list below of comparisons that hold no secret.
"""

from __future__ import annotations

import ast
import asyncio
import hmac
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rehearsal import providers
from rehearsal.providers import signatures
from rehearsal.providers.base import MalformedEvent
from rehearsal.providers.config import TargetConfig
from rehearsal.providers.mintcash import contract as mintcash_contract
from rehearsal.providers.paymongo import signature as paymongo_signature
from rehearsal.providers.signatures import SignatureError
from rehearsal.providers.stripe import contract as stripe_contract
from rehearsal.receiver.endpoint import WebhookEndpoint
from rehearsal.tunnels.probe import SIGNATURE_HEADER as PROBE_SIGNATURE
from rehearsal.tunnels.probe import ProbeBox

ROOT = Path(__file__).resolve().parents[1] / "rehearsal"
SECRET = "whsec_constant_time_guard_0123456789"
BODY = b'{"id":"evt_1","type":"payment.succeeded"}'
T = 1_700_000_000


class CompareSpy:
    """`hmac.compare_digest`, its calls recorded; `verdict`, when set, replaces its answer."""

    def __init__(self, real: Callable[[Any, Any], bool]) -> None:
        self.real = real
        self.verdict: bool | None = None
        self.calls: list[tuple[object, object]] = []

    def __call__(self, a: Any, b: Any) -> bool:
        self.calls.append((a, b))
        answer = self.real(a, b)
        return answer if self.verdict is None else self.verdict

    def saw(self, presented: str) -> bool:
        wanted = {presented, presented.encode()}
        return any(a in wanted or b in wanted for a, b in self.calls)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> CompareSpy:
    wrapped = CompareSpy(hmac.compare_digest)
    monkeypatch.setattr(hmac, "compare_digest", wrapped)
    return wrapped


def forge(value: str) -> str:
    """The same signature with its last character changed: same length, same alphabet."""
    return value[:-1] + ("0" if value[-1] != "0" else "1")


# --- the verification paths -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One place a signature (or secret) is checked: `attempt(forged)` presents a genuine or
    a forged one and returns (accepted, what it presented)."""

    name: str
    attempt: Callable[[bool], tuple[bool, str]]


def _refused(check: Callable[[], object]) -> bool:
    try:
        check()
    except SignatureError:
        return True
    except MalformedEvent:  # the body is refused after its signature passed: accepted here
        return False
    return False


def _scheme(forged: bool) -> tuple[bool, str]:
    """The `t=,v1=` scheme of MintCash and Stripe (providers/signatures.py)."""
    given = signatures.compute(SECRET, T, BODY)
    given = forge(given) if forged else given
    header = f"t={T},v1={given}"
    return not _refused(lambda: signatures.verify(header, BODY, [SECRET], now=T)), given


def _paymongo(environment: str) -> Callable[[bool], tuple[bool, str]]:
    def attempt(forged: bool) -> tuple[bool, str]:
        header = paymongo_signature.sign(SECRET, BODY, livemode=environment == "live", timestamp=T)
        given = paymongo_signature.parse_header(header)[1][paymongo_signature.FIELD[environment]]
        if forged:
            header = header.replace(given, forge(given))
            given = forge(given)

        def check() -> object:
            return paymongo_signature.verify(header, BODY, [SECRET], environment=environment, now=T)

        return not _refused(check), given

    return attempt


def _adapter(provider: str, header_name: str) -> Callable[[bool], tuple[bool, str]]:
    """The adapter's own verify_webhook, as the receiver calls it."""

    def attempt(forged: bool) -> tuple[bool, str]:
        config = TargetConfig(
            provider=provider,
            api_base="http://127.0.0.1:9",  # never called: verification is local
            secret_key="sk_test_constant_time_guard",
            webhook_secrets=[SECRET],
            environment="test",
        )
        adapter = providers.create(provider, config)
        now = int(time.time())
        if provider == "paymongo":
            header = paymongo_signature.sign(SECRET, BODY, livemode=False, timestamp=now)
            given = paymongo_signature.parse_header(header)[1]["te"]
        else:
            header = signatures.sign(SECRET, BODY, timestamp=now)
            given = header.split("v1=")[1]
        if forged:
            header, given = header.replace(given, forge(given)), forge(given)
        try:
            return not _refused(lambda: adapter.verify_webhook({header_name: header}, BODY)), given
        finally:
            adapter.close()

    return attempt


def _probe(forged: bool) -> tuple[bool, str]:
    """The tunnel probe's HMAC (tunnels/probe.py), as the receiver answers it."""
    box = ProbeBox()
    _, headers = box.headers()
    if forged:
        headers[PROBE_SIGNATURE] = forge(headers[PROBE_SIGNATURE])
    status, _ = box.answer(headers)
    return status == 200, headers[PROBE_SIGNATURE]


def _path_token(forged: bool) -> tuple[bool, str]:
    """The receiver's unguessable path (receiver/endpoint.py), a secret compared per request;
    the request is a tunnel probe, which the endpoint answers without a provider."""
    endpoint = WebhookEndpoint()
    token = forge(endpoint.token) if forged else endpoint.token
    _, probe = endpoint.probes.headers()
    scope: MutableMapping[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": f"/webhooks/{token}",
        "headers": [(k.lower().encode(), v.encode()) for k, v in probe.items()],
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(endpoint.app()(scope, receive, send))
    return sent[0]["status"] == 200, token


CHECKS = [
    Check("signatures.verify", _scheme),
    Check("paymongo.verify-test", _paymongo("test")),
    Check("paymongo.verify-live", _paymongo("live")),
    Check("mintcash.verify_webhook", _adapter("mintcash", mintcash_contract.SIGNATURE_HEADER)),
    Check("stripe.verify_webhook", _adapter("stripe", stripe_contract.SIGNATURE_HEADER)),
    Check("paymongo.verify_webhook", _adapter("paymongo", paymongo_signature.HEADER)),
    Check("tunnel-probe", _probe),
    Check("receiver-path-token", _path_token),
]


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_the_signature_reaches_compare_digest(spy: CompareSpy, check: Check) -> None:
    accepted, given = check.attempt(False)
    assert accepted, "a genuine signature is refused"
    assert spy.saw(given), "the genuine signature was compared without hmac.compare_digest"
    spy.calls.clear()
    accepted, given = check.attempt(True)
    assert not accepted, "a forged signature is accepted"
    assert spy.saw(given), "the forged signature was compared without hmac.compare_digest"


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_compare_digest_alone_decides(spy: CompareSpy, check: Check) -> None:
    spy.verdict = False
    assert not check.attempt(False)[0], "accepted though compare_digest said no: `==` decides"
    spy.verdict = True
    assert check.attempt(True)[0], "refused though compare_digest said yes: `==` decides"


# --- the source -------------------------------------------------------------------------------

# (file under rehearsal/, qualified name) of each function that decides on a signature or a
# secret: each must exist, and those in the first group must call compare_digest themselves.
COMPARERS = [
    ("providers/signatures.py", "verify"),
    ("providers/paymongo/signature.py", "verify"),
    ("tunnels/probe.py", "ProbeBox.answer"),
    ("receiver/endpoint.py", "WebhookEndpoint.app"),
]
DELEGATES = [  # hand the comparison to one of the above
    ("providers/mintcash/adapter.py", "MintCash.verify_webhook"),
    ("providers/paymongo/webhooks.py", "PayMongoWebhooks.verify_webhook"),
    ("providers/stripe/webhooks.py", "StripeWebhooks.verify_webhook"),
]
# Comparisons inside those functions between two computed values that hold no secret.
HARMLESS = {
    ("receiver/endpoint.py", "PROBE_HEADER.lower() in headers"): "a header's name",
}
Where = tuple[str, str]  # (file under rehearsal/, qualified function name)
Source = dict[Where, ast.AST]
EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)


def functions(tree: ast.AST) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function in `tree` by qualified name (nested functions included in their own)."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, Any]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield prefix + child.name, child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def calls_compare_digest(function: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call) and ast.unparse(n.func).endswith("compare_digest")
        for n in ast.walk(function)
    )


def is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(is_literal(e) for e in node.elts)
    return False


def suspect_comparisons(file: str, function: ast.AST) -> list[str]:
    """`==`, `!=`, `in`, `is` in `function` whose two sides are both computed values."""
    found = []
    for node in ast.walk(function):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, sides[:-1], sides[1:], strict=True):
            if isinstance(op, EQUALITY) and not (is_literal(left) or is_literal(right)):
                text = ast.unparse(node)
                if (file, text) not in HARMLESS:
                    found.append(f"rehearsal/{file}:{node.lineno}: {text}")
    return found


def source_functions() -> Source:
    """The functions of the files named above and of every file that calls compare_digest."""
    named = {file for file, _ in COMPARERS + DELEGATES}
    found: Source = {}
    for path in sorted(ROOT.rglob("*.py")):
        file, text = path.relative_to(ROOT).as_posix(), path.read_text()
        if file not in named and "compare_digest" not in text:
            continue  # parsing the whole package would double the test's time
        tree = ast.parse(text, filename=str(path))
        for name, function in functions(tree):
            found.setdefault((file, name), function)
    return found


@pytest.fixture(scope="module")
def source() -> Source:
    return source_functions()


@pytest.mark.parametrize("where", COMPARERS, ids=["/".join(w) for w in COMPARERS])
def test_the_comparer_calls_compare_digest(source: Source, where: Where) -> None:
    assert where in source, f"{where} is gone: name its successor in COMPARERS"
    assert calls_compare_digest(source[where]), f"{where} compares without compare_digest"


@pytest.mark.parametrize("where", DELEGATES, ids=["/".join(w) for w in DELEGATES])
def test_the_adapter_hands_verification_on(source: Source, where: Where) -> None:
    assert where in source, f"{where} is gone: name its successor in DELEGATES"
    called = {ast.unparse(n.func) for n in ast.walk(source[where]) if isinstance(n, ast.Call)}
    assert called & {"signatures.verify", "signature.verify"}, f"{where} verifies by itself"


def test_no_comparer_compares_with_equality(source: Source) -> None:
    checked = set(COMPARERS) | set(DELEGATES)
    checked |= {w for w, function in source.items() if calls_compare_digest(function)}
    found = [line for w in sorted(checked) for line in suspect_comparisons(w[0], source[w])]
    assert not found, "a signature or secret compared with ==/in/is, not compare_digest:\n" + (
        "\n".join(found)
    )


@pytest.mark.parametrize(
    "text",
    [
        "def verify(expected, given):\n    return expected == given\n",
        "def verify(expected, given):\n    if given != expected:\n        raise ValueError\n",
        "def verify(expected, given):\n    return expected in [g.encode() for g in given]\n",
        "def verify(expected, given):\n"
        "    return hmac.compare_digest(expected, given) and expected == given\n",
    ],
    ids=["eq", "not-eq", "in", "beside-compare-digest"],
)
def test_the_source_check_sees_equality(text: str) -> None:
    (_, function), *_ = functions(ast.parse(text))
    assert suspect_comparisons("x.py", function)


def test_the_source_check_lets_literals_and_order_pass() -> None:
    text = (
        "def verify(environment, timestamp, now, key):\n"
        "    if environment == 'test' and key in ('t', 'v1') and timestamp is not None:\n"
        "        return timestamp < now and hmac.compare_digest(b'a', b'b')\n"
    )
    (_, function), *_ = functions(ast.parse(text))
    assert suspect_comparisons("x.py", function) == []
