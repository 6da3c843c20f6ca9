"""`cleanup --replay`: a step's money call sent again exactly as the runner sent it, by the
step's own handler, for a provider that cannot look a key up. It sends only the runner's own
keys and never writes the ledger (the settle engine records what the answer shows)."""

from __future__ import annotations

from rehearsal.engine.actions import action_for
from rehearsal.ledger.rows import StepRow
from rehearsal.plan.model import Plan
from rehearsal.providers.base import Provider, ProviderObject
from rehearsal.providers.keys import step_key


class Replayer:
    """Sends a step's money call again exactly as the runner sent it (same parameters, same
    key), for `cleanup --replay` where the provider cannot look a key up: within its
    idempotency window the provider answers with what the first call made."""

    def __init__(self, plan: Plan, provider: Provider) -> None:
        self.plan, self.provider = plan, provider

    def __call__(self, row: StepRow) -> ProviderObject:
        step = next(s for s in self.plan.steps if s.id == row["step_id"])
        key = row["idempotency_key"]
        assert key == step_key(row["run_id"], step.id), "replays only the runner's own keys"
        return action_for(step).replay(self.plan, self.provider, step, key, row)
