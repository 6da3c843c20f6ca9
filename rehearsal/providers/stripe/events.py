"""Stripe events as the rehearsal reads them: a verified delivery, or GET /v1/events.

A Stripe event is `{id, object: "event", type, livemode, created, data: {object}}`
(https://docs.stripe.com/api/events/object). Its object becomes a ProviderObject: a
PaymentIntent, a Charge (charge.refunded, seen as its PaymentIntent), a Refund, a
Subscription, or an Invoice (invoice.paid, seen as the subscription it renews).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from rehearsal.providers.base import MalformedEvent, NormalizedEvent, ProviderObject
from rehearsal.providers.jsonwire import Body
from rehearsal.providers.stripe import contract as c

# A Charge's refunds, for a charge.refunded whose Charge does not list them (Stripe no
# longer expands Charge.refunds by default): (payment intent id, amount refunded) -> ids.
RefundsOf = Callable[[str, int], tuple[str, ...]]


def parse(payload: Body, refunds_of: RefundsOf | None = None) -> NormalizedEvent:
    """A Stripe event (already verified, or read through the API) to a NormalizedEvent."""
    try:
        event_id = str(payload["id"])
        event_type = str(payload["type"])
        livemode = payload["livemode"]
        created = float(payload.get("created") or 0)
        obj = payload["data"]["object"]
        if not isinstance(livemode, bool) or not isinstance(obj, Mapping):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise MalformedEvent("not a Stripe event (id, type, livemode, data.object)") from None
    try:
        parsed = _object(obj, refunds_of)
    except (KeyError, TypeError, ValueError):
        raise MalformedEvent(f"{event_type} carries no valid {obj.get('object')}") from None
    return NormalizedEvent(
        event_id=event_id,
        type=c.normalized_type(event_type, obj),
        provider_type=event_type,
        environment="live" if livemode else "test",
        object=parsed,
        created_at=created,
        payload=payload,
    )


def parse_body(body: bytes, refunds_of: RefundsOf | None = None) -> NormalizedEvent:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedEvent("the body is not JSON") from None
    if not isinstance(payload, Mapping):
        raise MalformedEvent("not a Stripe event (a JSON object)")
    return parse(payload, refunds_of)


def _object(obj: Body, refunds_of: RefundsOf | None) -> ProviderObject | None:
    kind = obj.get("object")
    if kind == "payment_intent":
        return c.parse_payment_intent(obj)
    if kind == "charge":
        ids = c.charge_refund_ids(obj)
        intent = c.ident(obj.get("payment_intent"))
        refunded = int(obj.get("amount_refunded") or 0)
        if not ids and refunded and intent and refunds_of is not None:
            ids = refunds_of(intent, refunded)
        return c.parse_charge_as_payment(obj, ids)
    if kind == "refund":
        return c.parse_refund(obj)
    if kind == "subscription":
        return c.parse_subscription(obj)
    if kind == "invoice":
        return c.parse_invoice_as_subscription(obj)
    return None
