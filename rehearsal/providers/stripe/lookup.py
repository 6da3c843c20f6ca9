"""What a lost call made, found again through Stripe's list calls.

Stripe has no lookup by idempotency key, and its Search API is not read-after-write
consistent (https://docs.stripe.com/search: "Don't use search in read-after-write flows").
List calls are. So every object the adapter creates carries metadata `rehearsal_run`,
`rehearsal_step` and `rehearsal_key`, each run charges through its own Customer (found by
its email), and each subscription lives on its own test clock (found by its name). A list
that shows no object with the key proves the call made none; where no list can say (the
subscription's clock is gone), the lookup says it cannot tell (KeyLookupUnsupported), and
the settle engine keeps the outcome unknown: never "never made".
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime

from rehearsal.providers.base import KeyLookupUnsupported, ProviderObject
from rehearsal.providers.jsonwire import Body, JSONValue
from rehearsal.providers.keys import step_of
from rehearsal.providers.stripe import contract as c
from rehearsal.providers.stripe.client import StripeHttp

DAY = 86400


def tags(key: str) -> dict[str, str]:
    """The metadata every object the adapter creates carries."""
    of = step_of(key)
    found = {"rehearsal_key": key[:500]}
    if of is not None:
        found |= {"rehearsal_run": of.run_id, "rehearsal_step": of.step_id}
    return found


def run_email(run_id: str) -> str:
    return f"rehearsal+{run_id}@example.com"


def clock_name(key: str) -> str:
    """A subscription's test clock is named for the call that made it."""
    return f"rehearsal {key}"[:255]


def run_customer(http: StripeHttp, run_id: str) -> str | None:
    """The run's own Customer (no test clock: listed without one), by its email."""
    for customer in http.list_all(c.CUSTOMERS, {"email": run_email(run_id)}):
        if customer.get("test_clock"):
            continue  # a subscription's Customer (Stripe lists those only by their clock)
        if (customer.get("metadata") or {}).get("rehearsal_run") == run_id:
            return str(customer["id"])
    return None


def clock_of(http: StripeHttp, key: str) -> Body | None:
    name = clock_name(key)
    for clock in http.list_all(c.TEST_CLOCKS):
        if clock.get("name") == name:
            return clock
    return None


def find(http: StripeHttp, kind: str, key: str) -> ProviderObject | None:
    of = step_of(key)
    if of is None:
        raise KeyLookupUnsupported(f"key {key} was not derived by the rehearsal")
    if kind == "payment":
        customer = run_customer(http, of.run_id)
        params: dict[str, JSONValue] = {"expand": ["data.latest_charge"]}
        if customer is not None:
            params["customer"] = customer
        else:  # not made yet, or removed: every intent since the run began, to be sure
            params["created"] = {"gte": _since(of.run_id)}
        for intent in http.list_all(c.PAYMENT_INTENTS, params):
            if _tagged(intent, key):
                return c.parse_payment_intent(intent)
        return None
    if kind == "refund":
        for refund in http.list_all(c.REFUNDS, {"created": {"gte": _since(of.run_id)}}):
            if _tagged(refund, key):
                return c.parse_refund(refund)
        return None
    clock = clock_of(http, key)
    if clock is None:
        raise KeyLookupUnsupported(
            f"no test clock named {clock_name(key)!r}: either the call never reached Stripe "
            "or the clock is gone (deleted at the end of a run, or by Stripe after 7 days)"
        )
    for sub in _clock_subscriptions(http, str(clock["id"])):
        if _tagged(sub, key):
            return c.parse_subscription(sub)
    return None


def _clock_subscriptions(http: StripeHttp, clock_id: str) -> Iterator[Body]:
    for customer in http.list_all(c.CUSTOMERS, {"test_clock": clock_id}):
        yield from http.list_all(c.SUBSCRIPTIONS, {"customer": customer["id"], "status": "all"})


def _tagged(obj: Body, key: str) -> bool:
    metadata = obj.get("metadata")
    return isinstance(metadata, Mapping) and metadata.get("rehearsal_key") == key[:500]


def _since(run_id: str) -> int:
    """A day before the run began (its id starts with local YYYYMMDD-HHMMSS; a day covers
    any time zone), or the epoch for an id that does not."""
    try:
        began = datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S").timestamp()
    except ValueError:
        return 0
    return max(0, int(min(began, time.time())) - DAY)
