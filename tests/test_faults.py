"""The simulator's fault specs: parsing, and the seeded probabilistic switches (rate,
rate-after) whose sequence of failures repeats for a seed. Over HTTP in test_simulator.py
(MintCash) and test_paymongo_adapter.py (PayMongo); through the CLI in
tests/e2e/test_standalone_simulator.py."""

from __future__ import annotations

import random

import pytest

from rehearsal.simulator.faults import Faults, FaultSpecError


def outcomes(faults: Faults, n: int, path: str = "/payments") -> list[str | None]:
    taken = [faults.take_api_fault("POST", path) for _ in range(n)]
    return [f"{f.kind} {int(f.value)}" if f else None for f in taken]


def test_a_seed_fixes_the_sequence_of_failures() -> None:
    specs = ["seed:7", "rate:POST /payments=0.3"]
    first, again = outcomes(Faults.parse(specs), 200), outcomes(Faults.parse(specs), 200)
    assert first == again
    rng = random.Random(7)
    assert first == ["fail 503" if rng.random() < 0.3 else None for _ in range(200)]
    assert 30 < first.count("fail 503") < 90  # about 30% of 200
    other = outcomes(Faults.parse(["seed:8", "rate:POST /payments=0.3"]), 200)
    assert other != first


def test_the_seed_may_come_after_the_rate() -> None:
    a = outcomes(Faults.parse(["seed:3", "rate:POST /payments=0.5"]), 50)
    b = outcomes(Faults.parse(["rate:POST /payments=0.5", "seed:3"]), 50)
    assert a == b


def test_calls_that_do_not_match_draw_nothing() -> None:
    plain = Faults.parse(["seed:5", "rate:POST /payments=0.5"])
    mixed = Faults.parse(["seed:5", "rate:POST /payments=0.5"])
    expected = outcomes(plain, 40)
    seen = []
    for _ in range(40):
        assert mixed.take_api_fault("GET", "/payments") is None
        assert mixed.take_api_fault("POST", "/refund") is None
        seen += outcomes(mixed, 1)
    assert seen == expected


def test_rate_after_answers_500_after_the_work_and_bounds_are_exact() -> None:
    assert outcomes(Faults.parse(["rate-after:POST /payments=1"]), 5) == ["fail-after 500"] * 5
    assert outcomes(Faults.parse(["rate:POST /payments=0"]), 50) == [None] * 50
    globbed = Faults.parse(["rate:POST /subscriptions/*/cancel=1"])
    assert outcomes(globbed, 1, "/subscriptions/sub_1/cancel") == ["fail 503"]
    assert outcomes(globbed, 1, "/subscriptions") == [None]


def test_counted_faults_come_before_rates_and_rates_are_reported() -> None:
    faults = Faults.parse(["seed:1", "fail:POST /payments=502x2", "rate:POST /payments=1"])
    assert outcomes(faults, 4) == ["fail 502", "fail 502", "fail 503", "fail 503"]
    assert faults.api_faults_left() == [
        {"kind": "fail", "method": "POST", "path": "/payments", "left": 0},
        {"kind": "rate", "method": "POST", "path": "/payments", "probability": 1.0, "hits": 2},
    ]
    assert faults.specs == ["seed:1", "fail:POST /payments=502x2", "rate:POST /payments=1"]


def test_garble_is_a_counted_fault_with_a_status() -> None:
    faults = Faults.parse(["garble:POST /refund", "garble:POST /payments=422x2"])
    assert outcomes(faults, 3, "/refund") == ["garble 400", None, None]
    assert outcomes(faults, 3) == ["garble 422", "garble 422", None]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("rate:POST /payments", "rate:METHOD /path=P"),
        ("rate:POST /payments=", "rate:METHOD /path=P"),
        ("rate:POST /payments=lots", "rate:METHOD /path=P"),
        ("rate-after:POST /payments=1.5", "from 0 to 1"),
        ("rate:POST /payments=-0.1", "from 0 to 1"),
        ("rate:POST /payments=nan", "from 0 to 1"),
        ("seed:", "seed:N"),
        ("seed:abc", "seed:N"),
        ("rate:post /payments=0.5", "unknown fault"),
        ("garble:POST /refund=abc", "unknown fault"),
    ],
)
def test_bad_specs_say_what_is_expected(spec: str, says: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        Faults.parse([spec])
    assert says in str(caught.value) and spec in str(caught.value)
