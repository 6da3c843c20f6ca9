"""Stripe webhook endpoints, signatures and the events list: the adapter's receiving side.

Registration (https://docs.stripe.com/api/webhook_endpoints): the run's endpoint listens to
exactly the Stripe events behind the plan's; its `secret` is returned only when it is
created, so it stays in memory. An endpoint already registered for the URL is adopted only
when STRIPE_WEBHOOK_SECRET is set (its secret cannot be read back); otherwise the run
creates its own beside it. At the end, one the run created is deleted, one it adopted gets
its events and status back. Signatures: Stripe's `t=,v1=` scheme, checked by
rehearsal/providers/signatures.py (several v1 for rotation, 300 s tolerance). Events read through
GET /v1/events are the same NormalizedEvents: a delivery path needing no public URL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping

from rehearsal.errors import ProviderError
from rehearsal.providers import signatures
from rehearsal.providers.base import (
    Environment,
    MalformedEvent,
    NormalizedEvent,
    WebhookState,
)
from rehearsal.providers.jsonwire import Body, JSONValue
from rehearsal.providers.stripe import contract as c
from rehearsal.providers.stripe import events as ev
from rehearsal.providers.stripe.client import StripeHttp

DESCRIPTION = "rehearsal: a dress rehearsal's webhook endpoint (deleted when the run ends)"


class StripeWebhooks(StripeHttp):
    environment: Environment

    def _init_webhooks(self, webhook_secrets: list[str]) -> None:
        self._configured = [s for s in webhook_secrets if s]
        self._webhook_secrets = list(self._configured)
        self._endpoints: dict[str, WebhookState | None] = {}  # id -> prior (None: created)

    # --- registration (WebhookRegistrar) ----------------------------------------------------

    def existing_webhook(self, url: str) -> WebhookState | None:
        """An endpoint already registered for `url`, adopted only when its secret is known."""
        if not self._configured:
            return None  # its secret cannot be read back: the run makes its own endpoint
        for endpoint in self.list_all(c.WEBHOOK_ENDPOINTS):
            if endpoint.get("url") == url:
                return _state(endpoint)
        return None

    def register_webhook(
        self, url: str, events: list[str], existing: WebhookState | None = None
    ) -> str:
        names = provider_events(events)
        if existing is not None:
            params: dict[str, JSONValue] = {"enabled_events": names, "disabled": False}
            self.post(c.WEBHOOK_ENDPOINT.format(id=existing.endpoint_id), params, None)
            self._endpoints[existing.endpoint_id] = existing
            return existing.endpoint_id
        params = {
            "url": url,
            "enabled_events": names,
            "api_version": c.API_VERSION,
            "description": DESCRIPTION,
        }
        # A fresh key: a retry re-sends it; a later run must not get this endpoint back.
        created = self.post(c.WEBHOOK_ENDPOINTS, params, f"rh-webhook-{uuid.uuid4().hex}")
        secret = created.get("secret")
        if not isinstance(secret, str) or not secret:
            raise ProviderError(
                f"Stripe did not return the secret of webhook endpoint {created.get('id')}",
                hint="its deliveries cannot be verified; set STRIPE_WEBHOOK_SECRET",
            )
        if secret not in self._webhook_secrets:
            self._webhook_secrets.append(secret)
        endpoint_id = str(created["id"])
        self._endpoints[endpoint_id] = None
        return endpoint_id

    def find_webhook(self, url: str) -> str | None:
        """An endpoint a run made for `url` (its answer lost): by URL and our description."""
        for endpoint in self.list_all(c.WEBHOOK_ENDPOINTS):
            if endpoint.get("url") == url and endpoint.get("description") == DESCRIPTION:
                return str(endpoint["id"])
        return None

    def restore_webhook(self, endpoint_id: str, prior: WebhookState | None) -> None:
        """Delete an endpoint the run made; give an adopted one its events and status back.
        `prior` names the endpoint it describes: another id means the run made this one."""
        if prior is None or prior.endpoint_id != endpoint_id:
            try:
                self.delete(c.WEBHOOK_ENDPOINT.format(id=endpoint_id))
            except ProviderError as exc:
                if exc.status != 404:  # already gone: nothing left to undo
                    raise
        else:
            params: dict[str, JSONValue] = {
                "enabled_events": list(prior.events),
                "disabled": prior.status == "disabled",
            }
            self.post(c.WEBHOOK_ENDPOINT.format(id=endpoint_id), params, None)
        self._endpoints.pop(endpoint_id, None)

    def remove_webhook(self, endpoint_id: str) -> None:
        self.restore_webhook(endpoint_id, self._endpoints.get(endpoint_id))

    def _give_back_webhooks(self) -> None:
        while self._endpoints:
            endpoint_id = next(reversed(self._endpoints))
            prior = self._endpoints[endpoint_id]
            try:
                self.restore_webhook(endpoint_id, prior)
            except ProviderError:
                self._endpoints.pop(endpoint_id, None)  # the ledger keeps it for cleanup

    # --- deliveries ---------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> NormalizedEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        signatures.verify(
            lowered.get(c.SIGNATURE_HEADER.lower()),
            body,
            self._webhook_secrets,
            tolerance=c.SIGNATURE_TOLERANCE,
        )
        return self._mine(ev.parse_body(body, self._refunds_of))

    def parse_event(self, body: bytes) -> NormalizedEvent:
        return ev.parse_body(body)

    def events(
        self, since: float, run_id: str | None = None, types: Iterable[str] | None = None
    ) -> list[NormalizedEvent]:
        """The account's events created since `since` (unix seconds), oldest first, through
        GET /v1/events (a list call, paged): the EventFeed of rehearsal/receiver/feed.py.
        `types`: only those behind these names (the rehearsal's or Stripe's). Events of the
        other mode are left out, and so are those whose object names another run in its
        metadata; objects with no such metadata (a Charge, an Invoice) are kept."""
        params: dict[str, JSONValue] = {"created": {"gte": int(since)}}
        if types is not None:
            params["types"] = provider_events(list(types))  # Stripe takes up to 20
        found: list[NormalizedEvent] = []
        for payload in self.list_all(c.EVENTS, params):
            with contextlib.suppress(MalformedEvent):
                event = ev.parse(payload, self._refunds_of)
                if event.environment == self.environment and _of_run(payload, run_id):
                    found.append(event)
        return sorted(found, key=lambda e: (e.created_at, e.event_id))

    def _mine(self, event: NormalizedEvent) -> NormalizedEvent:
        if event.environment != self.environment:
            raise MalformedEvent(
                f"a {event.environment}-mode event (livemode "
                f"{str(event.environment == 'live').lower()}) in this {self.environment}-mode "
                "run: refused"
            )
        return event

    def _refunds_of(self, intent_id: str, refunded: int) -> tuple[str, ...]:
        """The refunds behind a Charge's `amount_refunded`, oldest first, as far as they add
        up to it (a later refund is not this event's). A consistent list call."""
        try:
            refunds = list(self.list_all(c.REFUNDS, {"payment_intent": intent_id}))
        except ProviderError:
            return ()
        ids: list[str] = []
        total = 0
        for refund in sorted(refunds, key=lambda r: (int(r.get("created") or 0), str(r["id"]))):
            if refund.get("status") not in ("succeeded", "pending"):
                continue
            total += int(refund.get("amount") or 0)
            if total > refunded:
                break
            ids.append(str(refund["id"]))
        return tuple(ids)


def provider_events(events: list[str]) -> list[str]:
    """Stripe's event names behind the rehearsal's (a Stripe name passes as it is)."""
    return sorted({n for e in events for n in c.PROVIDER_EVENTS.get(e, [e])})


def _of_run(payload: Body, run_id: str | None) -> bool:
    obj = (payload.get("data") or {}).get("object") or {}
    tagged = (obj.get("metadata") or {}).get("rehearsal_run") if isinstance(obj, Mapping) else None
    return run_id is None or tagged is None or tagged == run_id


def _state(endpoint: Body) -> WebhookState:
    return WebhookState(
        endpoint_id=str(endpoint["id"]),
        status=str(endpoint.get("status") or "disabled"),
        events=tuple(str(e) for e in endpoint.get("enabled_events") or []),
    )
