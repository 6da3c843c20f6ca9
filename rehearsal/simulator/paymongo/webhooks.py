"""The PayMongo dialect's webhook routes: create, list, retrieve, update, enable, disable.

As PayMongo documents them (https://developers.paymongo.com/reference/webhook-resource and
the SDKs' WebhookService): one webhook per URL (a second create for a URL already
registered is refused; PayMongo's error for it is not documented, see
docs/providers/paymongo.md), `PUT /v1/webhooks/{id}` changes its url or events,
`POST .../enable` and `.../disable` take no body, the list comes in pages
(rehearsal/simulator/paymongo/lists.py), and every answer is the webhook resource
with its `secret_key`. No delete: PayMongo's API documents none. Each enabled webhook is one
of the books' endpoints (which events reach which URL); disabling one ends its endpoint and
drops what it had pending, as PayMongo does not queue events for a disabled webhook.
"""

from __future__ import annotations

import json
import time

from starlette.requests import Request

from rehearsal.simulator.books import Row, new_id
from rehearsal.simulator.paymongo.lists import page
from rehearsal.simulator.paymongo.tables import BOOKS_KIND, KNOWN_EVENTS, insert
from rehearsal.simulator.paymongo.wire import PMError, Routes, require_attributes


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise PMError(400, "parameter_invalid", "url must be a valid URL.", "attributes.url")
    return value


def _events(value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(e, str) and e in KNOWN_EVENTS for e in value)
    ):
        raise PMError(
            400,
            "parameter_invalid",
            f"events must be a list of: {', '.join(sorted(KNOWN_EVENTS))}.",
            "attributes.events",
        )
    return list(dict.fromkeys(value))


def _kinds(events: list[str]) -> list[str]:
    return sorted({BOOKS_KIND[e] for e in events if e in BOOKS_KIND})


class WebhookRoutes(Routes):
    def _answer(self, row: Row) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        return 200, {"data": self.store.webhook(row, self.books.keys.webhook_secret)}

    def _webhook_row(self, env: str, webhook_id: str) -> Row:
        assert self.store is not None
        row = self.store.one("pm_webhooks", env, webhook_id)
        if row is None:
            raise PMError(404, "resource_not_found", f"Webhook {webhook_id} does not exist.")
        return row

    def _url_free(self, env: str, url: str, webhook_id: str | None = None) -> None:
        """One webhook per URL (per mode), as PayMongo keeps them."""
        assert self.books is not None
        taken = self.books.one(
            "SELECT id FROM pm_webhooks WHERE env = ? AND url = ? AND id != ?",
            env,
            url,
            webhook_id or "",
        )
        if taken is not None:
            raise PMError(
                400,
                "parameter_invalid",
                "A webhook with this url already exists. Update or enable it instead.",
                "attributes.url",
            )

    def _create_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        a = require_attributes(body)
        url, events = _url(a.get("url")), _events(a.get("events"))
        self._url_free(env, url)
        endpoint = self.books.add_endpoint(url, _kinds(events), env)
        now = time.time()
        row: Row = {
            "id": new_id("hook"),
            "env": env,
            "endpoint_id": endpoint["id"],
            "url": url,
            "events": json.dumps(events),
            "status": "enabled",
            "created_at": now,
            "updated_at": now,
        }
        with self.books.tx() as db:
            insert(db, "pm_webhooks", row)
        return self._answer(row)

    def _get_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        return self._answer(self._webhook_row(env, request.path_params["id"]))

    def _list_webhooks(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None and self.store is not None
        rows = self.books.all(
            "SELECT * FROM pm_webhooks WHERE env = ? ORDER BY created_at DESC, id DESC", env
        )
        shown, more = page(request, rows)
        secret = self.books.keys.webhook_secret
        return 200, {"data": [self.store.webhook(r, secret) for r in shown], "has_more": more}

    def _update_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        """PUT: a new url and/or events; an enabled webhook's deliveries follow at once."""
        assert self.books is not None
        row = self._webhook_row(env, request.path_params["id"])
        a = require_attributes(body)
        if "url" not in a and "events" not in a:
            raise PMError(400, "parameter_required", "url or events is required.", "attributes")
        if "url" in a:
            row["url"] = _url(a["url"])
            self._url_free(env, row["url"], row["id"])
        if "events" in a:
            row["events"] = json.dumps(_events(a["events"]))
        row["updated_at"] = time.time()
        with self.books.tx() as db:
            db.execute(
                "UPDATE pm_webhooks SET url = ?, events = ?, updated_at = ? WHERE id = ?",
                (row["url"], row["events"], row["updated_at"], row["id"]),
            )
            if row["status"] == "enabled":
                kinds = json.dumps(_kinds(json.loads(row["events"])))
                db.execute(
                    "UPDATE endpoints SET url = ?, events = ? WHERE id = ?",
                    (row["url"], kinds, row["endpoint_id"]),
                )
        return self._answer(row)

    def _enable_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        """Deliveries resume from now on: what happened while it was disabled is not sent."""
        assert self.books is not None
        row = self._webhook_row(env, request.path_params["id"])
        if row["status"] != "enabled":
            endpoint = self.books.add_endpoint(row["url"], _kinds(json.loads(row["events"])), env)
            row.update(status="enabled", endpoint_id=endpoint["id"], updated_at=time.time())
            with self.books.tx() as db:
                db.execute(
                    "UPDATE pm_webhooks SET status = ?, endpoint_id = ?, updated_at = ? "
                    "WHERE id = ?",
                    (row["status"], row["endpoint_id"], row["updated_at"], row["id"]),
                )
        return self._answer(row)

    def _disable_webhook(
        self, request: Request, env: str, body: Row, key: str | None
    ) -> tuple[int, Row]:
        assert self.books is not None
        row = self._webhook_row(env, request.path_params["id"])
        if row["status"] != "disabled":
            self.books.remove_endpoint(row["endpoint_id"])
            row.update(status="disabled", updated_at=time.time())
            with self.books.tx() as db:
                db.execute(
                    "UPDATE pm_webhooks SET status = ?, updated_at = ? WHERE id = ?",
                    (row["status"], row["updated_at"], row["id"]),
                )
        return self._answer(row)
