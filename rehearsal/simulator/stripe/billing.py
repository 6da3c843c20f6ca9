"""The Stripe dialect's billing routes: Subscriptions and Invoices (Customers, Products and
Prices are catalog.py's).

From https://docs.stripe.com/api/subscriptions and /api/invoices. A Subscription charges
its first invoice at once with its default PaymentMethod, which must be attached to the
customer (`payment_behavior` `allow_incomplete`, the default, or `error_if_incomplete`);
`DELETE /v1/subscriptions/{id}` cancels it at once (`customer.subscription.deleted`).
"""

from __future__ import annotations

import sqlite3

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.charging import card_error, check_amount
from rehearsal.simulator.stripe.invoices import finalize_and_pay, new_invoice, period_end
from rehearsal.simulator.stripe.store import Routes, Store, stripe_id
from rehearsal.simulator.stripe.wire import (
    StripeError,
    as_int,
    as_str,
    base_url,
    expand_paths,
    metadata,
    page,
)

NOT_ATTACHED = (
    "The customer does not have a payment method with the ID {pm}. The payment "
    "method must be attached to the customer."
)


class BillingRoutes(Routes):
    # --- subscriptions ------------------------------------------------------------------------

    def _create_subscription(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        customer = self.store.get(env, "customer", as_str(params, "customer", required=True) or "")
        behavior = as_str(params, "payment_behavior") or "allow_incomplete"
        if behavior not in ("allow_incomplete", "error_if_incomplete"):
            raise StripeError(
                400,
                f"The simulator bills with the default payment method only: "
                f"payment_behavior {behavior} is not simulated.",
                param="payment_behavior",
            )
        prices = self._items(env, params)
        pm_id = (
            as_str(params, "default_payment_method")
            or customer["invoice_settings"]["default_payment_method"]
        )
        if not pm_id:
            raise StripeError(
                400,
                "This customer has no attached payment source or default "
                "payment method. Please consider adding a default payment method.",
            )
        method = self.store.find(pm_id)
        if method is None or method.get("customer") != customer["id"]:
            raise StripeError(400, NOT_ATTACHED.format(pm=pm_id), param="default_payment_method")
        at = self.store.clock_time(env, customer["test_clock"])
        end = period_end(at, prices[0][0]["recurring"])
        key = request.headers.get("Idempotency-Key")
        sub = _new_subscription(env, params, customer, pm_id, prices, at, end, key)
        with self.store.books.tx() as db:
            inv = new_invoice(self.store, db, env, sub, "subscription_create", at, end, at)
            sub["latest_invoice"] = inv["id"]
            finalize_and_pay(
                self.store,
                db,
                env,
                inv,
                sub,
                off_session=False,
                faults=self.faults,
                key=sub["_key"],
                base=base_url(request),
            )
            if behavior == "error_if_incomplete" and sub["status"] != "active":
                pi = self.store.get(
                    env, "payment_intent", inv["_payments"]["data"][0]["payment"]["payment_intent"]
                )
                raise card_error(pi)  # nothing is kept: the transaction rolls back
            self.store.put(db, env, sub)
            self.store.emit(db, env, "customer.subscription.created", sub)
        return 200, sub

    def _items(self, env: str, params: Row) -> list[tuple[Row, int]]:
        items = params.get("items")
        if not isinstance(items, list) or not items:
            raise StripeError(
                400, "Missing required param: items.", param="items", code="parameter_missing"
            )
        chosen = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not as_str(item, "price"):
                raise StripeError(
                    400,
                    f"Missing required param: items[{i}][price].",
                    param=f"items[{i}][price]",
                    code="parameter_missing",
                )
            price = self.store.get(env, "price", str(item["price"]))
            if price["type"] != "recurring":
                raise StripeError(
                    400,
                    f"The price specified ({price['id']}) is not recurring.",
                    param=f"items[{i}][price]",
                )
            chosen.append((price, as_int(item, "quantity", minimum=1) or 1))
        first = chosen[0][0]
        for price, _ in chosen:
            check_amount(int(price["unit_amount"]) or 50, price["currency"])
            if (
                price["currency"],
                price["recurring"]["interval"],
                price["recurring"]["interval_count"],
            ) != (
                first["currency"],
                first["recurring"]["interval"],
                first["recurring"]["interval_count"],
            ):
                raise StripeError(
                    400,
                    "Currency and interval fields must match across all plans on a subscription.",
                    param="items",
                )
        return chosen

    def _get_subscription(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "subscription", request.path_params["id"])

    def _list_subscriptions(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        """Without `status`, Stripe lists the subscriptions that are not canceled."""
        status = as_str(params, "status")
        rows = self.store.objects(
            env,
            "subscription",
            customer=as_str(params, "customer"),
            test_clock=as_str(params, "test_clock"),
            status=None if status in (None, "all") else status,
        )
        if status is None:
            rows = [r for r in rows if r["status"] != "canceled"]
        return 200, page(rows, params, "/v1/subscriptions")

    def _cancel_subscription(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        sub = self.store.get(env, "subscription", request.path_params["id"])
        if sub["status"] == "canceled":
            raise StripeError(400, f"This subscription ({sub['id']}) is already canceled.")
        details = params.get("cancellation_details") or {}
        with self.store.books.tx() as db:
            end_subscription(self.store, db, env, sub, "cancellation_requested")
            if isinstance(details, dict):
                for name in ("comment", "feedback"):
                    sub["cancellation_details"][name] = details.get(name)
            self.store.put(db, env, sub)
        return 200, sub

    # --- invoices -----------------------------------------------------------------------------

    def _invoice_out(self, inv: Row, params: Row) -> Row:
        """`payments` is an includable member: only with `expand[]=payments`."""
        if "payments" in expand_paths(params) or "data.payments" in expand_paths(params):
            inv["payments"] = inv["_payments"]
        return inv

    def _get_invoice(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        inv = self.store.get(env, "invoice", request.path_params["id"])
        return 200, self._invoice_out(inv, params)

    def _list_invoices(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        rows = self.store.objects(
            env,
            "invoice",
            customer=as_str(params, "customer"),
            status=as_str(params, "status"),
            parent__subscription_details__subscription=as_str(params, "subscription"),
        )
        return 200, page([self._invoice_out(r, params) for r in rows], params, "/v1/invoices")


def _new_subscription(
    env: str,
    params: Row,
    customer: Row,
    pm_id: str,
    prices: list[tuple[Row, int]],
    at: int,
    end: int,
    key: str | None,
) -> Row:
    """A Subscription object as Stripe returns it, `incomplete` until its first invoice is
    paid; `_key` keeps the Idempotency-Key of the request that created it."""
    sub_id = stripe_id("sub")
    sub: Row = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "billing_cycle_anchor": at,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": at,
        "currency": prices[0][0]["currency"],
        "customer": customer["id"],
        "default_payment_method": pm_id,
        "description": as_str(params, "description"),
        "ended_at": None,
        "items": {
            "object": "list",
            "has_more": False,
            "total_count": len(prices),
            "url": f"/v1/subscription_items?subscription={sub_id}",
            "data": [
                {
                    "id": stripe_id("si"),
                    "object": "subscription_item",
                    "created": at,
                    "current_period_end": end,
                    "current_period_start": at,
                    "metadata": {},
                    "price": price,
                    "quantity": quantity,
                    "subscription": sub_id,
                }
                for price, quantity in prices
            ],
        },
        "latest_invoice": None,
        "livemode": env == "live",
        "metadata": metadata(params),
        "pending_update": None,
        "start_date": at,
        "status": "incomplete",
        "test_clock": customer["test_clock"],
        "trial_end": None,
        "trial_start": None,
        "_key": key,
    }
    return sub


def end_subscription(store: Store, db: sqlite3.Connection, env: str, sub: Row, reason: str) -> None:
    """Cancel `sub` at once, on its clock's time (`customer.subscription.deleted`)."""
    at = store.clock_time(env, sub["test_clock"])
    sub.update(status="canceled", canceled_at=at, ended_at=at)
    sub["cancellation_details"]["reason"] = reason
    store.put(db, env, sub)
    store.emit(db, env, "customer.subscription.deleted", sub)
