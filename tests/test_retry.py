"""providers/retry.py: the first try direct, then tenacity's policy (exponential backoff
with jitter, capped at 8x the backoff) for the rest, the same key each time."""

from __future__ import annotations

import pytest

from rehearsal.providers.retry import Transient, with_retries


def test_transient_failures_are_tried_again_until_one_answers() -> None:
    waits: list[float] = []
    answers = iter([Transient(503, "HTTP 503"), Transient(None, "network error"), "ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(call, attempts=4, backoff=0.25, sleep=waits.append) == "ok"
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 0.75


def test_the_last_transient_is_raised_after_the_last_attempt() -> None:
    waits: list[float] = []
    tries: list[int] = []

    def call() -> None:
        tries.append(1)
        raise Transient(429, f"HTTP 429 #{len(tries)}", "req_9")

    with pytest.raises(Transient, match="#4") as caught:
        with_retries(call, attempts=4, backoff=0.25, sleep=waits.append)
    assert len(tries) == 4 and len(waits) == 3
    assert (caught.value.status, caught.value.request_id) == (429, "req_9")


def test_waits_double_up_to_eight_times_the_backoff_plus_jitter() -> None:
    waits: list[float] = []

    def call() -> None:
        raise Transient(503, "HTTP 503")

    with pytest.raises(Transient):
        with_retries(call, attempts=7, backoff=1.0, sleep=waits.append)
    assert len(waits) == 6
    for wait, base in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert base <= wait <= base + 1


def test_one_attempt_means_no_retry() -> None:
    tries: list[int] = []

    def call() -> None:
        tries.append(1)
        raise Transient(503, "HTTP 503")

    with pytest.raises(Transient):
        with_retries(call, attempts=1, backoff=0.25, sleep=lambda s: pytest.fail("no wait"))
    assert tries == [1]


def test_other_errors_are_not_retried() -> None:
    tries: list[int] = []

    def call() -> None:
        tries.append(1)
        raise ValueError("refused")

    with pytest.raises(ValueError):
        with_retries(call, attempts=4, backoff=0.25, sleep=lambda s: pytest.fail("no wait"))
    assert tries == [1]


def test_an_answer_at_once_does_not_import_the_retry_machinery() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from rehearsal.providers.retry import with_retries\n"
        "assert with_retries(lambda: 1, attempts=4, backoff=0.25) == 1\n"
        "print('tenacity' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
