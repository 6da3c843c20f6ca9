"""The Stripe dialect's catalogue routes: Customers, Products and Prices.

From https://docs.stripe.com/api/customers, /api/products and /api/prices. A Customer may
be attached to a test clock at creation (at most three per clock,
https://docs.stripe.com/billing/testing/test-clocks); objects of that customer live on the
clock's frozen time. A Price recurs every 1 day at the shortest and 3 years at the
longest. Nothing here charges: subscriptions and invoices are billing.py's.
"""

from __future__ import annotations

import sqlite3

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.billing import NOT_ATTACHED, end_subscription
from rehearsal.simulator.stripe.charging import currency_of
from rehearsal.simulator.stripe.charging import resolve_method as resolve
from rehearsal.simulator.stripe.store import Routes, stripe_id
from rehearsal.simulator.stripe.wire import (
    StripeError,
    as_int,
    as_str,
    metadata,
    page,
)

CLOCK_CUSTOMERS = 3
MAX_INTERVALS = {"day": 1095, "week": 156, "month": 36, "year": 3}  # three years at most


class CatalogRoutes(Routes):
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
                    end_subscription(self.store, db, env, sub, "cancellation_requested")
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
