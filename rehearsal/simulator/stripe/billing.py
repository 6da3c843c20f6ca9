"""The Stripe dialect's billing routes: Customers, Products, Prices, Subscriptions, Invoices.

From https://docs.stripe.com/api/customers, /api/prices, /api/subscriptions and
/api/invoices. A Customer may be attached to a test clock at creation (at most three per
clock, https://docs.stripe.com/billing/testing/test-clocks); objects of that customer live
on the clock's frozen time. A Price recurs every 1 day at the shortest and 3 years at the
longest. A Subscription charges its first invoice at once with its default PaymentMethod,
which must be attached to the customer (`payment_behavior` `allow_incomplete`, the
default, or `error_if_incomplete`); `DELETE /v1/subscriptions/{id}` cancels it at once
(`customer.subscription.deleted`).
"""

from __future__ import annotations

import sqlite3

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.invoices import finalize_and_pay, new_invoice, period_end
from rehearsal.simulator.stripe.payments import card_error, check_amount, currency_of
from rehearsal.simulator.stripe.payments import resolve_method as resolve
from rehearsal.simulator.stripe.store import Routes, stripe_id
from rehearsal.simulator.stripe.wire import (
    StripeError,
    as_int,
    as_str,
    base_url,
    expand_paths,
    metadata,
    page,
)

CLOCK_CUSTOMERS = 3
MAX_INTERVALS = {"day": 1095, "week": 156, "month": 36, "year": 3}  # three years at most
NOT_ATTACHED = (
    "The customer does not have a payment method with the ID {pm}. The payment "
    "method must be attached to the customer."
)


class BillingRoutes(Routes):
    # --- customers ----------------------------------------------------------------------------

    def _create_customer(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        clock_id = as_str(params, "test_clock")
        if clock_id:
            clock = self.store.get(env, "test_helpers.test_clock", clock_id)
            if len(self.store.objects(env, "customer", test_clock=clock_id)) >= CLOCK_CUSTOMERS:
                raise StripeError(
                    400,
                    f"A test clock can have at most {CLOCK_CUSTOMERS} customers; "
                    f"{clock['id']} has {CLOCK_CUSTOMERS} already.",  # wording ASSUMED
                    param="test_clock",
                )
        at = self.store.clock_time(env, clock_id)
        settings = params.get("invoice_settings") or {}
        customer: Row = {
            "id": stripe_id("cus"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": at,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": as_str(params, "description"),
            "email": as_str(params, "email"),
            "invoice_prefix": stripe_id("x")[2:10].upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": env == "live",
            "metadata": metadata(params),
            "name": as_str(params, "name"),
            "phone": as_str(params, "phone"),
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": clock_id,
        }
        with self.store.books.tx() as db:
            self.store.put(db, env, customer)
            given = as_str(params, "payment_method")
            attached = None
            if given:
                attached = resolve(self.store, db, env, given)
                attached["customer"] = customer["id"]
                self.store.put(db, env, attached)
            default = settings.get("default_payment_method") if isinstance(settings, dict) else None
            if default:
                if attached is None or default not in (given, attached["id"]):
                    raise StripeError(
                        400,
                        NOT_ATTACHED.format(pm=default),
                        param="invoice_settings[default_payment_method]",
                    )
                customer["invoice_settings"]["default_payment_method"] = attached["id"]
                self.store.put(db, env, customer)
            self.store.emit(db, env, "customer.created", customer)
        return 200, customer

    def _get_customer(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "customer", request.path_params["id"])

    def _list_customers(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        rows = self.store.objects(
            env, "customer", email=as_str(params, "email"), test_clock=as_str(params, "test_clock")
        )
        return 200, page(rows, params, "/v1/customers")

    def _update_customer(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        customer = self.store.get(env, "customer", request.path_params["id"])
        previous: Row = {}
        settings = params.get("invoice_settings")
        if isinstance(settings, dict) and "default_payment_method" in settings:
            pm_id = str(settings["default_payment_method"])
            method = self.store.find(pm_id)
            if method is None or method.get("customer") != customer["id"]:
                raise StripeError(
                    400,
                    NOT_ATTACHED.format(pm=pm_id),
                    param="invoice_settings[default_payment_method]",
                )
            previous["invoice_settings"] = dict(customer["invoice_settings"])
            customer["invoice_settings"]["default_payment_method"] = pm_id
        for name in ("name", "email", "description", "phone"):
            if name in params:
                previous[name] = customer[name]
                customer[name] = as_str(params, name)
        if "metadata" in params:
            previous["metadata"] = customer["metadata"]
            customer["metadata"] = metadata(params, customer["metadata"])
        with self.store.books.tx() as db:
            self.store.put(db, env, customer)
            self.store.emit(db, env, "customer.updated", customer, previous)
        return 200, customer

    def _delete_customer(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        """Deleting a customer cancels its subscriptions at once
        (https://docs.stripe.com/api/customers/delete)."""
        customer = self.store.get(env, "customer", request.path_params["id"])
        with self.store.books.tx() as db:
            for sub in self.store.objects(env, "subscription", customer=customer["id"]):
                if sub["status"] != "canceled":
                    self._end(db, env, sub, "cancellation_requested")
            self.store.delete(db, customer["id"])
            self.store.emit(db, env, "customer.deleted", customer)
        return 200, {"id": customer["id"], "object": "customer", "deleted": True}

    # --- products and prices ------------------------------------------------------------------

    def _create_product(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        name = as_str(params, "name", required=True)
        with self.store.books.tx() as db:
            product = self._product(db, env, name, params)
        return 200, product

    def _product(self, db: sqlite3.Connection, env: str, name: str | None, params: Row) -> Row:
        now = int(self.store.books.now())
        product: Row = {
            "id": stripe_id("prod"),
            "object": "product",
            "active": True,
            "created": now,
            "default_price": None,
            "description": as_str(params, "description"),
            "images": [],
            "livemode": env == "live",
            "metadata": metadata(params),
            "name": name,
            "updated": now,
            "url": None,
        }
        self.store.put(db, env, product)
        self.store.emit(db, env, "product.created", product)
        return product

    def _get_product(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "product", request.path_params["id"])

    def _create_price(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        currency = currency_of(params)
        amount = as_int(params, "unit_amount", required=True) or 0
        recurring = params.get("recurring")
        interval = count = None
        if recurring is not None:
            if not isinstance(recurring, dict):
                raise StripeError(400, "Invalid recurring: must be a hash", param="recurring")
            interval = as_str(recurring, "interval", required=True)
            if interval not in MAX_INTERVALS:
                raise StripeError(
                    400,
                    "Invalid recurring[interval]: must be one of day, week, month, or year",
                    param="recurring[interval]",
                )
            count = as_int(recurring, "interval_count", minimum=1) or 1
            if count > MAX_INTERVALS[interval]:
                raise StripeError(
                    400,
                    "Maximum of three years interval allowed (3 years, 36 months, or 156 weeks).",
                    param="recurring[interval_count]",
                )
        with self.store.books.tx() as db:
            product_id = as_str(params, "product")
            data = params.get("product_data")
            if product_id:
                self.store.get(env, "product", product_id)
            elif isinstance(data, dict) and as_str(data, "name"):
                product_id = self._product(db, env, as_str(data, "name"), data)["id"]
            else:
                raise StripeError(
                    400,
                    "You must specify either `product` or `product_data` when creating a price.",
                    param="product",
                )
            price: Row = {
                "id": stripe_id("price"),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": int(self.store.books.now()),
                "currency": currency,
                "livemode": env == "live",
                "lookup_key": as_str(params, "lookup_key"),
                "metadata": metadata(params),
                "nickname": as_str(params, "nickname"),
                "product": product_id,
                "recurring": None
                if interval is None
                else {
                    "interval": interval,
                    "interval_count": count,
                    "meter": None,
                    "trial_period_days": None,
                    "usage_type": "licensed",
                },
                "tax_behavior": "unspecified",
                "type": "one_time" if interval is None else "recurring",
                "unit_amount": amount,
                "unit_amount_decimal": str(amount),
            }
            self.store.put(db, env, price)
            self.store.emit(db, env, "price.created", price)
        return 200, price

    def _get_price(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "price", request.path_params["id"])

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
        sub_id = stripe_id("sub")
        recurring = prices[0][0]["recurring"]
        end = period_end(at, recurring)
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
            "_key": request.headers.get("Idempotency-Key"),
        }
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
            self._end(db, env, sub, "cancellation_requested")
            if isinstance(details, dict):
                for name in ("comment", "feedback"):
                    sub["cancellation_details"][name] = details.get(name)
            self.store.put(db, env, sub)
        return 200, sub

    def _end(self, db: sqlite3.Connection, env: str, sub: Row, reason: str) -> None:
        at = self.store.clock_time(env, sub["test_clock"])
        sub.update(status="canceled", canceled_at=at, ended_at=at)
        sub["cancellation_details"]["reason"] = reason
        self.store.put(db, env, sub)
        self.store.emit(db, env, "customer.subscription.deleted", sub)

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
