"""The PayMongo dialect's list endpoints and their pages: `GET /v1/payments`,
`GET /v1/refunds` (optionally `?payment_id=`), and the page rule `GET /v1/webhooks` shares.

PayMongo's official clients list payments (paymongo/paymongo-php
`src/Services/PaymentService.php`), refunds (paymongo/paymongo-node
`src/services/Refund.js`) and webhooks, and read `{"data": [...], "has_more"}`. The cursors
come from third-party descriptions (pub.dev paymongo_sdk `PaymentListQueryParams`: `after`
is the id that ended the last page and fetches the next one, `before` the previous one;
`limit` defaults to 10). ASSUMED, see docs/providers/paymongo.md: newest first, `limit`
from 1 to 100, an unknown cursor or a bad limit refused as `400 parameter_invalid`.
"""

from __future__ import annotations

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.paymongo import spec as c
from rehearsal.simulator.paymongo.wire import PMError, Routes


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return c.LIST_LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= c.LIST_LIMIT_MAX:
        raise PMError(
            400,
            "parameter_invalid",
            f"limit must be an integer from 1 to {c.LIST_LIMIT_MAX}.",
            "limit",
        )
    return int(raw)


def page(request: Request, rows: list[Row]) -> tuple[list[Row], bool]:
    """One page of `rows` (newest first) for the request's `limit`, `after` and `before`,
    and whether more lie beyond it in that direction."""
    limit = _limit(request)
    after, before = request.query_params.get("after"), request.query_params.get("before")
    if after and before:
        raise PMError(400, "parameter_invalid", "Use either before or after, not both.")
    cursor = after or before
    if not cursor:
        return rows[:limit], len(rows) > limit
    ids = [row["id"] for row in rows]
    if cursor not in ids:
        name = "after" if after else "before"
        raise PMError(400, "parameter_invalid", f"{name} is not a valid id.", name)
    at = ids.index(cursor)
    if after:
        return rows[at + 1 : at + 1 + limit], len(rows) > at + 1 + limit
    start = max(0, at - limit)
    return rows[start:at], start > 0


class ListRoutes(Routes):
    def _list_payments(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        rows = self.books.all(
            "SELECT * FROM payments WHERE env = ? ORDER BY created_at DESC, id DESC", env
        )
        shown, more = page(request, rows)
        return 200, {"data": [self.store.payment(r) for r in shown], "has_more": more}

    def _list_refunds(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        payment_id = request.query_params.get("payment_id")
        if payment_id:
            rows = self.books.all(
                "SELECT * FROM refunds WHERE env = ? AND payment_id = ? "
                "ORDER BY created_at DESC, id DESC",
                env,
                payment_id,
            )
        else:
            rows = self.books.all(
                "SELECT * FROM refunds WHERE env = ? ORDER BY created_at DESC, id DESC", env
            )
        shown, more = page(request, rows)
        return 200, {"data": [self.store.refund(r) for r in shown], "has_more": more}
