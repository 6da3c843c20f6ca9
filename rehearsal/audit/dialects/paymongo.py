"""The audit as PayMongo: its event envelope (developers.paymongo.com/docs/
developer-tools-webhooks-events, tests/fixtures/paymongo/event_payment_paid.json), its
`Paymongo-Signature: t=,te=,li=` scheme (providers/paymongo/signature.py), its 30 s
acknowledgement limit, and its go-live checklist (seed 000) as checklist items.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from rehearsal.audit.checklist import Item
from rehearsal.providers.paymongo import signature

SEED = "000_07836fc6655c87a2.txt"  # PayMongo's "Go-live checklist"


def _item(id: str, section: str, line: int, how: Any, text: str) -> Item:
    return Item(id, section, text, SEED, line, how)


ITEMS = (
    _item("key-roles", "Authentication", 11, "keys",
          "Confirm you understand the public versus secret key roles"),
    _item("keys-in-environment", "Authentication", 14, "keys",
          "Confirm secret keys are stored in environment variables or a secrets manager"),
    _item("separate-keys", "Authentication", 17, "keys",
          "Confirm separate keys are used for live and test environments"),
    _item("key-access", "Authentication", 20, "manual",
          "Confirm key access is restricted to the minimum team"),
    _item("idempotency-key", "Authentication", 23, "manual",
          "Confirm Idempotency-Key is used on POST requests that create or modify data"),
    _item("key-rotation", "Authentication", 27, "manual",
          "Confirm your key rotation procedure is documented"),
    _item("endpoint-ready", "Webhooks", 33, "endpoint",
          "Confirm your webhook endpoint URL is ready"),
    _item("webhook-registered", "Webhooks", 36, "manual",
          "Confirm your webhook is registered"),
    _item("webhook-secret-stored", "Webhooks", 39, "keys",
          "Confirm your webhook secret is stored securely"),
    _item("signature-verification", "Webhooks", 42, "endpoint",
          "Confirm signature verification is implemented"),
    _item("raw-body", "Webhooks", 45, "endpoint",
          "Confirm the raw request body is preserved before signature verification"),
    _item("subscribed-events", "Webhooks", 48, "manual",
          "Confirm you subscribe only to the events you need"),
    _item("acknowledged-in-time", "Webhooks", 51, "endpoint",
          "Confirm webhooks are acknowledged within 30 seconds and processed asynchronously"),
    _item("duplicates", "Webhooks", 54, "endpoint",
          "Confirm duplicate webhook deliveries are handled"),
    _item("environments-separated", "Webhooks", 57, "endpoint",
          "Confirm test and live webhook environments are separated"),
    _item("unknown-types", "Webhooks", 60, "endpoint",
          "Confirm a 2xx response is returned for unrecognized event types"),
    _item("retry-logic", "Webhooks", 64, "manual",
          "Confirm you understand the webhook retry logic"),
    _item("delivery-logs", "Webhooks", 67, "manual",
          "Confirm webhook delivery logs are monitored"),
    _item("resend-flow", "Webhooks", 70, "manual", "Confirm the webhook resend flow works"),
    _item("error-mapping", "Error handling", 75, "manual",
          "Confirm your error mapping is documented"),
    _item("full-integration", "Test then go-live", 81, "rehearsal",
          "Confirm your full integration works with test mode events"),
)  # fmt: skip

PROBE_ITEMS = {
    "https": "endpoint-ready",
    "valid": "endpoint-ready",
    "raw-body": "raw-body",
    "timing": "acknowledged-in-time",
    "bad-signature": "signature-verification",
    "missing-signature": "signature-verification",
    "tampered-body": "signature-verification",
    "stale-timestamp": "signature-verification",
    "other-mode-slot": "environments-separated",
    "other-environment": "environments-separated",
    "unknown-type": "unknown-types",
    "duplicate": "duplicates",
    "burst": "acknowledged-in-time",
    # the keys audit
    "secret-key-mode": "separate-keys",
    "public-key-mode": "key-roles",
    "committed-secrets": "keys-in-environment",
    "committed-webhook-secrets": "webhook-secret-stored",
    "distinct-environments": "environments-separated",
}


class PayMongoAudit:
    provider = "paymongo"
    limit = 30.0  # seed 000:51 "acknowledged within 30 seconds"
    limit_item = "acknowledged-in-time"
    known_type = "payment.paid"
    unknown_type = "rehearsal.audit_unknown_type"
    items = ITEMS
    probe_items = PROBE_ITEMS

    def event(self, event_type: str, event_id: str, environment: str, at: int) -> dict[str, Any]:
        return {
            "data": {
                "id": event_id,
                "type": "event",
                "attributes": {
                    "type": event_type,
                    "livemode": environment == "live",
                    "created_at": at,
                    "updated_at": at,
                    "data": {
                        "id": f"pay_{event_id.removeprefix('evt_')}",
                        "type": "payment",
                        "attributes": {
                            "amount": 10000,
                            "currency": "PHP",
                            "status": "paid",
                            "livemode": environment == "live",
                            "description": "rehearsal audit probe: no money moved",
                        },
                    },
                },
            }
        }

    def tamper(self, payload: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(payload)
        changed["data"]["attributes"]["data"]["attributes"]["amount"] = 1000000
        return changed

    def body(self, payload: dict[str, Any]) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()

    def sign(self, secret: str, body: bytes, environment: str, at: int) -> dict[str, str]:
        header = signature.sign(secret, body, livemode=environment == "live", timestamp=at)
        return {signature.HEADER: header, "Content-Type": "application/json"}

    def sign_other_slot(
        self, secret: str, body: bytes, environment: str, at: int
    ) -> dict[str, str] | None:
        """The body's genuine signature, but in the other mode's field (te= for a live
        endpoint, li= for a test one): a correct endpoint reads only its own field."""
        header = signature.sign(secret, body, livemode=environment != "live", timestamp=at)
        return {signature.HEADER: header, "Content-Type": "application/json"}


DIALECT = PayMongoAudit()
