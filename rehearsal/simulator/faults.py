"""Fault switches for the simulator, off by default.

Webhooks: drop, delay, duplicate, reorder. API calls: fail with a 5xx before doing the work,
or do the work and then answer 500 (the response is lost, the money moved). Each switch is
a short spec string, so the CLI, the environment and the control API share one syntax:

    drop:payment.refunded          never deliver that event type (`*` for all)
    delay:payment.succeeded=2.5    deliver it that many seconds late
    duplicate:*                    deliver every event twice (same eventId)
    reorder                        hold each event briefly and send newer ones first
    fail:POST /refund=503x2        answer 503 to the first two matching calls, doing nothing
    fail-after:POST /payments      do the work, then answer 500 (once; xN for more)
    hold:POST /payments=5          hold the call open that many seconds before answering
"""

from __future__ import annotations

import fnmatch
import re
import threading
from dataclasses import dataclass, field

_FAIL = re.compile(r"^(fail|fail-after|hold):([A-Z]+) (/\S*?)(?:=(\d+(?:\.\d+)?))?(?:x(\d+))?$")


class FaultSpecError(ValueError):
    pass


@dataclass
class ApiFault:
    kind: str  # fail | fail-after | hold
    method: str
    path: str  # a glob: /subscriptions/*/cancel
    value: float  # the status for fail, 500 for fail-after, seconds for hold
    times: int

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and fnmatch.fnmatchcase(path, self.path)


@dataclass
class Faults:
    drop: set[str] = field(default_factory=set)
    delay: dict[str, float] = field(default_factory=dict)
    duplicate: set[str] = field(default_factory=set)
    reorder: bool = False
    api: list[ApiFault] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, specs: list[str]) -> Faults:
        faults = cls()
        for spec in specs:
            faults.add(spec)
        return faults

    def add(self, spec: str) -> None:
        spec = spec.strip()
        name, _, arg = spec.partition(":")
        if spec == "reorder":
            self.reorder = True
        elif name in ("drop", "duplicate") and arg:
            (self.drop if name == "drop" else self.duplicate).add(arg)
        elif name == "delay" and "=" in arg:
            kind, _, seconds = arg.partition("=")
            try:
                self.delay[kind] = float(seconds)
            except ValueError:
                raise FaultSpecError(f"fault {spec!r}: expected delay:TYPE=SECONDS") from None
        elif m := _FAIL.match(spec):
            kind, method, path, value, times = m.groups()
            default = {"fail": 503.0, "fail-after": 500.0, "hold": 5.0}[kind]
            self.api.append(ApiFault(kind, method, path, float(value or default), int(times or 1)))
        else:
            raise FaultSpecError(
                f"unknown fault {spec!r}; expected drop:TYPE, delay:TYPE=S, duplicate:TYPE, "
                "reorder, fail:METHOD /path[=STATUS][xN], fail-after:METHOD /path[xN], "
                "hold:METHOD /path=S"
            )
        self.specs.append(spec)

    def take_api_fault(self, method: str, path: str) -> ApiFault | None:
        """The first armed fault for this call, used up by one."""
        with self._lock:
            for fault in self.api:
                if fault.matches(method, path):
                    fault.times -= 1
                    return ApiFault(fault.kind, fault.method, fault.path, fault.value, 1)
        return None

    def api_faults_left(self) -> list[dict[str, object]]:
        """Each API fault and how many matching calls it still applies to (0: all taken)."""
        with self._lock:
            return [
                {"kind": f.kind, "method": f.method, "path": f.path, "left": f.times}
                for f in self.api
            ]

    @staticmethod
    def _hit(names: set[str] | dict[str, float], event_type: str) -> bool:
        return event_type in names or "*" in names

    def drops(self, event_type: str) -> bool:
        return self._hit(self.drop, event_type)

    def duplicates(self, event_type: str) -> bool:
        return self._hit(self.duplicate, event_type)

    def delay_for(self, event_type: str) -> float:
        return self.delay.get(event_type, self.delay.get("*", 0.0))
