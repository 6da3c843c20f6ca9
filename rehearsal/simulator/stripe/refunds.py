"""The Stripe dialect's refunds: created on a charge (or a PaymentIntent's latest charge),
listed and read back, as https://docs.stripe.com/api/refunds documents them.

Refunds succeed at once in test mode except on `pm_card_pendingRefund`
(https://docs.stripe.com/testing#refunds), whose refunds stay `pending` and settle a moment
later (`finish_pending_refunds`, from the deliverer's loop, sending `refund.updated`).
"""

from __future__ import annotations

import time

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.cards import TEST_CARDS
from rehearsal.simulator.stripe.store import Routes, stripe_id
from rehearsal.simulator.stripe.wire import StripeError, as_int, as_str, metadata, page

PENDING_REFUND_SECONDS = 2.0  # before the time scale: a pending refund settles after this


class RefundRoutes(Routes):
    def _create_refund(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        charge = self._refundable(env, params)
        left = charge["amount"] - charge["amount_refunded"]
        amount = as_int(params, "amount", minimum=1)
        amount = left if amount is None else amount
        if amount > left:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                param="amount",
            )
        reason = as_str(params, "reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise StripeError(400, f"Invalid reason: {reason}", param="reason")
        method = self.store.get(env, "payment_method", charge["payment_method"])
        pending = TEST_CARDS[method["_card"]].pending_refund
        now = int(self.store.books.now())
        refund: Row = {
            "id": stripe_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": stripe_id("txn"),
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": metadata(params),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "status": "pending" if pending else "succeeded",
        }
        delay = PENDING_REFUND_SECONDS * self.time_scale
        if pending:
            refund["_settles_at"] = time.time() + delay
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        with self.store.books.tx() as db:
            self.store.put(db, env, refund)
            self.store.put(db, env, charge)
            self.store.book_refund(db, env, refund, request.headers.get("Idempotency-Key"), charge)
            self.store.emit(db, env, "refund.created", refund)
            self.store.emit(db, env, "charge.refunded", charge)
        if pending:
            self.later(delay)
        return 200, refund

    def _refundable(self, env: str, params: Row) -> Row:
        pi_id, charge_id = as_str(params, "payment_intent"), as_str(params, "charge")
        if not pi_id and not charge_id:
            raise StripeError(
                400,
                "One of the following params should be provided for this "
                "request: payment_intent or charge.",
            )
        if pi_id:
            pi = self.store.get(env, "payment_intent", pi_id)
            if pi["status"] != "succeeded" or not pi["latest_charge"]:
                raise StripeError(
                    400,
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge_id = pi["latest_charge"]
        charge = self.store.get(env, "charge", str(charge_id))
        if charge["status"] != "succeeded":
            raise StripeError(400, f"Charge {charge['id']} has not succeeded.", param="charge")
        if charge["refunded"]:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        return charge

    def finish_pending_refunds(self, now: float) -> None:
        """Pending refunds whose time has come succeed (`refund.updated`)."""
        for env in ("test", "live"):
            for refund in self.store.objects(env, "refund", status="pending"):
                if refund.get("_settles_at", 0) > now:
                    continue
                refund["status"] = "succeeded"
                refund.pop("_settles_at", None)
                with self.store.books.tx() as db:
                    self.store.put(db, env, refund)
                    self.store.book_refund_status(db, refund)
                    self.store.emit(db, env, "refund.updated", refund, {"status": "pending"})

    def _get_refund(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, "refund", request.path_params["id"])

    def _list_refunds(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        rows = self.store.objects(
            env,
            "refund",
            payment_intent=as_str(params, "payment_intent"),
            charge=as_str(params, "charge"),
        )
        return 200, page(rows, params, "/v1/refunds")
