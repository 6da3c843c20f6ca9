"""The step registry: one handler per step kind the plan defines, keyed by the step's
`action`, each handling exactly the class pydantic picks for that tag."""

from typing import get_args

from rehearsal.engine.actions import ACTIONS
from rehearsal.plan.model import Step


def test_one_handler_per_step_kind() -> None:
    kinds = get_args(get_args(Step)[0])  # Annotated[the union, Field(discriminator=...)]
    by_action = {get_args(k.model_fields["action"].annotation)[0]: k for k in kinds}
    assert set(ACTIONS) == set(by_action)
    for action, handler in ACTIONS.items():
        (base,) = vars(type(handler))["__orig_bases__"]
        assert get_args(base) == (by_action[action],), action
