"""The baseline for bench/bench_run.py: the default plan's loop as a minimal script would do it.

Against a standalone simulator (MINTCASH_API_BASE, MINTCASH_SECRET_KEY, MINTCASH_WEBHOOK_SECRET):
a webhook receiver from the standard library (HMAC checked, nothing stored), then the same
API calls `rehearsal run` makes (charge, refund, subscribe, advance the clock, cancel, then
refund the subscription's payments) and a wait on each step's webhook. No ledger, no
reports, no checks beyond the events arriving: what the rehearsal's extra work is measured
against. Exits non-zero if an event does not arrive within 10 s.

    python bench/minimal_loop.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

API = os.environ["MINTCASH_API_BASE"].rstrip("/")
KEY = os.environ["MINTCASH_SECRET_KEY"]
SECRET = os.environ["MINTCASH_WEBHOOK_SECRET"].encode()
EVENTS = ["payment.succeeded", "payment.refunded", "subscription.created"]
EVENTS += ["subscription.renewed", "subscription.cancelled"]
seen: list[tuple[str, str]] = []  # (type, object id)
arrived = threading.Condition()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        parts = dict(p.split("=", 1) for p in self.headers["MintCash-Signature"].split(","))
        mac = hmac.new(SECRET, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(mac, parts["v1"])
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if ok:
            event = json.loads(body)
            with arrived:
                seen.append((event["type"], event["data"]["object"]["id"]))
                arrived.notify_all()

    def log_message(self, *args: object) -> None:
        pass


def wait(kind: str, object_id: str) -> None:
    deadline = time.monotonic() + 10
    with arrived:
        while (kind, object_id) not in seen:
            if not arrived.wait(deadline - time.monotonic()):
                sys.exit(f"no {kind} for {object_id}")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    api = httpx.Client(base_url=API, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)

    def call(method: str, path: str, body: dict[str, object] | None = None) -> dict:  # type: ignore[type-arg]
        r = api.request(method, path, json=body)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def key() -> str:
        return uuid.uuid4().hex

    endpoint = call("POST", "/_sim/webhook_endpoints", {"url": hook, "events": EVENTS})
    card = {"currency": "USD", "paymentMethod": "pm_card_visa"}
    pay = call("POST", "/payments", {"externalId": key(), "amount": 500, **card})
    wait("payment.succeeded", pay["id"])
    call("GET", f"/payments/{pay['id']}")
    call("POST", "/refund", {"externalId": key(), "paymentId": pay["id"]})
    wait("payment.refunded", pay["id"])
    call("GET", f"/payments/{pay['id']}")
    sub = call(
        "POST", "/subscriptions", {"externalId": key(), "amount": 300, "interval": "month", **card}
    )
    wait("subscription.created", sub["id"])
    call("GET", f"/subscriptions/{sub['id']}")
    call("GET", f"/payments?subscriptionId={sub['id']}")
    call("POST", f"/test_helpers/subscriptions/{sub['id']}/advance", {"externalId": key()})
    wait("subscription.renewed", sub["id"])
    call("GET", f"/subscriptions/{sub['id']}")
    payments = call("GET", f"/payments?subscriptionId={sub['id']}")["data"]
    call("POST", f"/subscriptions/{sub['id']}/cancel", {})
    wait("subscription.cancelled", sub["id"])
    call("GET", f"/subscriptions/{sub['id']}")
    for p in payments:  # settle: refund the subscription's own payments
        if p.get("amountRefunded", 0) == 0:
            call("POST", "/refund", {"externalId": key(), "paymentId": p["id"]})
            wait("payment.refunded", p["id"])
            call("GET", f"/payments/{p['id']}")
    call("DELETE", f"/_sim/webhook_endpoints/{endpoint['id']}")


if __name__ == "__main__":
    main()
