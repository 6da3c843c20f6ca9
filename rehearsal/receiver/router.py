"""Many runs behind one receiver: each verified event goes to the run that owns its object.

One public path, one tunnel, one webhook registration serve every rehearsal of a matrix.
The `Router` is that path's receiver; behind it each run has a `Receiver` of its own (never
served: only its `take` and its hub are used), so a delivery is stored under the run that
owns the object, de-duplicated and published to that run's waits alone. A run owns what its
own calls returned (`claim`). An event may beat the answer that made its object: it is
stored first under the matrix's own id (verdict ignored, reason "parked"), so it is on disk
before it is acknowledged like every other delivery, then waits in memory for the claim.
Claimed, it is stored under its run and the parked row says where it went; one that no run
claims by the end keeps its row, saying so. It is never accepted by the wrong run. The
router never parses before verifying: it is a Receiver, and routing starts in `take`,
after the signature.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from rehearsal.ledger.db import Delivery, StateDB
from rehearsal.providers.base import MalformedEvent, NormalizedEvent, ProviderObject
from rehearsal.receiver import classify
from rehearsal.receiver.classify import ACKNOWLEDGED, IGNORED, WEBHOOK, Answer, Verify
from rehearsal.receiver.endpoint import Receiver
from rehearsal.receiver.hub import RunHub


class Router(Receiver):
    def __init__(self, verify: Verify, *, environment: str, store: StateDB, matrix_id: str) -> None:
        # wanted=set(): whatever is stored under the matrix's own id is "ignored"
        super().__init__(
            verify, environment=environment, store=store, run_id=matrix_id, wanted=set()
        )
        self.runs: dict[str, Receiver] = {}
        self._owner: dict[str, str] = {}
        self._parked: dict[str, list[tuple[NormalizedEvent, str]]] = {}
        self._lock = threading.Lock()
        self.conflicts: list[str] = []  # objects two runs claimed: a bug, reported

    def add_run(self, run_id: str) -> Receiver:
        receiver = Receiver(
            self.verify, environment=self.environment, store=self.store, run_id=run_id, hub=RunHub()
        )
        self.runs[run_id] = receiver
        return receiver

    def claim(self, run_id: str, object_id: str | None) -> None:
        """`run_id` made or read `object_id`: its events are that run's from now on, and
        those that came before the claim are handed over now."""
        if not object_id:
            return
        with self._lock:
            owner = self._owner.setdefault(object_id, run_id)
            parked = self._parked.pop(object_id, []) if owner == run_id else []
        if owner != run_id:
            self.conflicts.append(object_id)
            return
        for event, via in parked:
            self.runs[run_id].take(event, via=via)
            self._routed(event, run_id)

    def _routed(self, event: NormalizedEvent, run_id: str) -> None:
        """The parked row of `event` says which run it went to."""
        self.store.note_delivery(self.run_id, event.event_id, f"parked; routed to {run_id}")

    def claim_object(self, run_id: str, obj: ProviderObject) -> None:
        self.claim(run_id, obj.id)
        self.claim(run_id, obj.payment_id)  # a refund's payment; a subscription's payment

    def accept(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """A webhook: verified on the raw bytes first, then routed to its run by `take`."""
        event = self._verified(headers, body)
        if not isinstance(event, NormalizedEvent):
            return event
        return self.take(event, via=WEBHOOK)

    def _verified(self, headers: Mapping[str, str], body: bytes) -> NormalizedEvent | Answer:
        """The verified event, or the answer refusing it (400, recorded)."""
        event = classify.verified(self.verify, headers, body)
        if isinstance(event, str):
            return self._reject(event, 400)
        return event

    async def handle_async(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """The receiver's server calls this: verified on the raw bytes first, then routed
        as `take` routes it, but stored through the router's group commit, so the event
        loop never waits on the ledger: it goes on reading the next deliveries while
        the writer commits, and answers each once its row is committed."""
        event = self._verified(headers, body)
        if not isinstance(event, NormalizedEvent):
            return event
        parked_row = self._unowned(event)
        if parked_row:  # on disk before it is acknowledged, as any delivery
            await self._store_async(self._parked_row(event, WEBHOOK, body))
        receiver = self._route(event, WEBHOOK)
        if receiver is None:
            return ACKNOWLEDGED  # parked until its run claims the object
        if parked_row:  # claimed while its row was being written
            self._routed(event, receiver.run_id)
        delivery = receiver._check(event, WEBHOOK)
        if self._commits is None:  # not started by start(): write here
            new = self.store.record_deliveries([delivery])[0]
        else:
            new = await self._commits.store(delivery)
        return self._counted(receiver, lambda: receiver._answer(delivery, new))

    def take(self, event: NormalizedEvent, *, via: str) -> Answer:
        parked_row = self._unowned(event)
        if parked_row:
            self.store.record_deliveries([self._parked_row(event, via, None)])
        receiver = self._route(event, via)
        if receiver is None:
            return ACKNOWLEDGED
        if parked_row:  # claimed while its row was being written
            self._routed(event, receiver.run_id)
        if receiver is self:
            return super().take(event, via=via)
        return self._counted(receiver, lambda: receiver.take(event, via=via))

    def _unowned(self, event: NormalizedEvent) -> bool:
        """Whether `event` would be parked now: no run has claimed its object yet."""
        if event.environment != self.environment or event.object is None:
            return False
        with self._lock:
            return event.object.id not in self._owner

    def _parked_row(self, event: NormalizedEvent, via: str, body: bytes | None) -> Delivery:
        assert event.object is not None
        reason = f"parked: no run of this matrix had claimed {event.object.id} yet"
        return Delivery(self.run_id, event, IGNORED, reason, via, raw=body)

    async def _store_async(self, delivery: Delivery) -> None:
        if self._commits is None:  # not started by start(): write here
            self.store.record_deliveries([delivery])
        else:
            await self._commits.store(delivery)

    def _route(self, event: NormalizedEvent, via: str) -> Receiver | None:
        """The receiver that stores `event`: its run's; the router itself for one refused
        or of a type no run uses (ignored); None when parked for a claim to come."""
        if event.environment != self.environment or event.object is None:
            return self
        with self._lock:
            owner = self._owner.get(event.object.id)
            if owner is None:
                self._parked.setdefault(event.object.id, []).append((event, via))
                return None
        return self.runs[owner]

    def _counted(self, receiver: Receiver, respond: Callable[[], Answer]) -> Answer:
        if receiver is self:
            return respond()
        before = dict(receiver.counts)
        answer = respond()
        for verdict, count in receiver.counts.items():  # the poller reads the router's
            self.counts[verdict] += count - before[verdict]
        return answer

    def interrupt(self) -> None:
        for receiver in self.runs.values():
            if isinstance(receiver.hub, RunHub):
                receiver.hub.interrupt()

    def unrouted(self) -> int:
        """What no run claimed: its parked row (ignored, under the matrix's id) says so at
        the end; how many events."""
        with self._lock:
            parked, self._parked = self._parked, {}
        count = 0
        for object_id, events in parked.items():
            for event_id in dict.fromkeys(event.event_id for event, _ in events):
                reason = f"no run of this matrix owns {object_id}"
                self.store.note_delivery(self.run_id, event_id, reason)
                count += 1
                self.counts[IGNORED] += 1
        return count


class ParkedEvents:
    """For `rehearsal resume` of a run that was one of a matrix: the events its matrix
    stored under its own id (parked: they came before the run had claimed their object)
    that were never routed to it, because the process ended first. Each is taken into the
    run (stored under it, published to its hub) once the run owns its object: at once for
    the objects in its ledger, and as settling finds the others (`claim`, told by the run's
    adapter observer, session/observe.py). Object ids are the provider's own, unique: an
    event about another run's object is never taken."""

    def __init__(
        self,
        store: StateDB,
        receiver: Receiver,
        parse: Callable[[bytes], NormalizedEvent],
        since: float,
    ) -> None:
        self.store, self.receiver = store, receiver
        self._lock = threading.Lock()
        self._by_object: dict[str, list[tuple[str, NormalizedEvent, str]]] = {}
        rows = store.parked_deliveries(since)
        for row in rows:
            try:
                event = parse(row["payload"].encode("utf-8"))
            except MalformedEvent:  # stored verified; unreadable now means another version
                continue
            if event.object is not None:
                found = (row["run_id"], event, row["via"])
                self._by_object.setdefault(event.object.id, []).append(found)

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._by_object)

    def adopt_owned(self, steps: Sequence[Mapping[str, object]]) -> None:
        """Take what was parked about the objects the run's ledger already names."""
        for step in steps:
            for key in ("object_id", "awaited_object"):
                object_id = step[key]
                self.adopt(object_id if isinstance(object_id, str) else None)

    def claim(self, obj: ProviderObject) -> None:
        self.adopt(obj.id)
        self.adopt(obj.payment_id)  # a refund's payment; a subscription's payment

    def adopt(self, object_id: str | None) -> None:
        if not object_id:
            return
        with self._lock:
            parked = self._by_object.pop(object_id, [])
        run_id = self.receiver.run_id
        for matrix_id, event, via in parked:
            if not self.store.has_delivery(run_id, event.event_id):
                # once: a second resume finds it stored and routed
                self.receiver.take(event, via=via)
            self.store.note_delivery(matrix_id, event.event_id, f"parked; routed to {run_id}")
