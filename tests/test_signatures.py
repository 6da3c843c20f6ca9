"""Webhook signatures: Stripe's `t=<unix>,v1=<hex>` HMAC-SHA256 over "{t}.{raw body}".

The scheme is checked against a published, fixed test vector from one of Stripe's own SDKs
(see `STRIPE_DOTNET_*` below), and cross-checked with `openssl dgst` (a second, unrelated
HMAC implementation). Every other test uses a fixed `now=` so none depends on the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import time

import pytest

from rehearsal.providers import signatures
from rehearsal.providers.signatures import SignatureError

SECRET = "whsec_test_signature_secret_0123456789abcdef"
BODY = b'{"eventId":"evt_sig_1","type":"payment.succeeded","environment":"test"}'
NOW = 1_800_000_000  # a fixed "current time" for verify(now=...)

# --- Stripe's published vector --------------------------------------------------------------
# Source checked: stripe/stripe-dotnet, src/StripeTests/Services/Events/EventUtilityTest.cs
# (EventUtilityTest constructor). It fixes
#     eventTimestamp = 1533204620, secret = "webhook_secret",
#     signature = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,
#                  v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"
# over the fixture src/StripeTests/Resources/event_test_signature.json (LF line endings,
# with its final newline), and documents how it was made:
#     (echo -n "1533204620." && cat src/StripeTests/Resources/event_test_signature.json)
#         | openssl sha256 -hmac "webhook_secret"
# Its ConstructEvent test accepts that header at now = t + 100 with tolerance 300, and
# RejectOutdatedTimestamp refuses it at now = t + 300 + 100.
# (stripe-python tests/test_webhook.py and stripe-go webhook/client_test.go were checked too:
# both sign with the current time, so they publish no fixed vector.)
STRIPE_DOTNET_SECRET = "webhook_secret"
STRIPE_DOTNET_TIMESTAMP = 1533204620
STRIPE_DOTNET_V1 = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
STRIPE_DOTNET_V0 = "63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"
STRIPE_DOTNET_BODY = (
    b"{\n"
    b'  "id": "evt_123",\n'
    b'  "object": "event",\n'
    b'  "account": "acct_123",\n'
    b'  "api_version": "2017-05-25",\n'
    b'  "created": 1533204620,\n'
    b'  "data": {\n'
    b'    "object": {\n'
    b'      "id": "cus_123",\n'
    b'      "object": "customer",\n'
    b'      "created": 123456789,\n'
    b'      "email": "test@stripe.com",\n'
    b'      "livemode": false,\n'
    b'      "metadata": {}\n'
    b"    }\n"
    b"  },\n"
    b'  "livemode": false,\n'
    b'  "pending_webhooks": 1,\n'
    b'  "request": {\n'
    b'    "id": "req_123",\n'
    b'    "idempotency_key": "idempotency-key-123"\n'
    b"  },\n"
    b'  "type": "customer.created"\n'
    b"}\n"
)
STRIPE_DOTNET_HEADER = f"t={STRIPE_DOTNET_TIMESTAMP},v1={STRIPE_DOTNET_V1},v0={STRIPE_DOTNET_V0}"


def test_compute_matches_stripe_published_vector() -> None:
    got = signatures.compute(STRIPE_DOTNET_SECRET, STRIPE_DOTNET_TIMESTAMP, STRIPE_DOTNET_BODY)
    assert got == STRIPE_DOTNET_V1


def test_sign_matches_stripe_published_vector() -> None:
    header = signatures.sign(STRIPE_DOTNET_SECRET, STRIPE_DOTNET_BODY, STRIPE_DOTNET_TIMESTAMP)
    assert header == f"t={STRIPE_DOTNET_TIMESTAMP},v1={STRIPE_DOTNET_V1}"


def test_verify_accepts_stripe_header_within_tolerance() -> None:
    # As stripe-dotnet's ConstructEvent: now = t + 100, tolerance 300; the v0 entry is ignored.
    got = signatures.verify(
        STRIPE_DOTNET_HEADER,
        STRIPE_DOTNET_BODY,
        [STRIPE_DOTNET_SECRET],
        tolerance=300,
        now=STRIPE_DOTNET_TIMESTAMP + 100,
    )
    assert got == STRIPE_DOTNET_TIMESTAMP


def test_verify_refuses_stripe_header_outside_tolerance() -> None:
    # As stripe-dotnet's RejectOutdatedTimestamp: now = t + tolerance + 100.
    with pytest.raises(SignatureError, match="older"):
        signatures.verify(
            STRIPE_DOTNET_HEADER,
            STRIPE_DOTNET_BODY,
            [STRIPE_DOTNET_SECRET],
            tolerance=300,
            now=STRIPE_DOTNET_TIMESTAMP + 400,
        )


def test_verify_refuses_stripe_vector_with_changed_body() -> None:
    # As stripe-dotnet's RejectIncorrectSignature: the JSON with text appended.
    with pytest.raises(SignatureError, match="no signature matches"):
        signatures.verify(
            STRIPE_DOTNET_HEADER,
            STRIPE_DOTNET_BODY + b"this_changes_the_json",
            [STRIPE_DOTNET_SECRET],
            now=STRIPE_DOTNET_TIMESTAMP + 100,
        )


def test_compute_agrees_with_hmac_module_directly() -> None:
    t = 1_700_000_000
    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signatures.compute(SECRET, t, BODY) == expected


def test_compute_with_several_secrets_and_a_key_longer_than_a_block() -> None:
    """compute keys each secret once and copies that state per body: secrets used in turn
    (a rotation) never mix, and a key longer than SHA-256's 64-byte block (hashed first,
    as RFC 2104 says) still agrees with the hmac module."""
    long = "whsec_" + "k" * 90
    for secret in (SECRET, long, SECRET, "webhook_secret", long):
        for t, body in ((NOW, BODY), (NOW + 1, BODY + b" "), (0, b"")):
            signed = f"{t}.".encode() + body
            expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            assert signatures.compute(secret, t, body) == expected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_compute_agrees_with_openssl() -> None:
    # The same command stripe-dotnet documents for its vector, on our own payload.
    t = 1_700_000_123
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET],
        input=f"{t}.".encode() + BODY,
        capture_output=True,
        check=True,
        timeout=10,
    ).stdout.decode()
    assert out.strip().rsplit(" ", 1)[-1] == signatures.compute(SECRET, t, BODY)


# --- round trip and header shape ------------------------------------------------------------


def test_sign_then_verify_round_trip() -> None:
    header = signatures.sign(SECRET, BODY, NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert signatures.verify(header, BODY, [SECRET], now=NOW) == NOW


def test_sign_without_timestamp_uses_current_time() -> None:
    before = int(time.time())
    header = signatures.sign(SECRET, BODY)
    after = int(time.time())
    t, sigs = signatures.parse_header(header)
    assert before <= t <= after
    assert sigs == [signatures.compute(SECRET, t, BODY)]
    assert signatures.verify(header, BODY, [SECRET]) == t


def test_signature_is_lowercase_hex_sha256() -> None:
    _, sigs = signatures.parse_header(signatures.sign(SECRET, BODY, NOW))
    assert len(sigs) == 1
    assert len(sigs[0]) == 64
    assert set(sigs[0]) <= set("0123456789abcdef")


def test_whitespace_around_header_items_is_tolerated() -> None:
    sig = signatures.compute(SECRET, NOW, BODY)
    assert signatures.verify(f"t={NOW} , v1={sig}", BODY, [SECRET], now=NOW) == NOW


# --- refusals --------------------------------------------------------------------------------


def test_tampered_body_is_refused() -> None:
    header = signatures.sign(SECRET, BODY, NOW)
    tampered = BODY.replace(b"payment.succeeded", b"payment.refunded")
    assert tampered != BODY
    with pytest.raises(SignatureError, match="no signature matches"):
        signatures.verify(header, tampered, [SECRET], now=NOW)


def test_one_byte_appended_is_refused() -> None:
    header = signatures.sign(SECRET, BODY, NOW)
    with pytest.raises(SignatureError):
        signatures.verify(header, BODY + b" ", [SECRET], now=NOW)


def test_wrong_secret_is_refused() -> None:
    header = signatures.sign("whsec_someone_else", BODY, NOW)
    with pytest.raises(SignatureError, match="no signature matches"):
        signatures.verify(header, BODY, [SECRET], now=NOW)


def test_no_configured_secret_refuses_everything() -> None:
    header = signatures.sign(SECRET, BODY, NOW)
    with pytest.raises(SignatureError):
        signatures.verify(header, BODY, [], now=NOW)


def test_stale_timestamp_is_refused() -> None:
    header = signatures.sign(SECRET, BODY, NOW - 301)
    with pytest.raises(SignatureError, match="older than the 300s tolerance"):
        signatures.verify(header, BODY, [SECRET], tolerance=300, now=NOW)


def test_future_timestamp_is_refused() -> None:
    header = signatures.sign(SECRET, BODY, NOW + 301)
    with pytest.raises(SignatureError, match="future"):
        signatures.verify(header, BODY, [SECRET], tolerance=300, now=NOW)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_at_the_tolerance_edge_is_accepted(offset: int) -> None:
    header = signatures.sign(SECRET, BODY, NOW + offset)
    assert signatures.verify(header, BODY, [SECRET], tolerance=300, now=NOW) == NOW + offset


def test_default_tolerance_is_300_seconds() -> None:
    assert signatures.DEFAULT_TOLERANCE == 300
    ok = signatures.sign(SECRET, BODY, NOW - 299)
    assert signatures.verify(ok, BODY, [SECRET], now=NOW) == NOW - 299
    stale = signatures.sign(SECRET, BODY, NOW - 301)
    with pytest.raises(SignatureError):
        signatures.verify(stale, BODY, [SECRET], now=NOW)


def test_custom_tolerance_is_honoured() -> None:
    # stripe-python's test_raise_on_timestamp_outside_tolerance: 15 s old, tolerance 10.
    header = signatures.sign(SECRET, BODY, NOW - 15)
    with pytest.raises(SignatureError, match="older"):
        signatures.verify(header, BODY, [SECRET], tolerance=10, now=NOW)
    assert signatures.verify(header, BODY, [SECRET], tolerance=20, now=NOW) == NOW - 15


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        signatures.verify(header, BODY, [SECRET], now=NOW)


def test_header_without_timestamp_is_refused() -> None:
    sig = signatures.compute(SECRET, NOW, BODY)
    with pytest.raises(SignatureError, match=r"no timestamp"):
        signatures.verify(f"v1={sig}", BODY, [SECRET], now=NOW)


@pytest.mark.parametrize("header", [f"t={NOW}", f"t={NOW},v0=abc", f"t={NOW},v2=abc"])
def test_header_without_v1_is_refused(header: str) -> None:
    with pytest.raises(SignatureError, match="no v1 signature"):
        signatures.verify(header, BODY, [SECRET], now=NOW)


def test_v0_signature_with_right_hmac_is_not_accepted() -> None:
    # stripe-go / stripe-python: a header whose only scheme is v0 never verifies.
    sig = signatures.compute(SECRET, NOW, BODY)
    with pytest.raises(SignatureError):
        signatures.verify(f"t={NOW},v0={sig}", BODY, [SECRET], now=NOW)


@pytest.mark.parametrize("t", ["abc", "", "12.5", "0x10"])
def test_malformed_timestamp_is_refused(t: str) -> None:
    sig = signatures.compute(SECRET, NOW, BODY)
    with pytest.raises(SignatureError, match="malformed timestamp"):
        signatures.verify(f"t={t},v1={sig}", BODY, [SECRET], now=NOW)


def test_garbage_header_is_refused() -> None:
    with pytest.raises(SignatureError):
        signatures.verify("i'm not even a real signature header", BODY, [SECRET], now=NOW)


def test_timestamp_is_part_of_what_is_signed() -> None:
    # A valid signature replayed with a fresh t= must not verify.
    sig = signatures.compute(SECRET, NOW - 1000, BODY)
    with pytest.raises(SignatureError, match="no signature matches"):
        signatures.verify(f"t={NOW},v1={sig}", BODY, [SECRET], now=NOW)


def test_non_ascii_v1_value_is_a_signature_error() -> None:
    with pytest.raises(SignatureError):
        signatures.verify(f"t={NOW},v1=\u00e9", BODY, [SECRET], now=NOW)


# --- key rotation -----------------------------------------------------------------------------


def test_several_v1_values_one_matches() -> None:
    good = signatures.compute(SECRET, NOW, BODY)
    for header in (
        f"t={NOW},v1={good},v1=bad_signature",
        f"t={NOW},v1={'0' * 64},v1={good}",
    ):
        assert signatures.verify(header, BODY, [SECRET], now=NOW) == NOW


def test_header_signed_with_old_and_new_secret_verifies_with_either() -> None:
    # stripe-go's headerWithRolledKey: one header, a v1 per secret.
    new = SECRET + "_rolled_key"
    header = signatures.sign(SECRET, BODY, NOW) + ",v1=" + signatures.compute(new, NOW, BODY)
    assert signatures.verify(header, BODY, [SECRET], now=NOW) == NOW
    assert signatures.verify(header, BODY, [new], now=NOW) == NOW
    with pytest.raises(SignatureError):
        signatures.verify(header, BODY, ["whsec_neither"], now=NOW)


def test_several_secrets_second_one_matches() -> None:
    header = signatures.sign(SECRET, BODY, NOW)
    got = signatures.verify(header, BODY, ["whsec_old_rotated_out", SECRET], now=NOW)
    assert got == NOW


def test_several_secrets_none_matches() -> None:
    header = signatures.sign(SECRET, BODY, NOW)
    with pytest.raises(SignatureError):
        signatures.verify(header, BODY, ["whsec_a", "whsec_b"], now=NOW)


# --- what errors say ------------------------------------------------------------------------


def _failures() -> list[tuple[str, str | None, bytes]]:
    good = signatures.sign(SECRET, BODY, NOW)
    return [
        ("tampered", good, BODY + b"x"),
        ("wrong secret", signatures.sign("whsec_other", BODY, NOW), BODY),
        ("stale", signatures.sign(SECRET, BODY, NOW - 10_000), BODY),
        ("future", signatures.sign(SECRET, BODY, NOW + 10_000), BODY),
        ("missing", None, BODY),
        ("no t", good.split(",", 1)[1], BODY),
        ("no v1", good.split(",", 1)[0], BODY),
        ("malformed t", "t=soon," + good.split(",", 1)[1], BODY),
        ("bad v1", f"t={NOW},v1=deadbeef", BODY),
    ]


@pytest.mark.parametrize(
    ("header", "body"), [f[1:] for f in _failures()], ids=[f[0] for f in _failures()]
)
def test_errors_never_reveal_secret_or_expected_signature(header: str | None, body: bytes) -> None:
    expected = signatures.compute(SECRET, NOW, body)
    with pytest.raises(SignatureError) as caught:
        signatures.verify(header, body, [SECRET], now=NOW)
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert text.strip()
    assert SECRET not in text
    assert expected not in text
    assert expected[:16] not in text


@pytest.mark.parametrize("configured", [[""], [SECRET, ""], ["", SECRET], [" "], [SECRET, "\t"]])
def test_an_empty_secret_is_refused_even_for_an_event_signed_with_the_empty_key(
    configured: list[str],
) -> None:
    """`MINTCASH_WEBHOOK_SECRET=whsec_a,` once made an empty HMAC key, which anyone can sign
    with: the forged event verified. The verifier refuses to verify with such a key at all."""
    forged = signatures.sign(configured[-1] if not configured[-1].strip() else "", BODY, NOW)
    with pytest.raises(SignatureError, match="empty") as refused:
        signatures.verify(forged, BODY, configured, now=NOW)
    assert SECRET not in str(refused.value)
    genuine = signatures.sign(SECRET, BODY, NOW)  # even a genuine one: the setup is wrong
    with pytest.raises(SignatureError, match="empty"):
        signatures.verify(genuine, BODY, configured, now=NOW)


def test_the_mintcash_adapter_refuses_an_event_signed_with_the_empty_key() -> None:
    from rehearsal.providers.mintcash import contract
    from rehearsal.providers.mintcash.adapter import MintCash

    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[SECRET, ""],
        environment="test",
    )
    try:
        header = signatures.sign("", BODY)
        with pytest.raises(SignatureError, match="empty"):
            adapter.verify_webhook({contract.SIGNATURE_HEADER: header}, BODY)
    finally:
        adapter.close()
