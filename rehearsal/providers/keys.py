"""The idempotency keys the rehearsal sends, and what an adapter may read back from one.

Every money call's key is derived from the run and the step (`rh-<run>-<step>`), and the
settle engine's own calls add what they settle (`rh-<run>-<step>-cleanup-<payment>-<left>`).
An adapter whose provider cannot look a key up (Stripe) tags what it creates with the run
and the step, and finds a lost call's object again by them: `step_of` reads them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "rh-"
# runner.new_run_id: `YYYYMMDD-HHMMSS-` and 20 lowercase base32 characters.
_RUN_ID = r"\d{8}-\d{6}-[a-z2-7]{20}"
_STEP = r"[a-z][a-z0-9_]{0,39}"  # plan.py's step id: no hyphen
_KEY = re.compile(
    rf"^rh-(?P<run>{_RUN_ID}|[a-z0-9]+(?:-[a-z0-9]+)*?)-(?P<step>{_STEP})(?P<rest>-.*)?$"
)


@dataclass(frozen=True)
class StepOfKey:
    run_id: str
    step_id: str
    cleanup: bool  # a settle engine's call (a compensating refund), not the step's own


def step_key(run_id: str, step_id: str) -> str:
    return f"{PREFIX}{run_id}-{step_id}"


def cleanup_key(run_id: str, step_id: str, payment_id: str, left: int) -> str:
    return f"{step_key(run_id, step_id)}-cleanup-{payment_id}-{left}"


def step_of(key: str) -> StepOfKey | None:
    """The run and step a key was derived for; None for a key the rehearsal did not derive
    (or cannot read back for sure)."""
    match = _KEY.match(key)
    if match is None:
        return None
    rest = match["rest"] or ""
    if rest and not rest.startswith("-cleanup-"):
        return None
    return StepOfKey(match["run"], match["step"], bool(rest))
