"""Checklist items, as the go-live seeds word them, and how each one is judged.

An item is checked by the endpoint audit, by the keys audit, by the last rehearsal, or
only by a person (manual). Each names the seed file and line it comes from, so a report
can be traced back to the user's own checklist. The outcomes of the probes behind an item
roll up into the item's: one failure fails it; all passed passes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["passed", "failed", "not checkable"]
PASSED: Outcome = "passed"
FAILED: Outcome = "failed"
NOT_CHECKABLE: Outcome = "not checkable"
How = Literal["endpoint", "keys", "rehearsal", "manual"]
# Where the seeds live, relative to the repository (the user's own go-live documents).
SEEDS = "../shared/seeds"


@dataclass(frozen=True)
class Item:
    id: str  # stable, e.g. "signature-verification"
    section: str  # the seed's heading
    text: str  # the seed's own wording
    seed: str  # the seed file's name
    line: int  # the line the item starts on
    how: How
    needs_live: bool = False  # a rehearsal item only a live run can show

    @property
    def source(self) -> str:
        return f"{self.seed}:{self.line}"


def roll_up(outcomes: Iterable[Outcome]) -> Outcome:
    """One item's outcome from its probes': any failure fails it; all passed passes it."""
    seen = list(outcomes)
    if FAILED in seen:
        return FAILED
    if seen and all(o == PASSED for o in seen):
        return PASSED
    if PASSED in seen:  # some passed, the rest could not be checked: what was checked passed
        return PASSED
    return NOT_CHECKABLE
