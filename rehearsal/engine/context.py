"""What a run's step handlers share: the run's options, and a view of the runner's state (the
plan, the provider, the ledger, the receiver's hub, what earlier steps made) with the ledger
writes around a money call: the intent before it, the answer or the lack of one after. A
money call is never sent before its intent is durable; nothing here decides a verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rehearsal.engine.failpoints import failpoint
from rehearsal.errors import ProviderError, SafetyRefusal
from rehearsal.events import Listener
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.states import CallOutcome, StepState
from rehearsal.plan.model import ManualStep, Plan
from rehearsal.providers.base import Provider, ProviderObject
from rehearsal.receiver.hub import EventHub


@dataclass
class Options:
    timeout_scale: float = 1.0
    cleanup: bool = True
    confirm_manual: Callable[[ManualStep], bool] | None = None
    # Seconds after its last attempt a call with no answer may still land (Target.landing);
    # None: the simulator that received it runs in this process and may still finish it.
    landing_window: float | None = None
    # Called every `watch_every` seconds of a long webhook wait: the tunnel's re-probe. It
    # raises (a TunnelError) when the path to the receiver is gone for good.
    watch: Callable[[], None] | None = None
    watch_every: float = 15.0
    # --forward-to: what the merchant's handler made of an event (None: acknowledged in
    # time); a step whose event it refused or answered too slowly fails (forward.py).
    forwarded: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class StepContext:
    """The runner's state as its step handlers see it; the dicts and sets are the runner's
    own, so what a handler records there the next step finds."""

    plan: Plan
    provider: Provider
    hub: EventHub | None
    store: StateDB
    run_id: str
    emit: Listener
    options: Options
    payments: dict[str, ProviderObject]  # charge step id -> latest payment
    refunded: dict[str, int]  # charge step id -> refunded so far
    subscriptions: dict[str, ProviderObject]  # subscribe step id -> latest subscription
    resumed: set[str]  # steps a previous process began: nobody heard their webhooks
    baselines: dict[str, int | None]  # renewal step id -> renewals seen before it began
    notes: dict[str, str]  # step id -> what the report adds to its outcome

    @property
    def scale(self) -> float:
        return self.options.timeout_scale

    def intent(
        self, step_id: str, key: str | None, amount: int | None, about: str | None = None
    ) -> None:
        """Written before the call that moves money. A key whose answer was lost is sent
        again only while the provider still replays it."""
        now = time.time()
        row = self.store.step(self.run_id, step_id)
        replay = key is not None and row["idempotency_key"] == key  # sent before: resumed
        first = (row["first_called_at"] or row["called_at"]) if replay else None
        window = self.provider.idempotency_window
        if first is not None and window is not None and now - first > window:
            known = f" (it made {row['object_id']})" if row["object_id"] else ""
            raise SafetyRefusal(
                f"step {step_id!r}: its call{known} was first sent "
                f"{(now - first) / 3600:.0f} h ago with key {key}; {self.provider.name} "
                f"forgets a key after {window / 3600:g} h, so sending it again could charge "
                "twice",
                hint=f"`rehearsal cleanup {self.run_id}` settles what the ledger knows; an "
                f"answer that was lost is in {self.provider.name}'s dashboard under that key "
                "(metadata rehearsal_key)",
            )
        fields: dict[str, str] = {"awaited_object": about} if about else {}
        if key is not None and row["object_id"] is None:
            fields["outcome"] = CallOutcome.INTENT  # unknown until the answer is written
        self.store.step_intent(
            self.run_id,
            step_id,
            state=StepState.CALLING,
            idempotency_key=key,
            amount=amount,
            called_at=now,
            first_called_at=first or now,
            gave_up_at=None,
            **fields,
        )
        failpoint("after-intent", step_id)

    def called(self, step_id: str, obj: ProviderObject) -> None:
        failpoint("after-call", step_id)  # the provider acted; the ledger does not know yet
        self.store.update_step(
            self.run_id,
            step_id,
            state=StepState.AWAITING,
            outcome=CallOutcome.ANSWERED,
            object_kind=obj.kind,
            object_id=obj.id,
            status=obj.status,
            request_id=obj.request_id,
            card=_card_label(obj),
        )
        if obj.kind != "refund":
            self.store.observe(self.run_id, obj, step_id)

    def call(self, step_id: str, call: Callable[[], ProviderObject]) -> ProviderObject:
        """A money call. Its outcome stays "intent" (unknown) unless the provider answered:
        an answer is recorded by `called`, a 4xx refusal as refused. Whatever else stops it
        (retries exhausted after the work was done, a timeout, Ctrl-C) leaves it unknown,
        with the time this process gave up, for the settle engine to resolve."""
        try:
            return call()
        except ProviderError as exc:
            from rehearsal.ledger.lookup import refused

            if refused(exc):
                self.store.update_step(self.run_id, step_id, outcome=CallOutcome.REFUSED)
            else:
                self.store.update_step(self.run_id, step_id, gave_up_at=time.time())
            raise
        except BaseException:
            self.store.update_step(self.run_id, step_id, gave_up_at=time.time())
            raise


def _card_label(obj: ProviderObject) -> str | None:
    """What the ledger keeps of a card: its brand and last four digits, never more."""
    if obj.card_last4 is None:
        return None
    return f"{obj.card_brand or 'card'} ••{obj.card_last4[-4:]}"
