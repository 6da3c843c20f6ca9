"""The Stripe dialect's webhooks: endpoints, the Events API and the signature.

Endpoints as https://docs.stripe.com/api/webhook_endpoints documents them: created with a
`url` and `enabled_events` (`*` for all), answered once with their `secret` (`whsec_...`),
listed, updated, deleted; at most 16 per account (https://docs.stripe.com/webhooks/go-live).
Each is one of the books' endpoints, which the deliverer posts to with retries; an event
reaches only the endpoints that enabled its type. Events are listed newest first by
`GET /v1/events` with `type` (a `*` wildcard allowed), `types[]`, `created[gt|gte|lt|lte]`
and the usual paging (https://docs.stripe.com/api/events/list). Each delivery is signed
`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">`
(https://docs.stripe.com/webhooks#verify-manually).

ASSUMED, and a known difference: every endpoint of one simulator shares the simulator's
webhook secret (the deliverer signs a body, not a body for an endpoint), where Stripe gives
each endpoint its own.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import time

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.stripe.store import API_VERSION, Routes
from rehearsal.simulator.stripe.wire import StripeError, as_int, as_str, metadata, missing, page

MAX_ENDPOINTS = 16
# The types the simulator sends (https://docs.stripe.com/api/events/types).
EVENT_TYPES = frozenset(
    {
        "charge.failed",
        "charge.refunded",
        "charge.succeeded",
        "customer.created",
        "customer.deleted",
        "customer.subscription.created",
        "customer.subscription.deleted",
        "customer.subscription.updated",
        "customer.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "payment_intent.canceled",
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
        "payment_method.attached",
        "price.created",
        "product.created",
        "refund.created",
        "refund.updated",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.deleted",
        "test_helpers.test_clock.ready",
    }
)
# The rehearsal's event names (what fault switches and the control route's `events` use)
# -> the Stripe types that carry that transition. Simulator-side only: the adapter keeps its
# own mapping, and tests check both against Stripe's library, not against each other.
STRIPE_TYPES = {
    "payment.succeeded": ("payment_intent.succeeded", "charge.succeeded"),
    "payment.failed": ("payment_intent.payment_failed", "charge.failed"),
    "payment.requires_action": ("payment_intent.requires_action",),
    "payment.refunded": ("charge.refunded", "refund.created", "refund.updated"),
    "subscription.created": ("customer.subscription.created",),
    "subscription.renewed": ("invoice.paid", "invoice.payment_succeeded"),
    "subscription.past_due": ("invoice.payment_failed", "customer.subscription.updated"),
    "subscription.cancelled": ("customer.subscription.deleted",),
}


def stripe_types(names: list[str]) -> list[str]:
    """Stripe's types for a list that may use the rehearsal's names."""
    out: list[str] = []
    for name in names:
        out += STRIPE_TYPES.get(name, (name,))
    return list(dict.fromkeys(out))


def widen_faults(faults: Faults) -> None:
    """Make `drop:payment.succeeded` (the rehearsal's name) drop Stripe's events for it."""
    for names in (faults.drop, faults.duplicate):
        names.update(stripe_types(sorted(names)))
    for name, seconds in list(faults.delay.items()):
        for kind in STRIPE_TYPES.get(name, ()):
            faults.delay.setdefault(kind, seconds)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _enabled(params: Row) -> list[str]:
    given = params.get("enabled_events")
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not given:
        raise StripeError(
            400,
            "Missing required param: enabled_events.",
            param="enabled_events",
            code="parameter_missing",
        )
    for i, name in enumerate(given):
        if name != "*" and name not in EVENT_TYPES:
            raise StripeError(
                400,
                f"Invalid enabled_events[{i}]: must be one of the event "
                "types the simulator sends, or *",
                param=f"enabled_events[{i}]",
            )
    return list(dict.fromkeys(given))


def _url(params: Row) -> str:
    url = as_str(params, "url", required=True) or ""
    if not url.startswith(("http://", "https://")):
        raise StripeError(
            400,
            "Invalid URL: URL must be publicly accessible and begin with http:// or https://",
            param="url",
        )  # loopback is allowed here
    return url


class WebhookRoutes(Routes):
    def _create_endpoint(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        books = self.store.books
        if len(self.store.objects(env, "webhook_endpoint")) >= MAX_ENDPOINTS:
            raise StripeError(
                400,
                f"You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints.",
                param="url",
            )  # wording ASSUMED
        url, events = _url(params), _enabled(params)
        row = books.add_endpoint(url, events, env)
        endpoint: Row = {
            "id": row["id"],
            "object": "webhook_endpoint",
            "api_version": as_str(params, "api_version") or API_VERSION,
            "application": None,
            "created": int(row["created_at"]),
            "description": as_str(params, "description"),
            "enabled_events": events,
            "livemode": env == "live",
            "metadata": metadata(params),
            "status": "enabled",
            "url": url,
        }
        with books.tx() as db:
            self.store.put(db, env, endpoint)
        return 200, {**endpoint, "secret": books.keys.webhook_secret}

    def _get_endpoint(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "webhook_endpoint", request.path_params["id"])

    def _list_endpoints(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, page(
            self.store.objects(env, "webhook_endpoint"), params, "/v1/webhook_endpoints"
        )

    def _update_endpoint(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        endpoint = self.store.get(env, "webhook_endpoint", request.path_params["id"])
        if "url" in params:
            endpoint["url"] = _url(params)
        if "enabled_events" in params:
            endpoint["enabled_events"] = _enabled(params)
        if "disabled" in params:
            endpoint["status"] = "disabled" if params["disabled"] == "true" else "enabled"
        endpoint["metadata"] = metadata(params, endpoint["metadata"])
        on = endpoint["status"] == "enabled"
        with self.store.books.tx() as db:
            self.store.put(db, env, endpoint)
            db.execute(
                "UPDATE endpoints SET url = ?, events = ?, enabled = ? WHERE id = ?",
                (endpoint["url"], json.dumps(endpoint["enabled_events"]), int(on), endpoint["id"]),
            )
            if not on:
                db.execute(
                    "UPDATE outbox SET state = 'cancelled' WHERE endpoint_id = ? "
                    "AND state = 'pending'",
                    (endpoint["id"],),
                )
        return 200, endpoint

    def _delete_endpoint(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        endpoint = self.store.get(env, "webhook_endpoint", request.path_params["id"])
        self.store.books.remove_endpoint(endpoint["id"])
        with self.store.books.tx() as db:
            self.store.delete(db, endpoint["id"])
        return 200, {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}

    # --- the Events API -----------------------------------------------------------------------

    def _list_events(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        events = self.store.events(env)
        kind = as_str(params, "type")
        if kind:
            events = [e for e in events if fnmatch.fnmatchcase(e["type"], kind)]
        types = params.get("types")
        if types:
            if not isinstance(types, list) or len(types) > 20:
                raise StripeError(400, "Invalid types: an array of at most 20 types", param="types")
            events = [e for e in events if e["type"] in types]
        created = params.get("created")
        if isinstance(created, dict):
            bounds = {op: as_int(created, op) for op in ("gt", "gte", "lt", "lte")}
            events = [e for e in events if _within(e["created"], bounds)]
        elif created is not None:
            exact = as_int(params, "created")
            events = [e for e in events if e["created"] == exact]
        return 200, page(events, params, "/v1/events")

    def _get_event(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        for event in self.store.events(env):
            if event["id"] == request.path_params["id"]:
                return 200, event
        raise missing("event", request.path_params["id"])


def _within(created: int, bounds: dict[str, int | None]) -> bool:
    checks = {
        "gt": lambda b: created > b,
        "gte": lambda b: created >= b,
        "lt": lambda b: created < b,
        "lte": lambda b: created <= b,
    }
    return all(checks[op](b) for op, b in bounds.items() if b is not None)
