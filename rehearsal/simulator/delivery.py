"""Webhook delivery: the simulator's outbox, sent signed, retried with backoff.

One thread owns delivery. It sleeps on a condition until the next delivery, renewal or
dialect's timed work (a PayMongo refund settling) is due (or new work is queued), signs
each attempt afresh (the timestamp is the attempt's), and retries non-2xx answers on a
schedule shortened by the time scale. The fault switches
apply here: drop, delay, duplicate, reorder.

Deliveries about different objects are sent at once, as a provider's do (a few senders):
one at a time, each waiting for the receiver's durable store, made a matrix of rehearsals
wait in one queue (issue 15). Those about one object keep their order, in one sender; with
the reorder fault on, everything goes one at a time, so the fault alone decides the order.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rehearsal.simulator.books import Books, Row
from rehearsal.simulator.faults import Faults

if TYPE_CHECKING:  # imported when an https endpoint first needs it
    import httpx

# Seconds after each failed attempt, before the time scale: a real provider's hours-long
# schedule (Svix, Stripe) compressed to its shape.
SCHEDULE = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0)
REORDER_WINDOW = 0.5  # seconds an event waits for a newer one to overtake it
DELIVERY_TIMEOUT = 10.0  # MintCash's runbook: endpoints respond inside 10 seconds
SENDERS = 8  # deliveries in flight at once (about different objects)


class Deliverer:
    def __init__(
        self,
        books: Books,
        sign_headers: Callable[[bytes], dict[str, str]],
        faults: Faults,
        *,
        time_scale: float = 1.0,
    ) -> None:
        self.books = books
        self.faults = faults
        self.time_scale = time_scale
        self._sign_headers = sign_headers
        self._wake = threading.Condition()
        self._kick = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sim-delivery", daemon=True)
        # httpx, for https endpoints (a tunnel): made when first needed
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._plain = _PlainPosts()  # http endpoints: the standard library's client
        self._senders: ThreadPoolExecutor | None = None  # made when first needed
        books.on_enqueue = self.kick

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join(timeout=DELIVERY_TIMEOUT + 1)
        if self._senders is not None:
            self._senders.shutdown(wait=True)
        if self._client is not None:
            self._client.close()
        self._plain.close()

    def kick(self) -> None:
        with self._wake:
            self._kick = True
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                self._kick = False
            try:
                next_at = self._work_once()
            except Exception:  # the books closed under us, or a bug: never kill the thread
                if self._stopping:
                    return
                next_at = time.time() + 0.5
            with self._wake:
                if self._stopping:
                    return
                if not self._kick:
                    timeout = None if next_at is None else max(0.0, next_at - time.time())
                    self._wake.wait(timeout=timeout)

    def _work_once(self) -> float | None:
        """Do what is due now; return when something next falls due (None: nothing known)."""
        renew_at = self.books.next_renewal_at()
        if renew_at is not None and renew_at <= time.time():
            self.books.run_due_renewals()
            renew_at = self.books.next_renewal_at()
        work_at = self.books.timed_work(time.time(), self.time_scale)
        due, next_delivery = self.books.due_deliveries(time.time())
        lanes: dict[str, list[Row]] = {}
        for row in due:  # one lane an object: its deliveries in order
            lanes.setdefault(row["lane"], []).append(row)
        if len(lanes) <= 1 or self.faults.reorder:
            sent = self._send(due)
        else:
            if self._senders is None:
                self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="sim-send")
            sent = any(list(self._senders.map(self._send, lanes.values())))
        if self._stopping:
            return None
        if sent or due:
            return time.time()  # something changed: look again at once
        times = [t for t in (renew_at, work_at, next_delivery) if t is not None]
        return min(times) if times else None

    def _send(self, rows: list[Row]) -> bool:
        sent = False
        for row in rows:
            if self._stopping:
                break
            sent = self._handle(row) or sent
        return sent

    def _handle(self, stale: Row) -> bool:
        now = time.time()
        row = self.books.outbox_row(stale["seq"])  # a reordered send may have taken it
        if row is None or row["state"] != "pending" or row["next_at"] > now:
            return False
        kind = row["type"]
        first = row["attempts"] == 0 and not row["held"]
        if first and self.faults.drops(kind):
            self.books.mark_delivery(
                row["seq"], state="dropped", attempts=0, next_at=now, last_status=None
            )
            return True
        if first and (delay := self.faults.delay_for(kind)) > 0:
            self.books.mark_delivery(
                row["seq"],
                state="pending",
                attempts=0,
                next_at=now + delay,
                last_status=None,
                held=1,
            )
            return True
        if self.faults.reorder and row["attempts"] == 0:
            newer = self.books.newer_pending(row)
            if newer is not None:
                self._attempt(newer)  # the newer event overtakes this one
            elif not row["held"]:
                self.books.mark_delivery(
                    row["seq"],
                    state="pending",
                    attempts=0,
                    next_at=now + REORDER_WINDOW,
                    last_status=None,
                    held=1,
                )
                return True
        self._attempt(row)
        return True

    def _attempt(self, row: Row) -> None:
        url = self.books.endpoint_url(row["endpoint_id"])
        if url is None:
            self.books.mark_delivery(
                row["seq"],
                state="cancelled",
                attempts=row["attempts"],
                next_at=time.time(),
                last_status=None,
            )
            return
        status = self._post(url, row["payload"])
        attempts = row["attempts"] + 1
        if status is not None and 200 <= status < 300:
            if self.faults.duplicates(row["type"]):
                self._post(url, row["payload"])
            self.books.mark_delivery(
                row["seq"],
                state="delivered",
                attempts=attempts,
                next_at=time.time(),
                last_status=status,
                held=row["held"],
            )
            return
        if attempts > len(SCHEDULE):
            self.books.mark_delivery(
                row["seq"],
                state="failed",
                attempts=attempts,
                next_at=time.time(),
                last_status=status,
            )
            return
        backoff = SCHEDULE[attempts - 1] * self.time_scale
        self.books.mark_delivery(
            row["seq"],
            state="pending",
            attempts=attempts,
            next_at=time.time() + backoff,
            last_status=status,
            held=row["held"],
        )

    def _post(self, url: str, payload: bytes) -> int | None:
        headers = {"Content-Type": "application/json", "User-Agent": "rehearsal-simulator"}
        headers.update(self._sign_headers(payload))
        if url.startswith("http://"):
            return self._plain.post(url, payload, headers)
        import httpx

        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=DELIVERY_TIMEOUT)
        try:
            return int(self._client.post(url, content=payload, headers=headers).status_code)
        except httpx.HTTPError:
            return None


class _PlainPosts:
    """POSTs to http:// endpoints (the receiver on 127.0.0.1) with http.client, a kept-alive
    connection per sender thread and endpoint: httpx cost ~1 ms of the shared interpreter
    a delivery, the bulk of a matrix's delivery work (issue 15). https goes through httpx."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: dict[tuple[int, str], http.client.HTTPConnection] = {}  # to close
        self._lock = threading.Lock()

    def post(self, url: str, payload: bytes, headers: dict[str, str]) -> int | None:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conns: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("conns", {})
        for fresh in (False, True):  # a kept-alive connection the server closed: once more
            conn = conns.get(parts.netloc)
            reused = conn is not None and not fresh
            if conn is None or fresh:
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection(parts.netloc, timeout=DELIVERY_TIMEOUT)
                conns[parts.netloc] = conn
                with self._lock:
                    self._all[(threading.get_ident(), parts.netloc)] = conn
            try:
                conn.request("POST", target, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                return response.status
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if not reused:
                    return None
            except (OSError, http.client.HTTPException):
                conn.close()
                return None
        return None

    def close(self) -> None:
        with self._lock:
            for conn in self._all.values():
                conn.close()
            self._all.clear()
