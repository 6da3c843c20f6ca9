"""Plans: the built-in ones load, and every bad plan names its file, line and field.

Line numbers are found from a marker in the plan text (the 1-based line of its first, or
n-th, occurrence), so each case says which line of the file the error must point at.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from rehearsal.errors import PlanError, UsageError
from rehearsal.plan.builtin import builtin_plan_names, builtin_plans_dir, resolve_plan_path
from rehearsal.plan.load import load_plan
from rehearsal.plan.model import ChargeStep, ManualStep, RefundStep, parse_duration

REPO_PLANS = Path(__file__).resolve().parent.parent / "plans"


def _write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _line_of(path: Path, marker: str, nth: int = 1) -> int:
    """The 1-based line of the nth line of the file that contains `marker`."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line]
    assert len(hits) >= nth, f"marker {marker!r} not in the plan text"
    return hits[nth - 1]


def _plan_error(path: Path) -> PlanError:
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    return caught.value


def _assert_problem(err: PlanError, line: int, field: str, message: str) -> None:
    """One of the problems is at `line`, on `field`, and says `message`; str() shows it."""
    matching = [p for p in err.problems if p[0] == line and p[1] == field and message in p[2]]
    assert matching, f"no problem ({line}, {field!r}, ~{message!r}) in {err.problems}"
    where = f"{err.path}:{line}: {field}: " if field else f"{err.path}:{line}: "
    assert where in str(err), str(err)


# --- the built-in plans ---------------------------------------------------------------------


def test_builtin_plan_names_are_the_repo_plans() -> None:
    names = builtin_plan_names()
    assert names == sorted(p.stem for p in REPO_PLANS.glob("*.yaml"))
    assert "rehearsal" in names


@pytest.mark.parametrize("name", sorted(p.stem for p in REPO_PLANS.glob("*.yaml")))
def test_every_builtin_plan_loads(name: str) -> None:
    path = resolve_plan_path(name)
    loaded = load_plan(path)
    assert loaded.name == name
    assert loaded.steps
    assert loaded.money_steps()


def test_default_plan_is_the_whole_money_loop() -> None:
    loaded = load_plan(resolve_plan_path(None))
    assert loaded.name == "rehearsal"
    assert [s.action for s in loaded.steps] == [
        "charge",
        "refund",
        "subscribe",
        "await_renewal",
        "cancel",
    ]
    refund = loaded.steps[1]
    assert isinstance(refund, RefundStep)
    assert refund.payment == "charge"
    assert refund.amount is None
    assert loaded.steps[3].expect.within == 30.0


def test_live_dress_rehearsal_plan_details() -> None:
    loaded = load_plan(resolve_plan_path("live-dress-rehearsal"))
    assert loaded.card == "env:REHEARSAL_CARD_TOKEN"
    assert any(isinstance(s, ManualStep) for s in loaded.steps)
    assert len(loaded.money_steps()) == len(loaded.steps) - 2
    renewal = next(s for s in loaded.steps if s.id == "renewal")
    assert renewal.expect.within == 26 * 3600


def test_partial_refunds_plan_adds_up() -> None:
    loaded = load_plan(resolve_plan_path("partial-refunds"))
    charge = loaded.steps[0]
    assert isinstance(charge, ChargeStep)
    refunds = [s for s in loaded.steps if isinstance(s, RefundStep)]
    assert sum(r.amount or 0 for r in refunds) == charge.amount


# --- parse_duration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (10, 10.0),
        (0.5, 0.5),
        ("10", 10.0),
        ("500ms", 0.5),
        ("10s", 10.0),
        ("1.5m", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        (" 3 s ", 3.0),
    ],
)
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [0, "0", "0s", -1, "-5s", "abc", "", "10 x", "1w", "1e3", True, False, None, [], {}],
)
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_parse_duration_refuses_nan_and_inf(value: float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_nan_within_in_plan_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: x
        steps:
          - id: charge
            action: charge
            amount: 5
            expect: {event: payment.succeeded, within: .nan}
        """,
    )
    _plan_error(path)


# --- resolve_plan_path ----------------------------------------------------------------------


@pytest.mark.parametrize("arg", ["rehearsal", "plans/rehearsal.yaml", "rehearsal.yaml", None])
def test_resolve_builtin_from_another_cwd(
    arg: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = resolve_plan_path(arg)
    assert path.is_file()
    assert path.resolve() == (builtin_plans_dir() / "rehearsal.yaml").resolve()
    assert load_plan(path).name == "rehearsal"


def test_resolve_prefers_an_existing_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plans").mkdir()
    local = _write(
        tmp_path / "plans",
        "name: local\nsteps: [{id: m, action: manual, instructions: do it}]\n",
        name="rehearsal.yaml",
    )
    monkeypatch.chdir(tmp_path)
    path = resolve_plan_path("plans/rehearsal.yaml")
    assert path.resolve() == local.resolve()
    assert load_plan(path).name == "local"


def test_resolve_returns_a_given_path(tmp_path: Path) -> None:
    mine = _write(
        tmp_path, "name: mine\nsteps: [{id: c, action: charge, amount: 1}]\n", name="my-plan.yaml"
    )
    assert resolve_plan_path(str(mine)) == mine


def test_resolve_unknown_name_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as caught:
        resolve_plan_path("no-such-plan")
    err = caught.value
    assert not isinstance(err, PlanError)
    assert err.exit_code == 2
    assert "no-such-plan" in err.message
    assert err.hint is not None
    for name in builtin_plan_names():
        assert name in err.hint


# --- bad plans: one problem each ------------------------------------------------------------

# (id, plan text, marker of the line the error must name, nth occurrence, field, message)
BAD_PLANS = [
    (
        "unknown-field-typo",
        """\
        name: typo
        steps:
          - id: charge
            action: charge
            amount: 500
            descripton: misspelled
        """,
        "descripton:",
        1,
        "steps[0].descripton",
        "unknown field",
    ),
    (
        "unknown-top-level-field",
        """\
        name: typo
        curency: USD
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "curency:",
        1,
        "curency",
        "unknown field",
    ),
    (
        "missing-required-step-field",
        """\
        name: missing
        steps:
          - id: charge
            action: charge
            card: visa
        """,
        "- id: charge",
        1,
        "steps[0].amount",
        "required field is missing",
    ),
    (
        "missing-required-top-level-field",
        """\
        description: no name
        steps:
          - id: charge
            action: charge
            amount: 5
        """,
        "description:",
        1,
        "name",
        "required field is missing",
    ),
    (
        "wrong-type",
        """\
        name: wrong type
        steps:
          - id: charge
            action: charge
            amount: lots
        """,
        "amount: lots",
        1,
        "steps[0].amount",
        "valid integer",
    ),
    (
        "fractional-amount",
        """\
        name: wrong type
        steps:
          - id: charge
            action: charge
            amount: 5.5
        """,
        "amount: 5.5",
        1,
        "steps[0].amount",
        "valid integer",
    ),
    (
        "negative-amount",
        """\
        name: negative
        steps:
          - id: charge
            action: charge
            amount: -500
        """,
        "amount: -500",
        1,
        "steps[0].amount",
        "greater than 0",
    ),
    (
        "negative-refund-amount",
        """\
        name: negative
        steps:
          - id: charge
            action: charge
            amount: 500
          - id: back
            action: refund
            payment: charge
            amount: -1
        """,
        "amount: -1",
        1,
        "steps[1].amount",
        "greater than 0",
    ),
    (
        "bad-duration",
        """\
        name: duration
        steps:
          - id: charge
            action: charge
            amount: 500
            expect:
              event: payment.succeeded
              within: soon
        """,
        "within: soon",
        1,
        "steps[0].expect.within",
        "expected a duration",
    ),
    (
        "zero-duration",
        """\
        name: duration
        steps:
          - id: charge
            action: charge
            amount: 500
            expect: {event: payment.succeeded, within: 0s}
        """,
        "within: 0s",
        1,
        "steps[0].expect.within",
        "greater than zero",
    ),
    (
        "duplicate-step-id",
        """\
        name: dup ids
        steps:
          - id: charge
            action: charge
            amount: 500
          - id: charge
            action: charge
            amount: 600
        """,
        "- id: charge",
        2,
        "steps[1].id",
        "duplicate step id",
    ),
    (
        "refund-of-nonexistent-step",
        """\
        name: refs
        steps:
          - id: charge
            action: charge
            amount: 500
          - id: back
            action: refund
            payment: chrage
        """,
        "payment: chrage",
        1,
        "steps[1].payment",
        "earlier charge step",
    ),
    (
        "refund-of-later-step",
        """\
        name: refs
        steps:
          - id: back
            action: refund
            payment: charge
          - id: charge
            action: charge
            amount: 500
        """,
        "payment: charge",
        1,
        "steps[0].payment",
        "earlier charge step",
    ),
    (
        "refund-of-a-subscription",
        """\
        name: refs
        steps:
          - id: sub
            action: subscribe
            amount: 300
          - id: back
            action: refund
            payment: sub
        """,
        "payment: sub",
        1,
        "steps[1].payment",
        "earlier charge step",
    ),
    (
        "refunds-exceed-charge",
        """\
        name: too much
        steps:
          - id: charge
            action: charge
            amount: 1000
          - id: first
            action: refund
            payment: charge
            amount: 600
          - id: second
            action: refund
            payment: charge
            amount: 500
        """,
        "amount: 500",
        1,
        "steps[2].amount",
        "add up to 1100, more than the charge of 1000",
    ),
    (
        "single-refund-exceeds-charge",
        """\
        name: too much
        steps:
          - id: charge
            action: charge
            amount: 1000
          - id: first
            action: refund
            payment: charge
            amount: 1001
        """,
        "amount: 1001",
        1,
        "steps[1].amount",
        "more than the charge",
    ),
    (
        "refund-of-failed-charge",
        """\
        name: failed
        steps:
          - id: declined
            action: charge
            amount: 500
            card: declined
            expect: {event: payment.failed}
          - id: back
            action: refund
            payment: declined
        """,
        "payment: declined",
        1,
        "steps[1].payment",
        "does not expect payment.succeeded",
    ),
    (
        "refund-after-full-refund",
        """\
        name: twice
        steps:
          - id: charge
            action: charge
            amount: 500
          - id: all
            action: refund
            payment: charge
          - id: more
            action: refund
            payment: charge
            amount: 1
        """,
        "payment: charge",
        2,
        "steps[2].payment",
        "already fully refunded",
    ),
    (
        "cancel-already-cancelled",
        """\
        name: cancel twice
        steps:
          - id: sub
            action: subscribe
            amount: 300
          - id: stop
            action: cancel
            subscription: sub
          - id: stop_again
            action: cancel
            subscription: sub
        """,
        "subscription: sub",
        2,
        "steps[2].subscription",
        "already cancelled",
    ),
    (
        "renewal-after-cancel",
        """\
        name: renew cancelled
        steps:
          - id: sub
            action: subscribe
            amount: 300
          - id: stop
            action: cancel
            subscription: sub
          - id: renew
            action: await_renewal
            subscription: sub
        """,
        "subscription: sub",
        2,
        "steps[2].subscription",
        "already cancelled",
    ),
    (
        "cancel-of-a-charge",
        """\
        name: wrong kind
        steps:
          - id: charge
            action: charge
            amount: 500
          - id: stop
            action: cancel
            subscription: charge
        """,
        "subscription: charge",
        1,
        "steps[1].subscription",
        "earlier subscribe step",
    ),
    (
        "duplicate-yaml-key",
        """\
        name: dup keys
        steps:
          - id: charge
            action: charge
            amount: 500
            amount: 600
        """,
        "amount: 600",
        1,
        "steps[0].amount",
        "duplicate key",
    ),
    (
        "duplicate-top-level-key",
        """\
        name: first
        name: second
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "name: second",
        1,
        "name",
        "duplicate key",
    ),
    (
        "invalid-yaml-mapping-value",
        """\
        name: broken
        steps:
          - id: charge
            action: charge
            description: a: b
            amount: 500
        """,
        "description: a: b",
        1,
        "",
        "not valid YAML",
    ),
    (
        "invalid-yaml-tab",
        "name: broken\nsteps:\n\t- id: charge\n",
        "\t- id",
        1,
        "",
        "not valid YAML",
    ),
    (
        "non-mapping-list",
        """\
        - id: charge
          action: charge
        """,
        "- id: charge",
        1,
        "",
        "expected a mapping",
    ),
    (
        "non-mapping-scalar",
        "just a string\n",
        "just a string",
        1,
        "",
        "expected a mapping",
    ),
    (
        "field-of-another-action",
        """\
        name: kinds
        steps:
          - id: charge
            action: charge
            amount: 500
            interval: month
        """,
        "interval:",
        1,
        "steps[0].interval",
        "unknown field",
    ),
    (
        "bad-currency",
        """\
        name: money
        currency: usd
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "currency: usd",
        1,
        "currency",
        "pattern",
    ),
    (
        "empty-steps",
        """\
        name: nothing
        steps: []
        """,
        "steps: []",
        1,
        "steps",
        "at least 1",
    ),
]


@pytest.mark.parametrize(
    ("text", "marker", "nth", "field", "message"),
    [case[1:] for case in BAD_PLANS],
    ids=[case[0] for case in BAD_PLANS],
)
def test_bad_plan_names_line_and_field(
    tmp_path: Path, text: str, marker: str, nth: int, field: str, message: str
) -> None:
    path = _write(tmp_path, text)
    err = _plan_error(path)
    assert isinstance(err, UsageError)
    assert err.exit_code == 2
    assert err.path == str(path)
    _assert_problem(err, _line_of(path, marker, nth), field, message)


def test_typo_of_required_field_reports_both_problems(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: typo
        steps:
          - id: charge
            action: charge
            ammount: 500
        """,
    )
    err = _plan_error(path)
    _assert_problem(err, _line_of(path, "ammount:"), "steps[0].ammount", "unknown field")
    _assert_problem(err, _line_of(path, "- id: charge"), "steps[0].amount", "required")


def test_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    err = _plan_error(_write(tmp_path, ""))
    _assert_problem(err, 1, "", "expected a mapping")


def test_unreadable_file_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    err = _plan_error(path)
    assert err.problems and "cannot read" in err.problems[0][2]


def test_unknown_action_is_refused_near_the_step(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: kinds
        steps:
          - id: charge
            action: chrage
            amount: 500
        """,
    )
    err = _plan_error(path)
    assert len(err.problems) == 1
    line, field, message = err.problems[0]
    assert line in (_line_of(path, "- id: charge"), _line_of(path, "action: chrage"))
    assert field.startswith("steps[0]")
    assert "action" in message
    assert "charge" in message  # the expected tags are listed


def test_unknown_action_names_the_action_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: kinds
        steps:
          - id: charge
            action: chrage
            amount: 500
        """,
    )
    err = _plan_error(path)
    _assert_problem(err, _line_of(path, "action: chrage"), "steps[0].action", "")


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: many
        steps:
          - id: charge
            action: charge
            amount: -5
          - id: back
            action: refund
            payment: charge
            reasn: typo
        """,
    )
    err = _plan_error(path)
    _assert_problem(err, _line_of(path, "amount: -5"), "steps[0].amount", "greater than 0")
    _assert_problem(err, _line_of(path, "reasn:"), "steps[1].reasn", "unknown field")


def test_invalid_yaml_reports_the_line_of_the_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: broken
        description: fine
        steps:
          - id: charge
            action: charge
            amount: 500
            description: "never closed
        """,
    )
    err = _plan_error(path)
    assert len(err.problems) == 1
    line, field, message = err.problems[0]
    assert "not valid YAML" in message
    assert field == ""
    # PyYAML notices an unclosed quote at the end of the stream: after the opening line.
    assert line is not None and line >= _line_of(path, '"never closed')


# --- secrets and card numbers ---------------------------------------------------------------

CARD_PLANS = [
    (
        "step-card-spaces",
        """\
        name: cards
        steps:
          - id: charge
            action: charge
            amount: 500
            card: "4242 4242 4242 4242"
        """,
        "card:",
        "steps[0].card",
    ),
    (
        "plan-card-dashes",
        """\
        name: cards
        card: "4242-4242-4242-4242"
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "card:",
        "card",
    ),
    (
        "subscribe-card-digits",
        """\
        name: cards
        steps:
          - id: sub
            action: subscribe
            amount: 500
            card: "4000000000000002"
        """,
        "card:",
        "steps[0].card",
    ),
    (
        "plan-card-unquoted-number",
        """\
        name: cards
        card: 4242424242424242
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "card:",
        "card",
    ),
]


@pytest.mark.parametrize(
    ("text", "marker", "field"),
    [c[1:] for c in CARD_PLANS],
    ids=[c[0] for c in CARD_PLANS],
)
def test_card_number_is_refused_and_not_echoed(
    tmp_path: Path, text: str, marker: str, field: str
) -> None:
    path = _write(tmp_path, text)
    err = _plan_error(path)
    _assert_problem(err, _line_of(path, marker), field, "")
    shown = str(err) + repr(err.problems)
    for number in (
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "4000000000000002",
    ):
        assert number not in shown
    assert "42424242" not in shown


def test_quoted_card_number_message_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path, CARD_PLANS[0][1])
    err = _plan_error(path)
    assert "card numbers never go in plan files" in str(err)


def test_card_number_in_description_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: cards
        steps:
          - id: charge
            action: charge
            amount: 500
            description: "4242 4242 4242 4242"
        """,
    )
    _plan_error(path)


def test_card_number_as_action_is_not_echoed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: cards
        steps:
          - id: charge
            action: "4242424242424242"
            amount: 500
        """,
    )
    err = _plan_error(path)
    assert "4242424242424242" not in str(err)


SECRET_PLANS = [
    (
        "description",
        """\
        name: secrets
        steps:
          - id: charge
            action: charge
            amount: 500
            description: use sk_live_abc123 here
        """,
        "description:",
        "steps[0].description",
        "sk_live_abc123",
    ),
    (
        "name",
        """\
        name: sk_live_abc123
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "name:",
        "name",
        "sk_live_abc123",
    ),
    (
        "plan-card",
        """\
        name: secrets
        card: sk_live_abc123
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "card:",
        "card",
        "sk_live_abc123",
    ),
    (
        "action",
        """\
        name: secrets
        steps:
          - id: charge
            action: sk_live_abc123
            amount: 500
        """,
        "action:",
        "steps[0].action",
        "sk_live_abc123",
    ),
    (
        "unknown-field-value",
        """\
        name: secrets
        api_key: sk_test_4eC39HqLyjWDarjtT1zdp7dc
        steps:
          - id: charge
            action: charge
            amount: 500
        """,
        "api_key:",
        "api_key",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    ),
    (
        "restricted-key-in-reason",
        """\
        name: secrets
        steps:
          - id: charge
            action: charge
            amount: 500
          - id: back
            action: refund
            payment: charge
            reason: rk_live_abc123
        """,
        "reason:",
        "steps[1].reason",
        "rk_live_abc123",
    ),
    (
        "webhook-secret-in-instructions",
        """\
        name: secrets
        steps:
          - id: look
            action: manual
            instructions: set whsec_abcdef123 in the dashboard
        """,
        "instructions:",
        "steps[0].instructions",
        "whsec_abcdef123",
    ),
]


@pytest.mark.parametrize(
    ("text", "marker", "field", "secret"),
    [c[1:] for c in SECRET_PLANS],
    ids=[c[0] for c in SECRET_PLANS],
)
def test_secret_is_refused_and_not_echoed(
    tmp_path: Path, text: str, marker: str, field: str, secret: str
) -> None:
    path = _write(tmp_path, text)
    err = _plan_error(path)
    _assert_problem(err, _line_of(path, marker), field, "looks like an API key")
    shown = str(err) + repr(err.problems) + repr(err.hint)
    assert secret not in shown
    assert secret.split("_", 2)[-1] not in shown


def test_secret_as_field_name_is_not_echoed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: secrets
        steps:
          - id: charge
            action: charge
            amount: 500
            sk_live_abc123: true
        """,
    )
    err = _plan_error(path)
    assert "sk_live_abc123" not in str(err)


def test_boolean_amount_is_a_wrong_type(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: bools
        steps:
          - id: charge
            action: charge
            amount: true
        """,
    )
    err = _plan_error(path)
    _assert_problem(err, _line_of(path, "amount:"), "steps[0].amount", "")


# --- valid plans that are easy to get wrong -------------------------------------------------


def test_two_partial_refunds_adding_up_exactly_are_valid(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: exact
        steps:
          - id: charge
            action: charge
            amount: 1000
          - id: first
            action: refund
            payment: charge
            amount: 400
          - id: second
            action: refund
            payment: charge
            amount: 600
        """,
    )
    loaded = load_plan(path)
    assert [s.id for s in loaded.steps] == ["charge", "first", "second"]


def test_full_refund_after_partial_is_valid(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: rest
        steps:
          - id: charge
            action: charge
            amount: 1000
          - id: part
            action: refund
            payment: charge
            amount: 400
          - id: rest
            action: refund
            payment: charge
        """,
    )
    loaded = load_plan(path)
    rest = loaded.steps[2]
    assert isinstance(rest, RefundStep)
    assert rest.amount is None


def test_refund_after_exact_partials_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: nothing left
        steps:
          - id: charge
            action: charge
            amount: 1000
          - id: first
            action: refund
            payment: charge
            amount: 400
          - id: second
            action: refund
            payment: charge
            amount: 600
          - id: third
            action: refund
            payment: charge
        """,
    )
    err = _plan_error(path)
    _assert_problem(
        err, _line_of(path, "payment: charge", 3), "steps[3].payment", "already fully refunded"
    )


def test_defaults_and_durations_in_a_valid_plan(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        name: defaults
        steps:
          - id: charge
            action: charge
            amount: 500
            card: env:MY_CARD
          - id: sub
            action: subscribe
            amount: 300
            interval: year
            expect: {event: subscription.created, within: 500ms}
          - id: renew
            action: await_renewal
            subscription: sub
            expect: {event: subscription.renewed, within: 2h}
        """,
    )
    loaded = load_plan(path)
    assert loaded.currency == "USD"
    assert loaded.provider == "mintcash"
    assert loaded.card == "visa"
    charge, sub, renew = loaded.steps
    assert charge.expect.event == "payment.succeeded"
    assert charge.expect.within == 10.0
    assert sub.expect.within == 0.5
    assert renew.expect.within == 7200.0
