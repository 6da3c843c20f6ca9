"""Paymongo-Signature: t=…,te=…,li=… verified for the run's mode only.

PayMongo publishes no signature test vectors (docs/providers/paymongo.md). The known-answer
vector below comes from a third-party client's tests (theYahia/paymongo-mcp,
src/tools/__tests__/new-tools.test.ts); every test also recomputes its expectation here with
hmac, independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from rehearsal.providers.paymongo import signature
from rehearsal.providers.signatures import SignatureError

SECRET = "whsk_test_secret"
BODY = b'{"data":{"id":"evt_test","type":"event"}}'
T = 1700000000
KNOWN = "c9a9caba4e490f2713f1cb47300eadb9b073b893b293fc3057c69d1cb4edea42"


def independent(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_known_answer_vector() -> None:
    assert independent(SECRET, T, BODY) == KNOWN
    assert signature.sign(SECRET, BODY, livemode=False, timestamp=T) == f"t={T},te={KNOWN},li="
    assert signature.sign(SECRET, BODY, livemode=True, timestamp=T) == f"t={T},te=,li={KNOWN}"


@pytest.mark.parametrize(
    ("environment", "header"),
    [("test", f"t={T},te={KNOWN},li="), ("live", f"t={T},te=,li={KNOWN}")],
)
def test_each_mode_verifies_its_own_field(environment: str, header: str) -> None:
    assert signature.verify(header, BODY, [SECRET], environment=environment, now=T) == T


def test_field_order_and_spaces_do_not_matter() -> None:
    header = f" li= , te={KNOWN} , t={T}"
    assert signature.verify(header, BODY, [SECRET], environment="test", now=T + 10) == T


@pytest.mark.parametrize(
    ("environment", "header", "says"),
    [
        ("test", f"t={T},te=,li={KNOWN}", "signed for live mode"),
        ("live", f"t={T},te={KNOWN},li=", "signed for test mode"),
    ],
)
def test_an_event_signed_for_the_other_mode_is_refused(
    environment: str, header: str, says: str
) -> None:
    with pytest.raises(SignatureError, match=says):
        signature.verify(header, BODY, [SECRET], environment=environment, now=T)


def test_live_signature_in_the_test_field_does_not_verify_a_live_run() -> None:
    # A genuine te= value must not pass a live-mode check through the wrong field.
    header = f"t={T},te={KNOWN},li={'0' * 64}"
    with pytest.raises(SignatureError, match="li= signature does not match"):
        signature.verify(header, BODY, [SECRET], environment="live", now=T)


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"evt_test", b"evt_tesT"), BODY + b" ", BODY[:-1]],
)
def test_tampered_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        signature.verify(f"t={T},te={KNOWN},li=", body, [SECRET], environment="test", now=T)


def test_a_tampered_timestamp_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        signature.verify(f"t={T + 1},te={KNOWN},li=", BODY, [SECRET], environment="test", now=T)


def test_the_wrong_secret_is_refused_and_rotation_is_allowed() -> None:
    header = f"t={T},te={KNOWN},li="
    with pytest.raises(SignatureError):
        signature.verify(header, BODY, ["whsk_other"], environment="test", now=T)
    assert signature.verify(header, BODY, ["whsk_other", SECRET], environment="test", now=T) == T


@pytest.mark.parametrize(("offset", "says"), [(-301, "older"), (301, "future")])
def test_stale_and_future_timestamps_are_refused(offset: int, says: str) -> None:
    t = T + offset
    header = f"t={t},te={independent(SECRET, t, BODY)},li="
    with pytest.raises(SignatureError, match=says):
        signature.verify(header, BODY, [SECRET], environment="test", now=T)
    # Within the tolerance the same header passes.
    assert signature.verify(header, BODY, [SECRET], environment="test", now=t) == t


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "missing"),
        ("", "missing"),
        (f"te={KNOWN},li=", "no timestamp"),
        (f"t=soon,te={KNOWN},li=", "malformed timestamp"),
        (f"t={T},li=", "no te= signature"),
        (f"t={T},te=é,li=", "does not match"),
    ],
)
def test_malformed_headers_are_refused(header: str | None, says: str) -> None:
    with pytest.raises(SignatureError, match=says):
        signature.verify(header, BODY, [SECRET], environment="test", now=T)


def test_errors_never_carry_the_secret_or_the_expected_signature() -> None:
    bad = f"t={T},te={'f' * 64},li="
    with pytest.raises(SignatureError) as caught:
        signature.verify(bad, BODY, [SECRET], environment="test", now=T)
    assert SECRET not in str(caught.value) and KNOWN not in str(caught.value)


@pytest.mark.parametrize("configured", [[""], [SECRET, ""], [" ", SECRET]])
def test_an_empty_secret_is_refused_even_for_an_event_signed_with_the_empty_key(
    configured: list[str],
) -> None:
    forged = signature.sign("", BODY, livemode=False, timestamp=T)
    with pytest.raises(SignatureError, match="empty") as refused:
        signature.verify(forged, BODY, configured, environment="test", now=T)
    assert SECRET not in str(refused.value)
