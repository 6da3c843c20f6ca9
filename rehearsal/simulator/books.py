"""The simulator's books: payments, refunds, subscriptions, idempotency, events, outbox.

Everything lives in one SQLite file so the books outlive any client (and, for crash tests,
the simulator process itself). Rows are dialect-neutral; a dialect renders them for the
wire. The engine applies the rules a real provider enforces: refunds up to the original
amount, idempotent replays per externalId, renewals when the (test) clock passes a period
end, and an event for every state change, queued for delivery in the same transaction.
`Books` is built in three floors: records.py (the file, the public reads, the clock, the
event log and outbox), charges.py (payments, refunds, idempotent replays) and, here, the
subscriptions with their own clocks and renewals. Dialects import from this module only.
"""

from __future__ import annotations

import calendar
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rehearsal.simulator.charges import Charges
from rehearsal.simulator.records import BooksError, Keys, Row, insert, new_id

__all__ = ["Books", "BooksError", "Keys", "Row", "add_interval", "new_id"]


def add_interval(ts: float, interval: str) -> float:
    start = datetime.fromtimestamp(ts, UTC)
    if interval == "day":
        return (start + timedelta(days=1)).timestamp()
    if interval == "week":
        return (start + timedelta(weeks=1)).timestamp()
    months = 1 if interval == "month" else 12
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day).timestamp()


class Books(Charges):
    """The simulator's state: records.py's file, clock and outbox, charges.py's payments and
    refunds, and here the subscriptions, their own clocks and renewals."""

    def __init__(
        self, path: Path | str, render_event: Callable[[str, str, Row, str, float], bytes]
    ):
        """`render_event(event_id, type, object_row, env, created_at)` gives the wire body."""
        super().__init__(path, render_event)
        # Why a subscription's renewal charge fails whatever its card (a failure code), or
        # None: the card decides. A dialect sets it (a fault switch, a card documented to
        # fail recurring payments).
        self.renewal_failure: Callable[[Row], str | None] = lambda sub: None
        # An event a dialect's provider sends for a failed renewal before the subscription's
        # `subscription.past_due` (PayMongo: subscription.invoice.payment_failed), or None.
        self.renewal_failed_event: str | None = None
        # A dialect's own work that falls due with time (PayMongo: pending refunds settle),
        # run by the deliverer's loop: `timed_work(now, time_scale)` does what is due by
        # `now` (wall clock) and returns when more falls due (None: nothing pending).
        self.timed_work: Callable[[float, float], float | None] = lambda now, scale: None

    # --- the clock --------------------------------------------------------------------------
    #
    # One clock for the simulator (`now`, moved by the control route `/_sim/clock/advance`:
    # time passes for everyone) and, on top of it, one for each subscription: a test clock
    # advance (MintCash's advance, PayMongo's test_cycle) concerns its own subscription only,
    # so two runs sharing a simulator never get each other's renewals. A subscription's
    # period_start and period_end are on its own clock: `now` plus its `clock_offset`.

    def advance_clock(self, seconds: float) -> None:
        with self.tx() as db:
            self._shift_clock(db, seconds)
            self._renew_due(db)

    def advance_to_renewal(
        self, env: str, subscription_id: str, db: sqlite3.Connection | None = None
    ) -> Row:
        """Move the subscription's own clock past its period end and renew it (no other
        subscription). In `db`'s transaction when given (an idempotent advance records its
        answer in the same one, so a retry can never renew twice), else in one of its own."""
        if db is None:
            with self.tx() as own:
                return self.advance_to_renewal(env, subscription_id, own)
        sub = self.subscription(env, subscription_id)
        if sub["status"] != "active":
            raise BooksError(
                400,
                "invalid_request",
                "subscription_not_active",
                f"subscription {subscription_id} is {sub['status']}",
            )
        own_now = self.now() + float(sub["clock_offset"])
        offset = float(sub["clock_offset"]) + max(0.0, sub["period_end"] - own_now) + 1
        db.execute("UPDATE subscriptions SET clock_offset = ? WHERE id = ?", (offset, sub["id"]))
        self._renew_due(db, only=sub["id"])
        return self.subscription(env, subscription_id)

    def create_subscription(
        self,
        db: sqlite3.Connection,
        env: str,
        *,
        external_id: str,
        amount: int,
        currency: str,
        interval: str,
        card_token: str,
    ) -> Row:
        card = self.resolve_card(card_token)
        if card["failure_code"]:
            raise BooksError(
                402,
                "card_error",
                card["failure_code"],
                "the card was declined; no subscription was created",
            )
        now = self.now()
        sub: Row = {
            "id": new_id("sub"),
            "env": env,
            "external_id": external_id,
            "amount": amount,
            "currency": currency,
            "interval": interval,
            "status": "active",
            "card_token": card_token,
            "card_brand": card["brand"],
            "card_last4": card["last4"],
            "period_start": now,
            "period_end": add_interval(now, interval),
            "renewals": 0,
            "latest_payment_id": None,
            "cancel_reason": None,
            "created_at": now,
            "cancelled_at": None,
        }
        first = self.create_payment(
            db,
            env,
            external_id=None,
            amount=amount,
            currency=currency,
            card_token=card_token,
            subscription_id=sub["id"],
        )
        sub["latest_payment_id"] = first["id"]
        insert(db, "subscriptions", sub)
        self.record_event(db, env, "subscription.created", "subscription", sub)
        return sub

    def cancel_subscription(self, env: str, subscription_id: str, reason: str | None) -> Row:
        with self.tx() as db:
            sub = self.subscription(env, subscription_id)
            if sub["status"] == "cancelled":
                return sub  # cancelling twice is harmless and sends no second event
            sub.update(status="cancelled", cancelled_at=self.now(), cancel_reason=reason)
            db.execute(
                "UPDATE subscriptions SET status = ?, cancelled_at = ?, cancel_reason = ? "
                "WHERE id = ?",
                (sub["status"], sub["cancelled_at"], reason, sub["id"]),
            )
            self.record_event(db, env, "subscription.cancelled", "subscription", sub)
            return sub

    def next_renewal_at(self) -> float | None:
        """Wall-clock time of the next renewal due, for the scheduler."""
        row = self.one(
            "SELECT MIN(period_end - clock_offset) AS t FROM subscriptions WHERE status = 'active'"
        )
        if row is None or row["t"] is None:
            return None
        return float(row["t"]) - float(self._meta("clock_offset") or 0)

    def run_due_renewals(self) -> int:
        """Charge every active subscription whose period has ended; return renewals made."""
        with self.tx() as db:
            return self._renew_due(db)

    def _renew_due(self, db: sqlite3.Connection, only: str | None = None) -> int:
        """Renew each active subscription (or only the one given) whose period has ended on
        its own clock; a renewal whose charge fails leaves it past_due."""
        done = 0
        while True:
            row = db.execute(
                "SELECT * FROM subscriptions WHERE status = 'active' AND "
                "period_end - clock_offset <= ? AND (? IS NULL OR id = ?) "
                "ORDER BY period_end - clock_offset LIMIT 1",
                (self.now(), only, only),
            ).fetchone()
            if row is None:
                return done
            sub = dict(row)
            payment = self.create_payment(
                db,
                sub["env"],
                external_id=None,
                amount=sub["amount"],
                currency=sub["currency"],
                card_token=sub["card_token"],
                subscription_id=sub["id"],
                fail_with=self.renewal_failure(sub),
                at=self.now() + float(sub["clock_offset"]),
            )
            sub["latest_payment_id"] = payment["id"]
            if payment["status"] == "succeeded":
                sub["renewals"] += 1
                sub["period_start"] = sub["period_end"]
                sub["period_end"] = add_interval(sub["period_end"], sub["interval"])
                kind = "subscription.renewed"
            else:
                sub["status"] = "past_due"
                kind = "subscription.past_due"
                if self.renewal_failed_event:
                    self.record_event(
                        db, sub["env"], self.renewal_failed_event, "subscription", sub
                    )
            db.execute(
                "UPDATE subscriptions SET renewals = ?, period_start = ?, "
                "period_end = ?, status = ?, latest_payment_id = ? WHERE id = ?",
                (
                    sub["renewals"],
                    sub["period_start"],
                    sub["period_end"],
                    sub["status"],
                    sub["latest_payment_id"],
                    sub["id"],
                ),
            )
            self.record_event(db, sub["env"], kind, "subscription", sub)
            done += 1
