"""MintCash's API routes in the simulator: payments, refunds, subscriptions, events.

Each handler takes (request, environment, JSON body) and answers (status, body) in
MintCash's shapes; refusals are BooksErrors, which the dialect's wrapper renders. POSTs
that move money require an `externalId`: the same id with the same body replays the
original answer, the same id with another body is a 409. Nothing here knows HTTP plumbing
(authentication, faults, request ids: rehearsal/simulator/http.py and dialect.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request

from rehearsal.simulator.books import Books, BooksError, Row
from rehearsal.simulator.mintcash import wire as c

Handler = Callable[[Request, str, Row], tuple[int, Row]]


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class MintCashRoutes:
    """The handlers, over the books the dialect's app was built with."""

    books: Books | None

    # --- rendering --------------------------------------------------------------------------

    def render(self, kind: str, row: Row) -> Row:
        card = {"brand": row.get("card_brand"), "last4": row.get("card_last4")}
        common = {
            "id": row["id"],
            "object": kind,
            "externalId": row.get("external_id"),
            "environment": row["env"],
            "createdAt": iso(row["created_at"]),
        }
        if kind == "payment":
            refunds = self.books.refund_ids(row["id"]) if self.books else []
            return {
                **common,
                "amount": row["amount"],
                "currency": row["currency"],
                "status": row["status"],
                "amountRefunded": row["amount_refunded"],
                "refunds": refunds,
                "failureCode": row["failure_code"],
                "card": card,
                "subscriptionId": row["subscription_id"],
                "description": row["description"],
            }
        if kind == "refund":
            return {
                **common,
                "paymentId": row["payment_id"],
                "amount": row["amount"],
                "status": row["status"],
                "reason": row["reason"],
            }
        return {
            **common,
            "amount": row["amount"],
            "currency": row["currency"],
            "interval": row["interval"],
            "status": row["status"],
            "card": card,
            "currentPeriodStart": iso(row["period_start"]),
            "currentPeriodEnd": iso(row["period_end"]),
            "renewals": row["renewals"],
            "latestPaymentId": row["latest_payment_id"],
            "cancellationReason": row["cancel_reason"],
            "cancelledAt": iso(row["cancelled_at"]),
        }

    # --- handlers ---------------------------------------------------------------------------

    def _idempotent(
        self,
        env: str,
        scope: str,
        body: Row,
        create: Callable[[sqlite3.Connection], tuple[str, Row]],
        *,
        status: int = 201,
        fingerprint: Row | None = None,
    ) -> tuple[int, Row]:
        """`create` once per externalId: the same id with the same request (`fingerprint`,
        the body by default) replays the first answer, another request is a 409."""
        assert self.books is not None
        external_id = body.get("externalId")
        if not isinstance(external_id, str) or not external_id:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_missing",
                "externalId is required on every POST that moves money",
            )
        request = body if fingerprint is None else fingerprint
        with self.books.tx() as db:  # the replay check and the write are one transaction
            replay = self.books.replay(env, scope, external_id, request)
            if replay is not None:
                return replay[0], {**replay[1], "_replayed": True}
            kind, row = create(db)
            response = self.render(kind, row)
            self.books.remember(db, env, scope, external_id, request, status, response)
        return status, response

    def _create_payment(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        amount, currency = _amount(body), _currency(body)
        card = required_str(body, "paymentMethod")
        assert self.books is not None
        books = self.books
        return self._idempotent(
            env,
            "payments",
            body,
            lambda db: (
                "payment",
                books.create_payment(
                    db,
                    env,
                    external_id=body["externalId"],
                    amount=amount,
                    currency=currency,
                    card_token=card,
                    description=body.get("description"),
                ),
            ),
        )

    def _create_refund(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        payment_id = required_str(body, "paymentId")
        amount = _amount(body) if "amount" in body else None
        assert self.books is not None
        books = self.books
        return self._idempotent(
            env,
            "refund",
            body,
            lambda db: (
                "refund",
                books.create_refund(
                    db,
                    env,
                    external_id=body["externalId"],
                    payment_id=payment_id,
                    amount=amount,
                    reason=body.get("reason"),
                ),
            ),
        )

    def _create_subscription(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        amount, currency = _amount(body), _currency(body)
        interval = body.get("interval", "month")
        if interval not in c.INTERVALS:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_invalid",
                f"interval must be one of {', '.join(c.INTERVALS)}",
            )
        card = required_str(body, "paymentMethod")
        assert self.books is not None
        books = self.books
        return self._idempotent(
            env,
            "subscriptions",
            body,
            lambda db: (
                "subscription",
                books.create_subscription(
                    db,
                    env,
                    external_id=body["externalId"],
                    amount=amount,
                    currency=currency,
                    interval=interval,
                    card_token=card,
                ),
            ),
        )

    def _get(self, kind: str) -> Handler:
        def get(request: Request, env: str, body: Row) -> tuple[int, Row]:
            assert self.books is not None
            fetch = {
                "payment": self.books.payment,
                "refund": self.books.refund,
                "subscription": self.books.subscription,
            }[kind]
            return 200, self.render(kind, fetch(env, request.path_params["id"]))

        return get

    def _list_payments(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        if "externalId" in request.query_params:
            return self._by_external_id(request, env, "payment")
        sub_id = request.query_params.get("subscriptionId")
        if not sub_id:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_missing",
                "subscriptionId or externalId is required to list payments",
            )
        rows = self.books.subscription_payments(env, sub_id)
        return 200, {"object": "list", "data": [self.render("payment", r) for r in rows]}

    def _list_subscriptions(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        return self._by_external_id(request, env, "subscription")

    def _list_refunds(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        return self._by_external_id(request, env, "refund")

    def _by_external_id(self, request: Request, env: str, kind: str) -> tuple[int, Row]:
        """What a POST with this externalId created: a list of one, or empty if none landed."""
        assert self.books is not None
        if not request.query_params.get("externalId"):
            raise BooksError(
                400,
                "invalid_request",
                "parameter_missing",
                f"externalId is required to list {kind}s",
            )
        row = self.books.by_external_id(env, kind, request.query_params["externalId"])
        return 200, {"object": "list", "data": [self.render(kind, row)] if row else []}

    def _cancel(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        sub = self.books.cancel_subscription(env, request.path_params["id"], body.get("reason"))
        return 200, self.render("subscription", sub)

    def _advance(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        if env != "test":
            raise BooksError(
                404, "invalid_request", "not_found", "test helpers exist only in test mode"
            )
        books, sub_id = self.books, request.path_params["id"]
        # An advance renews (charges) once per externalId, like every POST that moves money;
        # the subscription is part of the request, so the same id on another one is a 409.
        return self._idempotent(
            env,
            "advance",
            body,
            lambda db: ("subscription", books.advance_to_renewal(env, sub_id, db)),
            status=200,
            fingerprint={**body, "subscriptionId": sub_id},
        )

    def _events(self, request: Request, env: str, body: Row) -> tuple[int, Row]:
        assert self.books is not None
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise BooksError(
                400,
                "invalid_request",
                "parameter_invalid",
                "limit must be an integer from 1 to 100",
            )
        rows = self.books.events_after(env, request.query_params.get("after"), int(raw))
        events = [json.loads(ev["payload"]) for ev in rows]
        return 200, {"object": "list", "data": events}


def _amount(body: Row) -> int:
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BooksError(
            400,
            "invalid_request",
            "parameter_invalid",
            "amount must be a positive integer in minor units",
        )
    return amount


def _currency(body: Row) -> str:
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise BooksError(
            400,
            "invalid_request",
            "parameter_invalid",
            "currency must be a three-letter ISO code such as USD",
        )
    return currency


def required_str(body: Row, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BooksError(400, "invalid_request", "parameter_missing", f"{key} is required")
    return value
