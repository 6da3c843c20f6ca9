"""Crash failpoints, for the crash tests only: REHEARSAL_FAILPOINT names the exact point
(where:step) at which this process kills itself or raises. It owns nothing else and must
never do anything when the variable is unset or names another point."""

from __future__ import annotations

import os
import signal


def failpoint(where: str, step_id: str) -> None:
    """Testing only: REHEARSAL_FAILPOINT=<where>:<step> kills this process (SIGKILL) there,
    so crash tests hit exact points: before-step, after-intent, after-made (a flow made
    something and goes on), after-call. raise-<where>:<step> raises a RuntimeError there
    instead, as a bug of ours would."""
    point = os.environ.get("REHEARSAL_FAILPOINT")
    if point == f"{where}:{step_id}":
        os.kill(os.getpid(), signal.SIGKILL)
    if point == f"raise-{where}:{step_id}":  # an exception that is not ours: a bug
        raise RuntimeError(f"failpoint {point}")
