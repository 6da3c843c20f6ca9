"""Fault switches for the simulator, off by default.

Webhooks: drop, delay, duplicate, reorder. API calls: fail with a 5xx before doing the work,
or do the work and then answer 500 (the response is lost, the money moved), at once or
with a probability. Each switch is a short spec string, so the CLI (`rehearsal run
--sim-fault`, `rehearsal simulator --fault`), the environment and the control API (`PUT
/_sim/faults {"faults": [...]}`) share one syntax:

    drop:payment.refunded          never deliver that event type (`*` for all)
    delay:payment.succeeded=2.5    deliver it that many seconds late
    duplicate:*                    deliver every event twice (same eventId)
    reorder                        hold each event briefly and send newer ones first
    fail:POST /refund=503x2        answer 503 to the first two matching calls, doing nothing
    fail-after:POST /payments      do the work, then answer 500 (once; xN for more)
    hold:POST /payments=5          hold the call open that many seconds before answering
    garble:POST /refund            answer 400 (or =STATUS; xN) with a malformed error body,
                                   doing nothing: MintCash `{"error": "boom"}` (a string
                                   where an object is documented), PayMongo `{"errors": "boom"}`
    rate:POST /payments=0.3        each matching call, with probability 0.3: answer 503
                                   before doing the work (every call, not a count)
    rate-after:POST /payments=0.3  each matching call, with probability 0.3: do the work,
                                   then answer 500 (the answer is lost, the money moved)
    fail-renewal:SUB_GLOB          each renewal of a matching subscription (`*` or no glob: all)
                                   is declined (=CODE for the failure code, default
                                   insufficient_funds): the payment fails, the subscription
                                   goes past_due and subscription.past_due is sent
    fail-refund:GLOB               each PayMongo refund whose id, payment id or
                                   Idempotency-Key matches GLOB (`*` or no glob: all) is
                                   created `pending` as usual, then settles `failed` (the
                                   refund's step: `fail-refund:*-refund` matches the key
                                   rh-RUN-refund, not cleanup's rh-RUN-refund-cleanup-...)
    test-refunds                   a PayMongo test-mode account that refunds test payments
                                   (pending, then succeeded), as PayMongo's test API has been
                                   seen to do; off: refused, as PayMongo documents
    seed:42                        seed the fault RNG (random.Random(42)) so the sequence of
                                   rate failures repeats run after run; unseeded, it varies

Event types are the rehearsal's names (payment.succeeded, not PayMongo's payment.paid):
the simulator's books queue those, whichever dialect renders them. Given the provider's
vocabulary (its declaration's `events`), a type it does not have is a FaultSpecError that
names the valid ones: a misspelled `drop:payment.refundd` would otherwise drop nothing.

Paths are globs (`/subscriptions/*/cancel`). For each call the counted faults (fail,
fail-after, hold, garble) are taken first, in the order given; then each matching rate
fault draws once from the RNG. A spec that does not parse is a FaultSpecError (the CLI
exits 2, the control API answers 400 and keeps the faults it had).
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

_FAIL = re.compile(
    r"^(fail|fail-after|hold|garble):([A-Z]+) (/[^\s=]*?)(?:=(\d+(?:\.\d+)?))?(?:x(\d+))?$"
)
_RATE = re.compile(r"^(rate|rate-after):([A-Z]+) (/[^\s=]*?)(?:=(\S*))?$")
_RENEWAL = re.compile(r"^fail-renewal(?::([^\s=]+))?(?:=([a-z_]+))?$")
_REFUND = re.compile(r"^fail-refund(?::([^\s=]+))?$")
RENEWAL_FAILURE_CODE = "insufficient_funds"
_DEFAULT = {"fail": 503.0, "fail-after": 500.0, "hold": 5.0, "garble": 400.0}


class FaultSpecError(ValueError):
    pass


@dataclass
class ApiFault:
    kind: str  # fail | fail-after | hold | garble
    method: str
    path: str  # a glob: /subscriptions/*/cancel
    value: float  # the status for fail and garble, 500 for fail-after, seconds for hold
    times: int

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and fnmatch.fnmatchcase(path, self.path)


@dataclass
class RateFault:
    """With `probability`, a matching call fails before (`rate`) or after (`rate-after`)
    the work; it never runs out."""

    kind: str  # rate | rate-after
    method: str
    path: str
    probability: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and fnmatch.fnmatchcase(path, self.path)


@dataclass
class Faults:
    drop: set[str] = field(default_factory=set)
    delay: dict[str, float] = field(default_factory=dict)
    duplicate: set[str] = field(default_factory=set)
    reorder: bool = False
    api: list[ApiFault] = field(default_factory=list)
    rates: list[RateFault] = field(default_factory=list)
    renewals: dict[str, str] = field(default_factory=dict)  # subscription glob -> code
    failed_refunds: list[str] = field(default_factory=list)  # globs: refund, payment, key
    test_refunds: bool = False  # PayMongo test mode refunds (pending, then succeeded)
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    specs: list[str] = field(default_factory=list)
    # Why an event type is not the provider's (None: it is); None accepts any type.
    unknown_event: Callable[[str], str | None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(
        cls, specs: list[str], unknown_event: Callable[[str], str | None] | None = None
    ) -> Faults:
        faults = cls(unknown_event=unknown_event)
        for spec in specs:
            faults.add(spec)
        return faults

    def replace_with(self, fresh: Faults) -> None:
        """`PUT /_sim/faults`: these switches become `fresh`'s, in place (the books' and the
        deliverer's hooks hold this object); the lock stays this one's."""
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_lock"})

    def add(self, spec: str) -> None:
        spec = spec.strip()
        name, _, arg = spec.partition(":")
        if spec == "reorder":
            self.reorder = True
        elif name in ("drop", "duplicate") and arg:
            self._check_event(spec, arg)
            (self.drop if name == "drop" else self.duplicate).add(arg)
        elif name == "delay" and "=" in arg:
            kind, _, seconds = arg.partition("=")
            self._check_event(spec, kind)
            try:
                delay = float(seconds)
            except ValueError:
                raise FaultSpecError(f"fault {spec!r}: expected delay:TYPE=SECONDS") from None
            if not math.isfinite(delay) or delay < 0:
                raise FaultSpecError(
                    f"fault {spec!r}: the delay must be a finite number of seconds, 0 or more"
                )
            self.delay[kind] = delay
        elif m := _FAIL.match(spec):
            kind, method, path, value, times = m.groups()
            default = _DEFAULT[kind]
            self.api.append(ApiFault(kind, method, path, float(value or default), int(times or 1)))
        elif m := _RENEWAL.match(spec):
            glob, code = m.groups()
            self.renewals[glob or "*"] = code or RENEWAL_FAILURE_CODE
        elif m := _REFUND.match(spec):
            self.failed_refunds.append(m.group(1) or "*")
        elif spec == "test-refunds":
            self.test_refunds = True
        elif m := _RATE.match(spec):
            kind, method, path, value = m.groups()
            self.rates.append(RateFault(kind, method, path, _probability(spec, kind, value)))
        elif name == "seed":
            try:
                self.seed = int(arg)
            except ValueError:
                raise FaultSpecError(
                    f"fault {spec!r}: expected seed:N with N an integer, e.g. seed:42"
                ) from None
            self.rng = random.Random(self.seed)
        else:
            raise FaultSpecError(
                f"unknown fault {spec!r}; expected drop:TYPE, delay:TYPE=S, duplicate:TYPE, "
                "reorder, fail:METHOD /path[=STATUS][xN], fail-after:METHOD /path[xN], "
                "hold:METHOD /path=S, garble:METHOD /path[=STATUS][xN], "
                "rate:METHOD /path=P, rate-after:METHOD /path=P (P from 0 to 1), "
                "fail-renewal[:SUB_GLOB][=CODE], fail-refund[:GLOB], test-refunds, seed:N"
            )
        self.specs.append(spec)

    def _check_event(self, spec: str, kind: str) -> None:
        if kind != "*" and self.unknown_event is not None and (why := self.unknown_event(kind)):
            raise FaultSpecError(f"fault {spec!r}: {why}, or * for all")

    def take_api_fault(self, method: str, path: str) -> ApiFault | None:
        """The fault for this call, if any: the first armed counted fault, used up by one;
        else, for each matching rate fault in turn, one draw from the RNG (a hit is a
        `fail` 503 for `rate`, a `fail-after` 500 for `rate-after`)."""
        with self._lock:
            for fault in self.api:
                if fault.matches(method, path):
                    fault.times -= 1
                    return ApiFault(fault.kind, fault.method, fault.path, fault.value, 1)
            for rate in self.rates:
                if rate.matches(method, path) and self.rng.random() < rate.probability:
                    rate.hits += 1
                    kind, status = ("fail", 503.0) if rate.kind == "rate" else ("fail-after", 500.0)
                    return ApiFault(kind, rate.method, rate.path, status, 1)
        return None

    def api_faults_left(self) -> list[dict[str, object]]:
        """Each counted API fault and how many matching calls it still applies to (0: all
        taken), then each rate fault with its probability and how often it has hit."""
        with self._lock:
            counted: list[dict[str, object]] = [
                {"kind": f.kind, "method": f.method, "path": f.path, "left": f.times}
                for f in self.api
            ]
            return counted + [
                {
                    "kind": r.kind,
                    "method": r.method,
                    "path": r.path,
                    "probability": r.probability,
                    "hits": r.hits,
                }
                for r in self.rates
            ]

    def renewal_failure(self, subscription_id: str) -> str | None:
        """The failure code for a renewal of this subscription (None: not switched on)."""
        with self._lock:
            for glob, code in self.renewals.items():
                if fnmatch.fnmatchcase(subscription_id, glob):
                    return code
        return None

    def refund_fails(self, *names: str | None) -> bool:
        """Whether a refund known by these names (its id, its payment's id, the
        Idempotency-Key it was created with) is switched to fail."""
        with self._lock:
            return any(
                fnmatch.fnmatchcase(name, glob)
                for glob in self.failed_refunds
                for name in names
                if name
            )

    @staticmethod
    def _hit(names: set[str] | dict[str, float], event_type: str) -> bool:
        return event_type in names or "*" in names

    def drops(self, event_type: str) -> bool:
        return self._hit(self.drop, event_type)

    def duplicates(self, event_type: str) -> bool:
        return self._hit(self.duplicate, event_type)

    def delay_for(self, event_type: str) -> float:
        return self.delay.get(event_type, self.delay.get("*", 0.0))


def _probability(spec: str, kind: str, value: str | None) -> float:
    try:
        p = float(value or "")
    except ValueError:
        raise FaultSpecError(
            f"fault {spec!r}: expected {kind}:METHOD /path=P with P a probability from 0 to 1, "
            f"e.g. {kind}:POST /payments=0.3"
        ) from None
    if not 0.0 <= p <= 1.0:  # also refuses nan
        raise FaultSpecError(f"fault {spec!r}: the probability must be from 0 to 1, not {value}")
    return p
