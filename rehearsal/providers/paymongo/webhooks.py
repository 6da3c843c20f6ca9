"""PayMongo's webhooks: found by URL (one per URL, paged through GET /v1/webhooks), adopted or
created once, given back as they were (PayMongo's API deletes none: a created one is
disabled), and their deliveries verified (rehearsal/providers/paymongo/signature.py) before
they are parsed into NormalizedEvents. A webhook's secret stays in memory only; nothing here
parses a body whose signature did not verify.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from rehearsal.errors import ProviderError, UsageError
from rehearsal.providers.base import (
    Environment,
    MalformedEvent,
    NormalizedEvent,
    ProviderObject,
    WebhookState,
)
from rehearsal.providers.jsonwire import Body, JSONObject
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo import signature
from rehearsal.providers.paymongo.client import PayMongoHttp


class PayMongoWebhooks(PayMongoHttp):
    """The WebhookRegistrar half of the adapter; its constructor sets these attributes."""

    environment: Environment
    _webhook_secrets: list[str]
    _webhooks: dict[str, WebhookState | None]  # id -> prior (None: created by this run)

    def existing_webhook(self, url: str) -> WebhookState | None:
        """The webhook registered for `url`, enabled or not (GET /v1/webhooks). PayMongo
        keeps one webhook per URL and asks that it be created once, not per run. Pages
        through the list (`after` the last id while `has_more`), so an account with more
        webhooks than one page holds still finds its own."""
        # 100 a page (ASSUMED PayMongo's maximum; docs/providers/paymongo.md); a list that
        # never ends is PayMongo misbehaving, not an account with that many webhooks.
        limit, pages, after = 100, 50, ""
        for _ in range(pages):
            query = f"?limit={limit}" + (f"&after={after}" if after else "")
            body = self._get(c.WEBHOOKS + query)
            hooks = [h for h in body.get("data") or [] if isinstance(h, dict)]
            for hook in hooks:
                if (hook.get("attributes") or {}).get("url") == url:
                    return _webhook_state(hook)
            if body.get("has_more") is not True or not hooks:
                return None
            after = str(hooks[-1].get("id") or "")
            if not after:
                return None
        raise ProviderError(
            f"PayMongo's webhook list did not end after {pages} pages",
            hint="check the account's webhooks in PayMongo's dashboard (Developers > Webhooks)",
        )

    def register_webhook(
        self, url: str, events: list[str], existing: WebhookState | None = None
    ) -> str:
        """Make `url` receive exactly the PayMongo events behind `events` (the rehearsal's
        names): adopt `existing` (enable it, set its events) or create the webhook once.
        Its secret stays in memory only. close() gives it back as it was."""
        names = sorted({p for e in events for p in c.PROVIDER_EVENTS.get(e, [e])})
        if existing is None:
            # A fresh key: a retry of this call re-sends it, but a later run that finds no
            # webhook must not get back an earlier run's (by now disabled) one.
            key = f"rh-webhook-{uuid.uuid4().hex}"
            body = self._post(c.WEBHOOKS, c.envelope({"url": url, "events": names}), key)
            webhook_id, _, a = c.resource(body)
            self._keep_secret(webhook_id, a, required=True)
            self._webhooks[webhook_id] = None
            return webhook_id
        webhook_id = existing.endpoint_id
        # The secret first, before anything changes: without it no delivery can be verified.
        _, _, a = c.resource(self._get(c.WEBHOOK.format(id=webhook_id)))
        self._keep_secret(webhook_id, a, required=not self._webhook_secrets)
        self._webhooks[webhook_id] = existing
        if existing.status != "enabled":
            self._post(c.WEBHOOK_ENABLE.format(id=webhook_id), None, None)
        if sorted(existing.events) != names:
            self._put(c.WEBHOOK.format(id=webhook_id), c.envelope({"events": names}))
        return webhook_id

    def _keep_secret(self, webhook_id: str, attributes: Body, *, required: bool) -> None:
        secret = attributes.get("secret_key")
        if isinstance(secret, str) and secret:
            if secret not in self._webhook_secrets:
                self._webhook_secrets.append(secret)
        elif required:
            raise UsageError(
                f"PayMongo did not return the secret of webhook {webhook_id}, so its "
                "deliveries cannot be verified",
                hint="copy it from PayMongo's dashboard (Developers > Webhooks > Show Secret) "
                "into PAYMONGO_WEBHOOK_SECRET",
            )

    def find_webhook(self, url: str) -> str | None:
        """The enabled webhook registered for `url`: a run killed while creating it, before
        it wrote the answer, finds it by URL."""
        state = self.existing_webhook(url)
        return state.endpoint_id if state is not None and state.status == "enabled" else None

    def restore_webhook(self, endpoint_id: str, prior: WebhookState | None) -> None:
        """Give the webhook back as it was: one the run created is disabled (PayMongo's API
        deletes none); one it adopted gets its events back and, if it was disabled, is
        disabled again. Reads it first, so a repeated restore changes nothing."""
        _, _, a = c.resource(self._get(c.WEBHOOK.format(id=endpoint_id)))
        if prior is not None and sorted(a.get("events") or []) != sorted(prior.events):
            self._put(c.WEBHOOK.format(id=endpoint_id), c.envelope({"events": list(prior.events)}))
        wanted = "disabled" if prior is None else prior.status
        if wanted == "disabled" and a.get("status") == "enabled":
            self._post(c.WEBHOOK_DISABLE.format(id=endpoint_id), None, None)
        elif wanted == "enabled" and a.get("status") != "enabled":
            self._post(c.WEBHOOK_ENABLE.format(id=endpoint_id), None, None)
        self._webhooks.pop(endpoint_id, None)

    def remove_webhook(self, endpoint_id: str) -> None:
        """Disable a webhook this run created (by id: after a crash, from the ledger)."""
        self.restore_webhook(endpoint_id, self._webhooks.get(endpoint_id))

    def disable_webhooks(self) -> None:
        """Restore every webhook this process registered, the last first."""
        while self._webhooks:
            endpoint_id = next(reversed(self._webhooks))
            self.restore_webhook(endpoint_id, self._webhooks[endpoint_id])

    def _put(self, path: str, body: JSONObject) -> Body:
        return self._request("PUT", path, body, None)

    def parse_event(self, body: bytes) -> NormalizedEvent:
        return parse_event(body)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> NormalizedEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        signature.verify(
            lowered.get(signature.HEADER.lower()),
            body,
            self._webhook_secrets,
            environment=self.environment,
        )
        return parse_event(body)


def parse_event(body: bytes) -> NormalizedEvent:
    """A verified PayMongo event body to a NormalizedEvent; MalformedEvent if it isn't one."""
    try:
        payload = json.loads(body)
        event = payload["data"]
        event_id = str(event["id"])
        attributes = event["attributes"]
        event_type = str(attributes["type"])
        environment = "live" if attributes["livemode"] else "test"
        created = float(attributes.get("created_at") or 0)
        data = attributes["data"]
    except (ValueError, KeyError, TypeError):
        raise MalformedEvent(
            "not a PayMongo event (data.id, data.attributes.type, livemode, data)"
        ) from None
    obj: ProviderObject | None = None
    try:
        kind, a = str(data["type"]), data["attributes"]
        if kind == "payment":
            obj = c.parse_payment(str(data["id"]), a)
        elif kind == "subscription":
            obj = c.parse_subscription(str(data["id"]), a)
        elif kind == "invoice":
            obj = c.parse_invoice_as_subscription(a)
        elif kind == "refund":
            obj = c.parse_refund(str(data["id"]), a)
    except (KeyError, TypeError, ValueError):
        raise MalformedEvent(f"{event_type} carries no valid {data.get('type')}") from None
    normalized = c.normalized_type(event_type, obj)
    if event_type == "payment.refund.updated" and obj is not None and obj.kind == "payment":
        normalized = c.refund_update_type(data["attributes"])
    return NormalizedEvent(
        event_id=event_id,
        type=normalized,
        provider_type=event_type,
        environment=environment,
        object=obj,
        created_at=created,
        payload=payload,
    )


def _webhook_state(hook: Body) -> WebhookState:
    a = hook.get("attributes") or {}
    return WebhookState(
        endpoint_id=str(hook["id"]),
        status=str(a.get("status") or "disabled"),
        events=tuple(str(e) for e in a.get("events") or []),
    )
