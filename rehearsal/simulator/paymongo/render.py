"""How the PayMongo dialect renders the books and its own tables: PayMongo's JSON:API
resources (`{"id", "type", "attributes"}`) for payments, refunds, intents, methods, plans,
customers, subscriptions, invoices, webhooks and what an event carries. Invoices are not
stored: each paid subscription payment is one, keyed by its intent. Rendering never writes.
"""

from __future__ import annotations

import json

from rehearsal.simulator.books import Row
from rehearsal.simulator.paymongo.tables import (
    THREE_DS_STATUS,
    Tables,
    billing,
    card_fee,
    day,
    payment_ids,
    resource,
    secs,
)


class Rendering(Tables):
    # --- rendering --------------------------------------------------------------------------

    def payment(self, row: Row) -> Row:
        """A Payment Resource with every member PayMongo's reference and its official
        clients name (https://developers.paymongo.com/reference/payment-source)."""
        refunds = self.books.all(
            "SELECT * FROM refunds WHERE payment_id = ? ORDER BY created_at, id", row["id"]
        )
        failed = row["status"] == "failed"
        intent_id = self.intent_for_payment(row)
        intent = self.find("pm_intents", intent_id)
        method = (
            self.find("pm_methods", intent["method_id"])
            if intent and intent.get("method_id")
            else None
        )
        intent_extras = self.extras(intent_id)
        fee = 0 if failed else card_fee(row["amount"])
        foreign_fee = 0  # ASSUMED: the simulator's test cards are local (PH) cards
        created = secs(row["created_at"])
        suffix = row["id"].removeprefix("pay_")
        return resource(
            "payment",
            row["id"],
            {
                "access_url": None,
                "amount": row["amount"],
                "balance_transaction_id": None if failed else f"bal_txn_{suffix}",
                "billing": billing(json.loads(method["billing"]))
                if method and method["billing"]
                else None,
                "currency": row["currency"],
                "description": row["description"],
                "disputed": False,
                "external_reference_number": None,
                "fee": fee,
                "foreign_fee": foreign_fee,
                "livemode": row["env"] == "live",
                "net_amount": 0 if failed else row["amount"] - fee - foreign_fee,
                "origin": "api",
                "payment_intent_id": intent_id,
                "payout": None,
                "source": {
                    "id": "card_" + suffix,
                    "type": "card",
                    "brand": row["card_brand"],
                    "country": "PH",
                    "last4": row["card_last4"],
                },
                "statement_descriptor": intent_extras.get("statement_descriptor"),
                # PayMongo documents `paid` and `failed`; refunds show in `refunds`, not here.
                "status": "failed" if failed else "paid",
                "tax_amount": None,
                "metadata": json.loads(intent["metadata"])
                if intent and intent.get("metadata")
                else None,
                "refunds": [self.refund(r) for r in refunds],
                "taxes": [],
                "failed_code": row["failure_code"] if failed else None,
                "failed_message": "The card was declined." if failed else None,
                "sub_code": row["failure_code"] if failed else None,
                "available_at": None,
                "created_at": created,
                "credited_at": None,
                "paid_at": None if failed else created,
                "updated_at": created,
            },
        )

    def refund(self, row: Row) -> Row:
        """A Refund Resource (https://developers.paymongo.com/reference/refund-resource) with
        the members PayMongo's official clients read as well."""
        payment = self.books.one("SELECT currency FROM payments WHERE id = ?", row["payment_id"])
        extras = self.extras(row["id"])
        settled = self.books.one("SELECT settled_at FROM pm_refunds WHERE id = ?", row["id"])
        updated = (settled or {}).get("settled_at") or row["created_at"]
        done = row["status"] == "succeeded"
        return resource(
            "refund",
            row["id"],
            {
                "amount": row["amount"],
                "balance_transaction_id": f"bal_txn_{row['id'].split('_', 1)[-1]}"
                if done
                else None,
                "currency": payment["currency"] if payment else "PHP",
                "livemode": row["env"] == "live",
                "metadata": extras.get("metadata"),
                "notes": extras.get("notes"),
                "payment_id": row["payment_id"],
                "payout_id": None,
                "reason": row["reason"],
                "status": row["status"],
                "available_at": None,
                "created_at": secs(row["created_at"]),
                "refunded_at": secs(updated) if done else None,
                "updated_at": secs(updated),
            },
        )

    def intent(self, row: Row, base_url: str = "") -> Row:
        """A Payment Intent Resource
        (https://developers.paymongo.com/reference/the-payment-intent-object)."""
        payments = [self.books.object_row("payment", p) for p in payment_ids(row)]
        extras = self.extras(row["id"])
        next_action = None
        if row["status"] == THREE_DS_STATUS:
            next_action = {
                "type": "redirect",
                "redirect": {
                    "url": f"{base_url}/_sim/paymongo/3ds/{row['id']}/{row['three_ds_token']}",
                    "return_url": row["return_url"],
                },
            }
        options = extras.get("payment_method_options")
        if not isinstance(options, dict):
            options = {"card": {"request_three_d_secure": "any"}}
        return resource(
            "payment_intent",
            row["id"],
            {
                "amount": row["amount"],
                "capture_type": "automatic",
                "client_key": f"{row['id']}_client_{row['id'][-8:]}",
                "currency": row["currency"],
                "description": row["description"],
                "livemode": row["env"] == "live",
                "original_amount": row["amount"],
                "statement_descriptor": extras.get("statement_descriptor"),
                "status": row["status"],
                "last_payment_error": json.loads(row["last_error"]) if row["last_error"] else None,
                "payment_method_allowed": ["card"],
                "payments": [self.payment(p) for p in payments if p],
                "next_action": next_action,
                "payment_method_options": options,
                "metadata": json.loads(row["metadata"]) if row["metadata"] else None,
                "setup_future_usage": None,
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["updated_at"]),
            },
        )

    def derived_intent(self, env: str, intent_id: str) -> Row | None:
        """A renewal's intent: the books charged the subscription's card off-session."""
        payment = self.books.one(
            "SELECT * FROM payments WHERE id = ? AND env = ?",
            "pay_" + intent_id.removeprefix("pi_"),
            env,
        )
        if payment is None:
            return None
        status = "succeeded" if payment["status"] != "failed" else "awaiting_payment_method"
        return {
            "id": intent_id,
            "env": env,
            "amount": payment["amount"],
            "currency": payment["currency"],
            "status": status,
            "description": "subscription renewal",
            "metadata": None,
            "payment_ids": json.dumps([payment["id"]]),
            "last_error": None,
            "three_ds_token": None,
            "return_url": None,
            "created_at": payment["created_at"],
            "updated_at": payment["created_at"],
        }

    def method(self, row: Row) -> Row:
        return resource(
            "payment_method",
            row["id"],
            {
                "type": "card",
                "billing": billing(json.loads(row["billing"])) if row["billing"] else None,
                "details": {
                    "last4": row["last4"],
                    "exp_month": row["exp_month"],
                    "exp_year": row["exp_year"],
                },
                "livemode": row["env"] == "live",
                "metadata": self.extras(row["id"]).get("metadata"),
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["created_at"]),
            },
        )

    def plan(self, row: Row) -> Row:
        return resource(
            "plan",
            row["id"],
            {
                "amount": row["amount"],
                "currency": row["currency"],
                "cycle_count": row["cycle_count"],
                "description": row["description"],
                "interval": row["interval"],
                "interval_count": row["interval_count"],
                "livemode": row["env"] == "live",
                "name": row["name"],
                "metadata": None,
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["created_at"]),
            },
        )

    def customer(self, row: Row) -> Row:
        keys = ("first_name", "last_name", "email", "phone", "default_device")
        return resource(
            "customer",
            row["id"],
            {
                **{k: row[k] for k in keys},
                "livemode": row["env"] == "live",
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["created_at"]),
            },
        )

    def _plan_summary(self, plan_id: str) -> Row:
        plan = self.find("pm_plans", plan_id)
        if plan is None:
            return {}
        keys = ("amount", "currency", "cycle_count", "description", "interval", "name")
        return {
            "id": plan["id"],
            **{k: plan[k] for k in keys},
            "interval_count": 1,
            "created_at": secs(plan["created_at"]),
            "updated_at": secs(plan["created_at"]),
        }

    def invoices(self, sub: Row) -> list[Row]:
        """A subscription's invoices, oldest first: one per payment, or its open first one."""
        extra = self.subscription_extra(sub["id"]) or {}
        payments = self.books.all(
            "SELECT * FROM payments WHERE subscription_id = ? ORDER BY created_at, id", sub["id"]
        )
        rows = []
        first = extra.get("intent_id")
        for p in payments:
            intent_id = self.intent_for_payment(p)
            if intent_id == first:
                continue  # the first invoice is rendered from its intent below
            status = "paid" if p["status"] != "failed" else "open"
            rows.append((p["created_at"], intent_id, p["amount"], status))
        if first:
            intent = self.find("pm_intents", first)
            if intent is not None:
                status = "paid" if intent["status"] == "succeeded" else "open"
                paid_at = intent["updated_at"] if status == "paid" else sub["created_at"]
                rows.append((paid_at, first, intent["amount"], status))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [self.invoice(sub, *r) for r in rows]

    def invoice(self, sub: Row, due: float, intent_id: str, amount: int, status: str) -> Row:
        extra = self.subscription_extra(sub["id"]) or {}
        intent = self.books.one("SELECT status FROM pm_intents WHERE id = ?", intent_id)
        intent_status = intent["status"] if intent else "succeeded"
        return resource(
            "invoice",
            "inv_" + intent_id.removeprefix("pi_"),
            {
                "amount": amount,
                "currency": sub["currency"],
                "customer_id": extra.get("customer_id"),
                "description": "rehearsal plan",
                "due_date": day(due),
                "livemode": sub["env"] == "live",
                "line_items": [],
                "payment_intent": {"id": intent_id, "status": intent_status},
                "subscription": {
                    "id": sub["id"],
                    "status": sub["status"],
                    "plan": self._plan_summary(extra.get("plan_id", "")),
                },
                "status": status,
                "created_at": secs(due),
                "updated_at": secs(due),
            },
        )

    def subscription(self, sub: Row, base_url: str = "") -> Row:
        extra = self.subscription_extra(sub["id"]) or {}
        invoices = self.invoices(sub)
        latest = invoices[-1] if invoices else None
        latest_attrs = latest["attributes"] if latest else {}
        active = sub["status"] in ("active", "past_due", "unpaid")
        return resource(
            "subscription",
            sub["id"],
            {
                "anchor_date": day(sub["created_at"]),
                "cancellation_reason": sub["cancel_reason"],
                "customer_id": extra.get("customer_id"),
                "default_customer_payment_method_id": None,
                "latest_invoice": {
                    "id": latest["id"],
                    "amount": latest_attrs["amount"],
                    "currency": latest_attrs["currency"],
                    "due_date": latest_attrs["due_date"],
                    "payment_intent": latest_attrs["payment_intent"],
                    "status": latest_attrs["status"],
                }
                if latest
                else None,
                "livemode": sub["env"] == "live",
                "next_billing_schedule": day(sub["period_end"]) if active else None,
                "plan": self._plan_summary(extra.get("plan_id", "")),
                "setup_intent": self._setup_intent(extra.get("intent_id"), base_url),
                "status": sub["status"],
                "cancelled_at": secs(sub["cancelled_at"]),
                "created_at": secs(sub["created_at"]),
                "updated_at": secs(sub["created_at"]),
            },
        )

    def _setup_intent(self, intent_id: str | None, base_url: str) -> Row | None:
        """The first invoice's intent as the Subscription Resource example shows it
        (https://developers.paymongo.com/reference/subscription-resource): `id`,
        `last_setup_error`, `next_action_url` (the 3-D Secure page while it awaits), `status`."""
        intent = self.find("pm_intents", intent_id)
        if intent is None:
            return None
        rendered = self.intent(intent, base_url)["attributes"]
        error = rendered["last_payment_error"] or {}
        return {
            "id": intent["id"],
            "last_setup_error": error.get("failed_message") or error.get("sub_code"),
            "next_action_url": (rendered["next_action"] or {}).get("redirect", {}).get("url"),
            "status": intent["status"],
        }

    def webhook(self, row: Row, secret: str) -> Row:
        return resource(
            "webhook",
            row["id"],
            {
                "events": json.loads(row["events"]),
                "livemode": row["env"] == "live",
                "secret_key": secret,
                "status": row["status"],
                "disabled_reason": "disabled_by_merchant" if row["status"] == "disabled" else None,
                "url": row["url"],
                "created_at": secs(row["created_at"]),
                "updated_at": secs(row["updated_at"]),
            },
        )

    def event_data(self, kind: str, obj: Row) -> Row:
        """What an event of the books' `kind` carries: a payment, a subscription or, for a
        paid subscription payment, its invoice."""
        if obj["object_kind"] == "payment":
            return self.payment(obj)
        if kind in ("subscription.renewed", "subscription.invoice.payment_failed"):
            payment = self.books.object_row("payment", obj["latest_payment_id"])
            if payment is not None:
                intent_id = self.intent_for_payment(payment)
                status = "paid" if kind == "subscription.renewed" else "open"
                return self.invoice(obj, payment["created_at"], intent_id, obj["amount"], status)
        return self.subscription(obj)
