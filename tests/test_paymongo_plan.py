"""The plan fields PayMongo needs: `unavailable_in_test` on a refund step, and
`expect.webhook: optional`; validated with file, line and field like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.errors import PlanError
from rehearsal.plan.load import load_plan
from rehearsal.plan.model import CancelStep, RefundStep

REPO = Path(__file__).resolve().parent.parent

HEAD = """\
version: 1
name: p
provider: paymongo
currency: PHP
steps:
  - id: charge
    action: charge
    amount: 20000
"""


def write(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD + steps)
    return path


def test_the_built_in_paymongo_plan_uses_both_fields() -> None:
    plan = load_plan(REPO / "plans" / "paymongo.yaml")
    refund = next(s for s in plan.steps if isinstance(s, RefundStep))
    cancel = next(s for s in plan.steps if isinstance(s, CancelStep))
    assert refund.unavailable_in_test is True
    assert cancel.expect.webhook == "optional"
    assert (plan.provider, plan.currency) == ("paymongo", "PHP")


def test_defaults_keep_other_plans_strict(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "  - id: refund\n    action: refund\n    payment: charge\n"))
    refund = plan.steps[1]
    assert isinstance(refund, RefundStep)
    assert refund.unavailable_in_test is False
    assert refund.expect.webhook == "required"


@pytest.mark.parametrize(
    ("steps", "line", "field", "says"),
    [
        (
            "  - id: charge2\n    action: charge\n    amount: 20000\n"
            "    unavailable_in_test: true\n",
            12,
            "steps[1].unavailable_in_test",
            "unknown field",
        ),
        (
            "  - id: refund\n    action: refund\n    payment: charge\n"
            "    unavailable_in_test: sometimes\n",
            12,
            "steps[1].unavailable_in_test",
            "valid boolean",
        ),
        (
            "  - id: refund\n    action: refund\n    payment: charge\n"
            "    expect: {event: payment.refunded, webhook: maybe}\n",
            12,
            "steps[1].expect.webhook",
            "'required' or 'optional'",
        ),
    ],
)
def test_bad_values_name_file_line_and_field(
    tmp_path: Path, steps: str, line: int, field: str, says: str
) -> None:
    path = write(tmp_path, steps)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    text = str(caught.value)
    assert f"{path}:{line}: {field}:" in text, text
    assert says in text, text
