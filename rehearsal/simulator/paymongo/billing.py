"""The PayMongo dialect's billing routes: plans, customers, subscriptions (cancel,
test_cycle, invoices), plus the simulator's control routes for endpoints and
for switching Subscriptions off as on an account PayMongo has not configured.

A subscription starts `incomplete`: "The customer must successfully process the first
payment, which will require card payment authentication, to activate the subscription"
(https://developers.paymongo.com/docs/statuses-subscription). Its first invoice's payment
intent is paid by attaching a card; "upon attachment, the Payment Intent status is set to
awaiting_next_action, and a redirect URL is returned" whatever the card
(https://developers.paymongo.com/docs/subscriptions-test-cases), so attach always asks for
3-D Secure there (paymongo_payments.py), and the subscription shows it in `setup_intent`
(`status`, `next_action_url`; https://developers.paymongo.com/reference/subscription-resource).
Only once the page's "Authorize Test Payment" is pressed is the first payment made; then the
subscription is `active` and `subscription.invoice.paid` and `subscription.activated` are
sent (paymongo_store.py). "Fail Test Payment", or a card declined after authentication
(5234000000000106), leaves the intent `awaiting_payment_method` and the subscription
`incomplete`; no subscription event is sent (ASSUMED: PayMongo documents none), a declined
card's failed payment sends `payment.failed`. PayMongo cancels an unpaid subscription after
24 h (`incomplete_cancelled`); the simulator does not (docs/providers/paymongo.md).
"""

from __future__ import annotations

from starlette.requests import Request

from rehearsal.simulator.books import Row, new_id
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.paymongo import spec as c
from rehearsal.simulator.paymongo.tables import BOOKS_INTERVAL, control_kinds, insert
from rehearsal.simulator.paymongo.wire import (
    NOT_CONFIGURED,
    PMError,
    Routes,
    base_url,
    parse_amount,
    parse_currency,
    require_attributes,
)

# PayMongo's subscription test cases: 5123000000000001 is "Successful subscription activation
# but failed recurring payment" (https://developers.paymongo.com/docs/subscriptions-test-cases,
# see docs/providers/paymongo.md). The simulator keeps a payment method's brand and last 4
# digits, not its number; among PayMongo's documented test cards only this one is a
# Mastercard ending in 0001, and test mode accepts test cards only.
RECURRING_FAILS = {("mastercard", "0001")}
RECURRING_FAILURE_CODE = "generic_decline"  # assumed: PayMongo does not document the sub_code
# The books' kind (and PayMongo's name) of the event a failed renewal sends before
# subscription.past_due.
RENEWAL_FAILED_EVENT = "subscription.invoice.payment_failed"


class BillingRoutes(Routes):
    def renewal_failure(self, faults: Faults, sub: Row) -> str | None:
        """Why this renewal's charge fails: the `fail-renewal` fault switch, or the card
        PayMongo documents as failing recurring payments; None: the card decides."""
        assert self.books is not None
        if code := faults.renewal_failure(sub["id"]):
            return code
        if sub["env"] == "test" and sub["card_token"]:
            method = self.books.one(
                "SELECT brand, last4 FROM pm_methods WHERE id = ?", sub["card_token"]
            )
            if method is not None and (method["brand"], method["last4"]) in RECURRING_FAILS:
                return RECURRING_FAILURE_CODE
        return None

    # --- subscriptions ----------------------------------------------------------------------

    def _subscriptions_on(self) -> None:
        if not self.subscriptions_enabled:
            raise PMError(403, "forbidden", NOT_CONFIGURED)

    def _create_plan(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        self._subscriptions_on()
        a = require_attributes(body)
        interval = a.get("interval")
        if interval not in BOOKS_INTERVAL:
            raise PMError(
                400,
                "parameter_invalid",
                f"interval must be one of {', '.join(BOOKS_INTERVAL)}.",
                "attributes.interval",
            )
        if a.get("interval_count", 1) != 1:
            raise PMError(400, "parameter_invalid", "the simulator bills interval_count 1 only.")
        name = a.get("name")
        if not isinstance(name, str) or not name:
            raise PMError(400, "parameter_required", "name is required.", "attributes.name")
        row: Row = {
            "id": new_id("plan"),
            "env": env,
            "name": name,
            "description": a.get("description"),
            "amount": parse_amount(a, c.MIN_AMOUNT),
            "currency": parse_currency(a),
            "interval": interval,
            "interval_count": 1,
            "cycle_count": a.get("cycle_count"),
            "created_at": self.books.now(),
        }
        with self.books.tx() as db:
            insert(db, "pm_plans", row)
        return 200, {"data": self.store.plan(row)}

    def _create_customer(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        a = require_attributes(body)
        for field in ("first_name", "last_name", "email"):
            if not isinstance(a.get(field), str) or not a[field]:
                raise PMError(
                    400, "parameter_required", f"{field} is required.", f"attributes.{field}"
                )
        row: Row = {
            "id": new_id("cus"),
            "env": env,
            **{k: a.get(k) for k in ("first_name", "last_name", "email", "phone")},
            "default_device": a.get("default_device", "email"),
            "created_at": self.books.now(),
        }
        with self.books.tx() as db:
            insert(db, "pm_customers", row)
        return 200, {"data": self.store.customer(row)}

    def _create_subscription(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        self._subscriptions_on()
        a = require_attributes(body)
        plan = self.store.one("pm_plans", env, str(a.get("plan_id")))
        if plan is None:
            raise PMError(
                404, "resource_not_found", "plan_id does not exist.", "attributes.plan_id"
            )
        customer = self.store.one("pm_customers", env, str(a.get("customer_id")))
        if customer is None:
            raise PMError(
                404, "resource_not_found", "customer_id does not exist.", "attributes.customer_id"
            )
        now = self.books.now()
        sub_id = new_id("subs")
        with self.books.tx() as db:
            intent = self.store.new_intent(
                db,
                env,
                amount=plan["amount"],
                currency=plan["currency"],
                description=plan["name"],
                metadata=None,
                subscription_id=sub_id,
            )
            sub: Row = {
                "id": sub_id,
                "env": env,
                "external_id": key,
                "amount": plan["amount"],
                "currency": plan["currency"],
                "interval": BOOKS_INTERVAL[plan["interval"]],
                "status": "incomplete",
                "card_token": None,
                "card_brand": None,
                "card_last4": None,
                "period_start": now,
                "period_end": now,
                "renewals": 0,
                "latest_payment_id": None,
                "cancel_reason": None,
                "created_at": now,
                "cancelled_at": None,
            }
            insert(db, "subscriptions", sub)
            insert(
                db,
                "pm_subscriptions",
                {
                    "id": sub_id,
                    "plan_id": plan["id"],
                    "customer_id": customer["id"],
                    "intent_id": intent["id"],
                },
            )
        return 200, {"data": self.store.subscription(sub, base_url(request))}

    def _cancel(self, request: Request, env: str, body: Row, key: str | None) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        reason = require_attributes(body).get("cancellation_reason")
        if reason not in c.CANCELLATION_REASONS:
            raise PMError(
                400,
                "parameter_invalid",
                f"cancellation_reason must be one of {', '.join(c.CANCELLATION_REASONS)}.",
                "attributes.cancellation_reason",
            )
        sub = self.books.cancel_subscription(env, request.path_params["id"], str(reason))
        return 200, {"data": self.store.subscription(sub, base_url(request))}

    def _test_cycle(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        if env != "test":
            raise PMError(400, "parameter_invalid", "test_cycle needs a test secret API key.")
        sub = self.books.advance_to_renewal(env, request.path_params["id"])
        return 200, {"data": self.store.subscription(sub, base_url(request))}

    def _list_invoices(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        sub_id = request.query_params.get("subscription_id")
        if not sub_id:
            raise PMError(400, "parameter_required", "subscription_id is required.")
        sub = self.books.subscription(env, sub_id)
        return 200, {"data": self.store.invoices(sub), "has_more": False}

    def _switch_subscriptions(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        self.subscriptions_enabled = bool(body.get("enabled", True))
        return 200, {"enabled": self.subscriptions_enabled}

    def _add_endpoint(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PMError(400, "parameter_invalid", "url must be http(s)")
        events = body.get("events") or ["*"]
        row = self.books.add_endpoint(url, control_kinds(list(events)), body.get("environment"))
        return 201, {"id": row["id"], "url": url, "events": events}

    def _remove_endpoint(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        removed = self.books.remove_endpoint(request.path_params["id"])
        return 200, {"id": request.path_params["id"], "removed": removed}

    def _repoint_endpoint(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        """A resumed run's receiver: the endpoint's pending retries and future events go to
        the new URL (the simulator's control route, as the MintCash dialect's)."""
        assert self.books is not None
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PMError(400, "parameter_invalid", "url must be http(s)")
        if not self.books.repoint_endpoint(request.path_params["id"], url):
            raise PMError(404, "resource_not_found", "no such enabled endpoint")
        self.books.on_enqueue()  # wake the deliverer: due retries go to the new URL now
        return 200, {"id": request.path_params["id"], "url": url}

    def _advance_clock(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise PMError(400, "parameter_invalid", "seconds must be a number >= 0")
        self.books.advance_clock(float(seconds))
        return 200, {"now": int(self.books.now())}
