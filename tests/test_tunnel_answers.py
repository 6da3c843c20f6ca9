"""`rehearsal tunnel` answers as a correct endpoint would (issue 16): the provider's dashboard
shows a forged, unsigned, stale, malformed or other-environment delivery as refused (4xx),
and a valid one, or a repeat of it, as delivered (2xx). Real server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from rehearsal.commands.tunnel import DeliveryLog, _judge
from rehearsal.providers import signatures
from rehearsal.providers.paymongo import signature as paymongo_signature
from tests.conftest import event_body

SECRET = "whsec_tunnel_answers_0123456789abcdef"


def _serve(provider: str, live: bool = False) -> Iterator[tuple[DeliveryLog, str]]:
    log = DeliveryLog(_judge(provider, live))
    url = log.start()
    try:
        yield log, url
    finally:
        log.stop()


@pytest.fixture
def mintcash_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DeliveryLog, str]]:
    monkeypatch.setenv("MINTCASH_WEBHOOK_SECRET", SECRET)
    yield from _serve("mintcash")


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(url, content=body, headers=headers, timeout=5).status_code


def test_mintcash_deliveries_get_the_answer_a_correct_endpoint_gives(
    mintcash_log: tuple[DeliveryLog, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = mintcash_log
    body = event_body(event_id="evt_answers_1")
    good = {"MintCash-Signature": signatures.sign(SECRET, body)}
    stale = {"MintCash-Signature": signatures.sign(SECRET, body, int(time.time()) - 3600)}
    forged = {"MintCash-Signature": signatures.sign("whsec_not_the_secret", body)}
    other_env = event_body(event_id="evt_answers_live", environment="live")
    assert _post(url, body, good) == 200
    assert _post(url, body, good) == 200  # the same event again: acknowledged
    assert _post(url, body, {}) == 400  # unsigned
    assert _post(url, body, forged) == 400
    assert _post(url, body, stale) == 400
    assert _post(url, body + b" ", good) == 400  # tampered after signing
    assert _post(url, other_env, {"MintCash-Signature": signatures.sign(SECRET, other_env)}) == 400
    junk = b"not json"
    assert _post(url, junk, {"MintCash-Signature": signatures.sign(SECRET, junk)}) == 400
    unknown = event_body("invoice.finalized", event_id="evt_answers_unknown")
    assert _post(url, unknown, {"MintCash-Signature": signatures.sign(SECRET, unknown)}) == 200
    out = capsys.readouterr().out
    assert "evt_answers_1 pay_fixture, signature ok (test) -> 200" in out
    assert "a duplicate: acknowledged again -> 200" in out
    assert out.count("REJECTED") == 6 and out.count("-> 400") == 6
    assert SECRET not in out


def test_paymongo_refuses_a_signature_in_the_other_modes_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMONGO_WEBHOOK_SECRET", SECRET)
    payload = {
        "data": {
            "id": "evt_pm_answers_1",
            "type": "event",
            "attributes": {
                "type": "payment.paid",
                "livemode": False,
                "created_at": int(time.time()),
                "data": {
                    "id": "pay_pm_1",
                    "type": "payment",
                    "attributes": {"amount": 10000, "currency": "PHP", "status": "paid"},
                },
            },
        }
    }
    body = json.dumps(payload).encode()
    for _, url in _serve("paymongo"):
        test_slot = paymongo_signature.sign(SECRET, body, livemode=False)
        live_slot = paymongo_signature.sign(SECRET, body, livemode=True)
        assert _post(url, body, {"Paymongo-Signature": test_slot}) == 200
        assert _post(url, body, {"Paymongo-Signature": live_slot}) == 400


def test_without_the_secret_each_delivery_is_acknowledged_and_the_terminal_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MINTCASH_WEBHOOK_SECRET", raising=False)
    for _, url in _serve("mintcash"):
        assert _post(url, b"{}", {}) == 200
    out = capsys.readouterr().out
    assert "not verified (set MINTCASH_WEBHOOK_SECRET)" in out
    assert "signature not checked -> 200" in out


def test_tunnel_forwards_each_new_verified_event_to_the_merchants_handler(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rehearsal tunnel --forward-to`: a verified, new event goes on to the merchant's
    handler re-signed with the merchant's secret; a forgery and a repeat do not."""
    from rehearsal.audit.report import shown_url
    from rehearsal.commands.tunnel import TunnelArgs, _forwarder
    from tests.audit.merchants import Merchant, serving

    merchant_secret = "whsec_merchant_handler_0123456789abcdef"
    monkeypatch.setenv("MINTCASH_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("REHEARSAL_FORWARD_SECRET", merchant_secret)
    merchant = Merchant("mintcash", merchant_secret)
    with serving(merchant) as handler:
        forwarder = _forwarder(TunnelArgs(forward_to=handler))
        assert forwarder is not None
        log = DeliveryLog(_judge("mintcash", False), forwarder.submit)
        url = log.start()
        try:
            body = event_body(event_id="evt_forward_1")
            good = {"MintCash-Signature": signatures.sign(SECRET, body)}
            assert _post(url, body, good) == 200
            assert _post(url, body, good) == 200  # a repeat: not forwarded again
            forged = {"MintCash-Signature": signatures.sign("whsec_other", body)}
            assert _post(url, body, forged) == 400
            done = forwarder.outcome("evt_forward_1", time.monotonic() + 10)
        finally:
            log.stop()
            forwarder.close()
    assert done is not None and (done.status, done.problem) == (200, None)
    assert merchant.seen == {"evt_forward_1"} and merchant.hits == 1
    out = capsys.readouterr().out
    assert f"forwarded evt_forward_1 to {shown_url(handler)}: HTTP 200" in out
    assert merchant_secret not in out and SECRET not in out


def test_a_handler_url_is_shown_without_its_token_or_credentials() -> None:
    from rehearsal.audit.report import shown_url

    url = "https://ops:hunter2@shop.example:8443/hooks/9f8e7d6c5b4a39281706f5e4d3c2b1a0?k=v#x"
    shown = shown_url(url)
    assert shown == "https://shop.example:8443/hooks/9f8e…"
    assert "hunter2" not in shown and "9f8e7d6c5b4a" not in shown and "k=v" not in shown
