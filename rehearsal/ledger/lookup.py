"""Step 1 of the settle engine: every money call whose answer is unknown, resolved by its
idempotency key.

The process died, the last retry failed after the provider did the work, every attempt
timed out: the call is looked up by its key. Found, it is adopted into the ledger (then
refunded or cancelled like any other). Not found, it is recorded as never made only once it
can no longer land (waits.py: its last attempt's send time, plus the client's timeout, plus
the landing window). Until then, or where the provider cannot look a key up, it stays
unknown and the run is not settled. This never sends a call again, except `--replay`: the
same call with the same key, while the provider still keeps that key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rehearsal.errors import ProviderError
from rehearsal.events import Compensated, Listener
from rehearsal.ledger.connection import SqlValue
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import StepRow
from rehearsal.ledger.states import (
    KEYED_ACTIONS,
    CallOutcome,
    CompensationState,
    StepState,
)
from rehearsal.ledger.waits import Landing
from rehearsal.providers.base import KeyLookupUnsupported, Provider, ProviderObject

LOOKUP_POLL = 0.25  # seconds between lookups of a call that may still land

# Sends a lost call again, unchanged, with its own key; returns what the provider made.
Replay = Callable[[StepRow], ProviderObject]


def refused(exc: ProviderError) -> bool:
    """A 4xx answer (not a timeout, conflict or rate limit) to a call that made nothing
    before it (a flow that fails after making something says so in `exc.made`)."""
    if exc.made is not None or exc.status is None:
        return False
    return 400 <= exc.status < 500 and exc.status not in (408, 409, 429)


class UnknownOutcomes:
    """Resolves `run_id`'s unknown call outcomes; the steps still unknown go to `unknown`."""

    def __init__(
        self,
        run_id: str,
        provider: Provider,
        store: StateDB,
        emit: Listener,
        landing: Landing,
        *,
        act: bool,
        replay: Replay | None,
        unknown: list[str],
    ) -> None:
        self.run_id, self.provider, self.store, self.emit = run_id, provider, store, emit
        self.landing, self.act, self.replay, self.unknown = landing, act, replay, unknown

    def resolve(self) -> None:
        for step in self.store.steps(self.run_id):
            outcome = self.store.call_outcome(step)
            if outcome == CallOutcome.INTENT:
                self._look_up(step)
            elif outcome == CallOutcome.NEVER_MADE:
                self._look_again(step)

    def _look_again(self, step: StepRow) -> None:
        """ "Never made" was concluded at a deadline no provider documents: each later
        settle asks once more, so a call that landed after all is still found."""
        kind = KEYED_ACTIONS[step["action"]]
        key = step["idempotency_key"]
        if key is None:
            return
        try:
            found = self.provider.find_by_idempotency_key(kind, key)
        except (KeyLookupUnsupported, ProviderError):
            return
        if found is not None:
            self._adopt(step, found)

    def _look_up(self, step: StepRow) -> None:
        kind = KEYED_ACTIONS[step["action"]]
        key, step_id = step["idempotency_key"], step["step_id"]
        if key is None:
            return  # a keyed call's intent always carries its key
        label = f"({step_id}: {key})"
        sent = self.store.last_send(self.run_id, step_id) or step["called_at"]
        until = self.landing.until(sent)
        told = False
        try:
            while True:
                found = self.provider.find_by_idempotency_key(kind, key)
                now = time.time()
                if found is not None or not self.landing.wait or until is None or now >= until:
                    break
                if not told:
                    told = True
                    self.emit(
                        Compensated(
                            "look_up",
                            label,
                            step["amount"],
                            f"not found yet; the call may still land, so this waits until "
                            f"{time.strftime('%H:%M:%S', time.localtime(until))} (its last "
                            "send, the HTTP timeout and REHEARSAL_LANDING_WINDOW)",
                        )
                    )
                time.sleep(min(LOOKUP_POLL, max(0.0, until - now)))
        except KeyLookupUnsupported:
            if self._moot_refund(step):
                return
            if self.replay is not None and self.act:
                self._replay(step, label)
                return
            sent_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sent or time.time()))
            self._unknown(
                step,
                label,
                f"unknown: {self.provider.name} cannot look up what key {key} made; check "
                f"its dashboard for a {kind} made about {sent_at}, or run "
                f"`rehearsal cleanup {self.run_id} --replay` to send the call again with "
                "the same key while the provider keeps it (what it made comes back, or is "
                "made now, then refunded or cancelled)",
            )
            return
        except ProviderError as exc:
            self._unknown(step, label, f"unknown: the lookup failed: {exc.message}")
            return
        if found is not None:
            self._adopt(step, found)
            return
        if self._moot_refund(step):
            return
        if until is None or time.time() < until:
            when = (
                "while the process that sent it runs"
                if until is None
                else f"until {time.strftime('%H:%M:%S', time.localtime(until))}"
            )
            self._unknown(
                step,
                label,
                f"unknown: no {kind} with key {key} yet, but the call could still land "
                f"{when}; run `rehearsal cleanup {self.run_id}` again after that",
            )
            return
        message = f"no {kind} was made with key {key}: the call never reached {self.provider.name}"
        seq = self.store.compensation_intent(
            self.run_id, step_id, "look_up", key, step["amount"], key
        )
        self.store.compensation_result(seq, CompensationState.DONE, None, message)
        self.store.update_step(self.run_id, step_id, outcome=CallOutcome.NEVER_MADE)
        self.emit(Compensated("look_up", label, step["amount"], f"done: {message}"))

    def _replay(self, step: StepRow, label: str) -> None:
        """Learn a lost call's outcome by sending it again, unchanged, with its own key,
        while the provider still replays that key (never after: that could charge twice)."""
        assert self.replay is not None
        window = self.provider.idempotency_window
        first = step["first_called_at"] or step["called_at"] or time.time()
        if window is not None and time.time() - first > window:
            self._unknown(
                step,
                label,
                f"unknown: key {step['idempotency_key']} was first sent "
                f"{(time.time() - first) / 3600:.0f} h ago and {self.provider.name} forgets "
                f"keys after {window / 3600:g} h, so it is not sent again; check the "
                "provider's dashboard for the object",
            )
            return
        try:
            found = self.replay(step)
        except ProviderError as exc:
            if refused(exc):
                # The same call with the same key, refused: the original was refused too.
                self.store.update_step(self.run_id, step["step_id"], outcome=CallOutcome.REFUSED)
                self.emit(Compensated("replay", label, step["amount"], f"refused: {exc.message}"))
                return
            self._unknown(step, label, f"unknown: the replay failed: {exc.message}")
            return
        self.emit(Compensated("replay", label, step["amount"], "sent again with its own key"))
        self._adopt(step, found)

    def _unknown(self, step: StepRow, label: str, message: str) -> None:
        self.unknown.append(step["step_id"])
        self.emit(Compensated("look_up", label, step["amount"], message))

    def _adopt(self, step: StepRow, found: ProviderObject) -> None:
        key, step_id = step["idempotency_key"], step["step_id"]
        fields: dict[str, SqlValue] = {
            "object_kind": found.kind,
            "object_id": found.id,
            "status": found.status,
            "request_id": found.request_id,
            "outcome": CallOutcome.ANSWERED,
        }
        if step["state"] in (StepState.CALLING, StepState.PENDING):
            fields["message"] = f"its answer was lost; found by its key {key}"
        self.store.update_step(self.run_id, step_id, **fields)
        if found.kind == "refund" and found.payment_id:
            self.store.update_step(self.run_id, step_id, awaited_object=found.payment_id)
        else:
            self.store.observe(self.run_id, found, step_id)
        self.emit(Compensated("look_up", found.id, step["amount"], f"found by its key {key}"))

    def _moot_refund(self, step: StepRow) -> bool:
        """A refund whose answer was lost, on a payment now fully refunded: whether it
        landed no longer changes the books (a later copy would be refused as too much)."""
        if step["action"] != "refund" or not step["awaited_object"]:
            return False
        try:
            payment = self.provider.retrieve("payment", step["awaited_object"])
        except ProviderError:
            return False
        self.store.observe(self.run_id, payment)
        if payment.amount_refunded < payment.amount:
            return False
        self.store.update_step(self.run_id, step["step_id"], outcome=CallOutcome.MOOT)
        return True
