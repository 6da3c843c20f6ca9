"""The books' payments and refunds: charges of a card, refunds up to what is left, the
objects' reads and idempotent replays per externalId.

A charge records its event in the caller's transaction; `resolve_card` (a hook a dialect
with its own test cards replaces) says what a card token is and how it fails. Subscriptions
and renewals are books.py's; the file, the clock and the outbox are records.py's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from rehearsal.simulator.mintcash.wire import TEST_CARDS
from rehearsal.simulator.records import BooksError, Records, Row, insert, new_id

_BRANDS = {"4": "visa", "5": "mastercard"}


class Charges(Records):
    def __init__(
        self, path: Path | str, render_event: Callable[[str, str, Row, str, float], bytes]
    ):
        super().__init__(path, render_event)
        # A dialect whose provider has its own test cards replaces this (PayMongo's does).
        self.resolve_card: Callable[[str], Row] = _card

    # --- idempotency ------------------------------------------------------------------------

    def replay(self, env: str, scope: str, external_id: str, body: Row) -> tuple[int, Row] | None:
        """The stored response for a repeated externalId, or None for a new one."""
        row = self.one(
            "SELECT body_hash, status, response FROM idempotency "
            "WHERE env = ? AND scope = ? AND external_id = ?",
            env,
            scope,
            external_id,
        )
        if row is None:
            return None
        if row["body_hash"] != _hash(body):
            raise BooksError(
                409,
                "idempotency_error",
                "external_id_reused",
                f"externalId {external_id!r} was already used with a different "
                "request body; use a new externalId for a new intent",
            )
        return int(row["status"]), json.loads(row["response"])

    def remember(
        self,
        db: sqlite3.Connection,
        env: str,
        scope: str,
        external_id: str,
        body: Row,
        status: int,
        response: Row,
    ) -> None:
        db.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
            (env, scope, external_id, _hash(body), status, json.dumps(response)),
        )

    # --- objects ----------------------------------------------------------------------------

    def payment(self, env: str, payment_id: str) -> Row:
        return self._get("payments", env, payment_id, "payment")

    def refund(self, env: str, refund_id: str) -> Row:
        return self._get("refunds", env, refund_id, "refund")

    def subscription(self, env: str, subscription_id: str) -> Row:
        return self._get("subscriptions", env, subscription_id, "subscription")

    def subscription_payments(self, env: str, subscription_id: str) -> list[Row]:
        self.subscription(env, subscription_id)  # 404 for an unknown subscription
        return self.all(
            "SELECT * FROM payments WHERE env = ? AND subscription_id = ? ORDER BY created_at, id",
            env,
            subscription_id,
        )

    def by_external_id(self, env: str, kind: str, external_id: str) -> Row | None:
        """The object created under `external_id`, if any call with it landed."""
        table = {"payment": "payments", "refund": "refunds", "subscription": "subscriptions"}[kind]
        return self.one(
            f"SELECT * FROM {table} WHERE env = ? AND external_id = ?", env, external_id
        )

    def refund_ids(self, payment_id: str) -> list[str]:
        rows = self.all(
            "SELECT id FROM refunds WHERE payment_id = ? ORDER BY created_at, id", payment_id
        )
        return [r["id"] for r in rows]

    def _get(self, table: str, env: str, object_id: str, what: str) -> Row:
        row = self.one(f"SELECT * FROM {table} WHERE id = ? AND env = ?", object_id, env)
        if row is None:
            raise BooksError(404, "invalid_request", "resource_missing", f"no {what} {object_id}")
        return row

    def create_payment(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        external_id: str | None,
        amount: int,
        currency: str,
        card_token: str,
        description: str | None = None,
        subscription_id: str | None = None,
        fail_with: str | None = None,
        at: float | None = None,
    ) -> Row:
        """A charge of the card; `fail_with` (a failure code) declines it whatever the card;
        `at`: when it happened (a renewal's, on its subscription's clock), else now."""
        card = self.resolve_card(card_token)
        if fail_with:
            card = {**card, "failure_code": fail_with}
        now = self.now() if at is None else at
        row: Row = {
            "id": new_id("pay"),
            "env": env,
            "external_id": external_id,
            "amount": amount,
            "currency": currency,
            "status": "failed" if card["failure_code"] else "succeeded",
            "amount_refunded": 0,
            "failure_code": card["failure_code"],
            "card_brand": card["brand"],
            "card_last4": card["last4"],
            "subscription_id": subscription_id,
            "description": description,
            "created_at": now,
        }
        insert(db, "payments", row)
        kind = "payment.failed" if row["failure_code"] else "payment.succeeded"
        self.record_event(db, env, kind, "payment", row)
        return row

    def create_refund(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        external_id: str,
        payment_id: str,
        amount: int | None,
        reason: str | None,
    ) -> Row:
        payment = db.execute(
            "SELECT * FROM payments WHERE id = ? AND env = ?", (payment_id, env)
        ).fetchone()
        if payment is None:
            raise BooksError(404, "invalid_request", "resource_missing", f"no payment {payment_id}")
        payment = dict(payment)
        if payment["status"] == "failed":
            raise BooksError(
                400,
                "invalid_request",
                "payment_not_refundable",
                f"payment {payment_id} failed; there is nothing to refund",
            )
        left = payment["amount"] - payment["amount_refunded"]
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise BooksError(
                400,
                "invalid_request",
                "amount_exceeds_refundable",
                f"refund of {amount} exceeds the {left} left to refund on payment {payment_id}",
            )
        refund: Row = {
            "id": new_id("re"),
            "env": env,
            "external_id": external_id,
            "payment_id": payment_id,
            "amount": amount,
            "status": "succeeded",
            "reason": reason,
            "created_at": self.now(),
        }
        insert(db, "refunds", refund)
        payment["amount_refunded"] += amount
        payment["status"] = (
            "refunded" if payment["amount_refunded"] == payment["amount"] else "partially_refunded"
        )
        db.execute(
            "UPDATE payments SET amount_refunded = ?, status = ? WHERE id = ?",
            (payment["amount_refunded"], payment["status"], payment_id),
        )
        self.record_event(db, env, "payment.refunded", "payment", payment)
        return refund


def _hash(body: Row) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _card(token: str) -> Row:
    for card in TEST_CARDS:
        if token in (card.token, card.number):
            return {
                "brand": _BRANDS.get(card.number[0], "card"),
                "last4": card.number[-4:],
                "failure_code": card.failure_code,
            }
    raise BooksError(
        400,
        "invalid_request",
        "payment_method_invalid",
        "unknown payment method; the simulator knows the test cards in docs/providers/mintcash.md",
    )
