"""Stripe's idempotent requests in the simulator, as https://docs.stripe.com/api/idempotent_requests
describes them: the first answer to a key is saved once the endpoint begins its work and
replayed for the same key and parameters; the same key with other parameters is a 400
`idempotency_error`; a key whose first request is still running is a 409. Saved answers
live in the books' `st_idempotency` table (stripe/store.py creates it); this module never
decides which answers are saved (the dialect's wrapper does).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time

from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.stripe.wire import StripeError

MAX_KEY = 255
Claim = tuple[str, str]  # (environment, Idempotency-Key)


class Idempotency:
    def __init__(self, books: Books) -> None:
        self.books = books
        self._running: set[Claim] = set()  # keys whose first request is being worked on

    def check(self, key: str) -> None:
        if not key or len(key) > MAX_KEY:
            raise StripeError(400, f"Idempotency-Key must be 1 to {MAX_KEY} characters long.")

    def saved(self, env: str, key: str, fingerprint: str) -> tuple[int, Row, str] | None:
        """The saved (status, body, original request id) for this key, or None if new."""
        if (env, key) in self._running:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through): " + key + ". Please try again later.",
                kind="idempotency_error",
                code="idempotency_key_in_use",
            )
        row = self.books.one(
            "SELECT fingerprint, status, body FROM st_idempotency WHERE env = ? AND key = ?",
            env,
            key,
        )
        if row is None:
            return None
        if row["fingerprint"] != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                kind="idempotency_error",
            )
        saved = json.loads(row["body"])
        return int(row["status"]), saved["body"], saved["request_id"]

    def claim(self, claim: Claim) -> None:
        self._running.add(claim)

    def release(self, claim: Claim) -> None:
        self._running.discard(claim)

    def save(self, claim: Claim, fingerprint: str, status: int, body: Row, request_id: str) -> None:
        env, key = claim
        with contextlib.suppress(sqlite3.IntegrityError), self.books.tx() as db:
            db.execute(
                "INSERT INTO st_idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (
                    env,
                    key,
                    fingerprint,
                    status,
                    json.dumps({"body": body, "request_id": request_id}),
                    time.time(),
                ),
            )
