"""The audit as MintCash: its events (the runbook's names, the contract's shape), its
`MintCash-Signature: t=,v1=` scheme (rehearsal/providers/signatures.py), its 10 s answer limit, and
its go-live runbook (seed 002) as checklist items.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from rehearsal.audit.checklist import Item
from rehearsal.providers import signatures
from rehearsal.providers.mintcash import contract

SEED = "002_81c8ed57c25681ee.txt"  # MintCash's "Going live checklist" runbook


def _item(id: str, section: str, line: int, how: Any, text: str, live: bool = False) -> Item:
    return Item(id, section, text, SEED, line, how, needs_live=live)


ITEMS = (
    _item("live-keys", "1. Credentials", 5, "manual",
          "Live keys (pk_live_…/sk_live_…) issued by your account manager"),
    _item("secret-not-in-source", "1. Credentials", 6, "keys",
          "Secret key stored in your secrets manager — never in source control"),
    _item("no-test-keys", "1. Credentials", 7, "keys",
          "Test keys removed from production config (no fallback to sandbox)"),
    _item("old-test-webhook", "1. Credentials", 8, "manual",
          "Old test-mode webhook URL retired or pointed at a no-op handler"),
    _item("live-webhook-registered", "2. Webhook endpoint", 10, "manual",
          "Live webhook URL registered with your account manager"),
    _item("endpoint-https", "2. Webhook endpoint", 11, "endpoint",
          "Endpoint is HTTPS, public, and responds inside 10 seconds"),
    _item("signature-verification", "2. Webhook endpoint", 12, "endpoint",
          "Signature verification implemented with crypto.timingSafeEqual"),
    _item("environment-field", "2. Webhook endpoint", 13, "endpoint",
          'Endpoint rejects mismatched environment field (live handler refuses "test" events)'),
    _item("dedup", "2. Webhook endpoint", 14, "endpoint",
          "Deduplication on eventId is in place — handlers are idempotent"),
    _item("prompt-2xx", "2. Webhook endpoint", 15, "endpoint",
          "Handler returns 2xx promptly; heavy processing happens asynchronously"),
    _item("external-id", "3. Idempotency", 17, "manual",
          "Every POST /payments, POST /subscriptions, and POST /refund includes an "
          "externalId you control"),
    _item("external-id-unique", "3. Idempotency", 19, "manual",
          "externalId is unique per intent — orders, invoices, refund batches"),
    _item("no-reuse", "3. Idempotency", 19, "manual",
          "No accidental reuse across customers or environments"),
    _item("live-charge", "4. Final dress rehearsal", 22, "rehearsal",
          "Run one live charge with a real card you control — confirm payment.succeeded",
          live=True),
    _item("settlement", "4. Final dress rehearsal", 23, "manual",
          "Verify funds appear in your settlement account"),
    _item("live-refund", "4. Final dress rehearsal", 24, "rehearsal",
          "Refund the same charge — confirm payment.refunded and money returns", live=True),
    _item("live-renewal", "4. Final dress rehearsal", 25, "rehearsal",
          "Subscribe yourself to a recurring plan — confirm the renewal cron fires", live=True),
    _item("live-cancel", "4. Final dress rehearsal", 26, "rehearsal",
          "Cancel the subscription — confirm subscription.cancelled", live=True),
)  # fmt: skip

PROBE_ITEMS = {
    "https": "endpoint-https",
    "valid": "endpoint-https",
    "timing": "endpoint-https",
    "raw-body": "signature-verification",
    "bad-signature": "signature-verification",
    "missing-signature": "signature-verification",
    "tampered-body": "signature-verification",
    "stale-timestamp": "signature-verification",
    "other-mode-slot": "signature-verification",
    "other-environment": "environment-field",
    "unknown-type": "prompt-2xx",
    "duplicate": "dedup",
    "burst": "prompt-2xx",
    # the keys audit
    "secret-key-mode": "no-test-keys",
    "committed-secrets": "secret-not-in-source",
    "committed-webhook-secrets": "secret-not-in-source",
    "distinct-environments": "no-test-keys",
}


class MintCashAudit:
    provider = "mintcash"
    limit = 10.0  # seed 002:11 "responds inside 10 seconds"
    limit_item = "endpoint-https"
    known_type = contract.PAYMENT_SUCCEEDED
    unknown_type = "rehearsal.audit_unknown_type"
    items = ITEMS
    probe_items = PROBE_ITEMS

    def event(self, event_type: str, event_id: str, environment: str, at: int) -> dict[str, Any]:
        created = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
        return {
            "eventId": event_id,
            "type": event_type,
            "environment": environment,
            "createdAt": created.replace("+00:00", "Z"),
            "data": {
                "object": {
                    "id": f"pay_{event_id.removeprefix('evt_')}",
                    "object": "payment",
                    "externalId": f"rehearsal-audit-{event_id}",
                    "amount": 500,
                    "currency": "USD",
                    "status": "succeeded",
                    "amountRefunded": 0,
                    "refunds": [],
                    "environment": environment,
                    "createdAt": created.replace("+00:00", "Z"),
                    "description": "rehearsal audit probe: no money moved",
                }
            },
        }

    def tamper(self, payload: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(payload)
        changed["data"]["object"]["amount"] = 500000
        return changed

    def body(self, payload: dict[str, Any]) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()

    def sign(self, secret: str, body: bytes, environment: str, at: int) -> dict[str, str]:
        return {
            contract.SIGNATURE_HEADER: signatures.sign(secret, body, at),
            "Content-Type": "application/json",
        }

    def sign_other_slot(
        self, secret: str, body: bytes, environment: str, at: int
    ) -> dict[str, str] | None:
        return None  # one signature for both modes: the environment field tells them apart


DIALECT = MintCashAudit()
