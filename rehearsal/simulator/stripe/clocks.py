"""The Stripe dialect's test clocks (`/v1/test_helpers/test_clocks`).

As https://docs.stripe.com/api/test_clocks documents them: created `ready` at a
`frozen_time`; `advance` to a later time answers at once with status `advancing` (and
`status_details.advancing.target_frozen_time`), and the clock turns `ready` asynchronously
(`test_helpers.test_clock.ready`) once the renewals on its customers' subscriptions are
done; one advance may go at most two intervals of the shortest subscription on the clock
ahead (two years with none). Only that clock's subscriptions renew: other runs' clocks do
not move. Deleting a clock deletes its customers and their subscriptions and invoices
(https://docs.stripe.com/billing/testing/test-clocks); the charges and refunds that moved
money stay in the books. Clocks are a test-mode feature: a live key is refused.
"""

from __future__ import annotations

import sqlite3
import time

from starlette.requests import Request

from rehearsal.simulator.books import Row, add_interval
from rehearsal.simulator.stripe.invoices import finalize_and_pay, renew
from rehearsal.simulator.stripe.store import Routes, stripe_id
from rehearsal.simulator.stripe.wire import StripeError, as_int, as_str, page

KIND = "test_helpers.test_clock"
ADVANCE_SECONDS = 1.0  # before the time scale: how long an advance stays `advancing`
LIFETIME = 7 * 24 * 3600  # deletes_after - created in Stripe's API example
BILLED = ("active", "past_due")


class ClockRoutes(Routes):
    def _test_mode(self, env: str) -> None:
        if env != "test":
            raise StripeError(
                400, "Test clocks are only available in test mode; use a sk_test_ key."
            )  # wording ASSUMED

    def _create_clock(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        self._test_mode(env)
        frozen = as_int(params, "frozen_time", required=True)
        now = int(time.time())
        clock: Row = {
            "id": stripe_id("clock"),
            "object": KIND,
            "created": now,
            "deletes_after": now + LIFETIME,
            "frozen_time": frozen,
            "livemode": False,
            "name": as_str(params, "name"),
            "status": "ready",
            "status_details": {},
        }
        with self.store.books.tx() as db:
            self.store.put(db, env, clock)
            self.store.emit(db, env, f"{KIND}.created", clock)
        return 200, clock

    def _get_clock(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, self.store.get(env, KIND, request.path_params["id"])

    def _list_clocks(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        return 200, page(self.store.objects(env, KIND), params, "/v1/test_helpers/test_clocks")

    def _advance_clock(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        self._test_mode(env)
        clock = self.store.get(env, KIND, request.path_params["id"])
        target = as_int(params, "frozen_time", required=True) or 0
        if clock["status"] != "ready":
            raise StripeError(
                400,
                f"The test clock {clock['id']} is {clock['status']}; wait "
                "for it to be ready before advancing it again.",
            )  # ASSUMED
        if target <= clock["frozen_time"]:
            raise StripeError(
                400,
                "The frozen_time must be after the test clock's current frozen_time.",
                param="frozen_time",
            )  # wording ASSUMED
        limit = self._limit(env, clock)
        if target > limit:
            raise StripeError(
                400,
                f"Cannot advance the test clock more than two intervals of its shortest "
                f"subscription (or two years without one): frozen_time must be at most {limit}.",
                param="frozen_time",  # the rule is Stripe's; the wording ASSUMED
            )
        delay = ADVANCE_SECONDS * self.time_scale
        clock.update(
            status="advancing",
            status_details={"advancing": {"target_frozen_time": target}},
            _ready_at=time.time() + delay,
        )
        with self.store.books.tx() as db:
            self.store.put(db, env, clock)
            self.store.emit(db, env, f"{KIND}.advancing", clock)
        self.later(delay)
        return 200, clock

    def _limit(self, env: str, clock: Row) -> int:
        frozen = float(clock["frozen_time"])
        limits = []
        for sub in self.store.objects(env, "subscription", test_clock=clock["id"]):
            if sub["status"] == "canceled":
                continue
            recurring = sub["items"]["data"][0]["price"]["recurring"]
            end = frozen
            for _ in range(2 * int(recurring["interval_count"])):
                end = add_interval(end, recurring["interval"])
            limits.append(end)
        if not limits:
            limits.append(add_interval(add_interval(frozen, "year"), "year"))
        return int(min(limits))

    def finish_clocks(self, now: float) -> None:
        """Every clock whose advance is due: renew, invoice and charge up to its target, in
        the order the clock's time meets them, then `ready`."""
        for env in ("test",):
            for clock in self.store.objects(env, KIND, status="advancing"):
                if clock.get("_ready_at", 0) <= now:
                    with self.store.books.tx() as db:
                        self._run_to(db, env, clock)

    def _run_to(self, db: sqlite3.Connection, env: str, clock: Row) -> None:
        target = int(clock["status_details"]["advancing"]["target_frozen_time"])
        while True:
            subs = [
                s
                for s in self.store.objects(env, "subscription", test_clock=clock["id"])
                if s["status"] in BILLED
            ]
            drafts = self.store.objects(env, "invoice", test_clock=clock["id"], status="draft")
            steps: list[tuple[int, int, Row]] = [
                (int(s["items"]["data"][0]["current_period_end"]), 0, s) for s in subs
            ]
            steps += [(int(i["_finalizes_at"]), 1, i) for i in drafts]
            due = sorted((s for s in steps if s[0] <= target), key=lambda s: (s[0], s[1]))
            if not due:
                break
            at, what, obj = due[0]
            clock["frozen_time"] = at  # the charges and invoices happen at the clock's time
            self.store.put(db, env, clock)
            if what == 0:
                renew(self.store, db, env, obj)
            else:
                sub = self.store.get(
                    env, "subscription", obj["parent"]["subscription_details"]["subscription"]
                )
                finalize_and_pay(
                    self.store, db, env, obj, sub, off_session=True, faults=self.faults
                )
        clock.update(frozen_time=target, status="ready", status_details={})
        clock.pop("_ready_at", None)
        self.store.put(db, env, clock)
        self.store.emit(db, env, f"{KIND}.ready", clock)

    def _delete_clock(self, request: Request, env: str, params: Row) -> tuple[int, Row]:
        self._test_mode(env)
        clock = self.store.get(env, KIND, request.path_params["id"])
        with self.store.books.tx() as db:
            for customer in self.store.objects(env, "customer", test_clock=clock["id"]):
                for kind in ("subscription", "invoice", "payment_method"):
                    for obj in self.store.objects(env, kind, customer=customer["id"]):
                        self.store.delete(db, obj["id"])
                self.store.delete(db, customer["id"])
            self.store.delete(db, clock["id"])
            self.store.emit(db, env, f"{KIND}.deleted", clock)
        return 200, {"id": clock["id"], "object": KIND, "deleted": True}
