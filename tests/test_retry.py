"""providers/retry.py: the policy tenacity used to run (exponential backoff with jitter,
capped at 8x), written out."""

from __future__ import annotations

import pytest

from rehearsal.providers import retry
from rehearsal.providers.retry import Transient, pause, with_retries


def test_transient_failures_are_tried_again_until_one_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    answers = iter([Transient(503, "HTTP 503"), Transient(None, "network error"), "ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(call, attempts=4, backoff=0.25) == "ok"
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 0.75


def test_the_last_transient_is_raised_after_the_last_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    tries: list[int] = []

    def call() -> None:
        tries.append(1)
        raise Transient(429, f"HTTP 429 #{len(tries)}", "req_9")

    with pytest.raises(Transient, match="#4") as caught:
        with_retries(call, attempts=4, backoff=0.25)
    assert len(tries) == 4 and len(waits) == 3
    assert (caught.value.status, caught.value.request_id) == (429, "req_9")


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda s: pytest.fail("no wait expected"))

    def call() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError):
        with_retries(call, attempts=4, backoff=0.25)


def test_waits_double_up_to_eight_times_the_backoff_plus_jitter() -> None:
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (9, 8)]:
        for _ in range(50):
            assert base <= pause(attempt, 1.0) <= base + 1
