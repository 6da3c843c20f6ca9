"""Idempotency keys: derived from the run and step, and read back by adapters that tag
what they create with them (providers/keys.py)."""

from __future__ import annotations

import pytest

from rehearsal.engine.runner import new_run_id
from rehearsal.providers.keys import StepOfKey, cleanup_key, step_key, step_of


def test_a_runners_key_reads_back_as_its_run_and_step() -> None:
    run_id = new_run_id()
    assert step_of(step_key(run_id, "charge")) == StepOfKey(run_id, "charge", False)
    assert step_of(step_key(run_id, "refund_2")) == StepOfKey(run_id, "refund_2", False)


def test_a_cleanup_key_reads_back_as_the_step_it_settles() -> None:
    run_id = new_run_id()
    key = cleanup_key(run_id, "charge", "pay_1-x", 500)
    assert key.startswith(step_key(run_id, "charge") + "-cleanup-")
    assert step_of(key) == StepOfKey(run_id, "charge", True)


NOT_DERIVED = [
    "",
    "charge",
    "rh-",
    "rh-20261127-101010-abc-charge",  # not a run id the runner makes
    "rh-webhook-0a1b",
    "x-rh-r-charge",
    "rh-20261127-101010-" + "a" * 20 + "-charge-retry",  # a suffix that is not cleanup's
]


@pytest.mark.parametrize("key", NOT_DERIVED)
def test_a_key_the_rehearsal_did_not_derive_reads_back_as_nothing_sure(key: str) -> None:
    assert step_of(key) is None  # never a guess
