"""The one settle engine: reconcile a run's ledger with the provider's books, then refund
what it charged and cancel what it subscribed.

Compensation at the end of a run, `rehearsal cleanup`, `status` and the reports all read
the run's money through this module, so they cannot disagree. It works from the state
database, not from memory: in the process that failed, after a crash, or days later.

1. Every money call whose answer is unknown (the process died, the last retry failed after
   the provider did the work, every attempt timed out) is looked up by its idempotency key.
   Found, it is adopted into the ledger. Not found, it is recorded as never made only once
   it can no longer land (its last attempt's send time, plus the client's timeout, plus the
   landing window: a provider may finish a request after the client gave up). Until then,
   or where the provider cannot look a key up, it stays unknown and the run is not settled.
2. Each payment and subscription is read back through the API and recorded
   (`observations`), with what already landed: a refund or cancel sent by a process that
   died before writing its answer is recorded as done, not sent again.
3. What is left is refunded (the run's charges and its subscriptions' own payments) or
   cancelled, each written as an intent before it is sent, with a deterministic key.
   A refund the provider still shows pending (PayMongo's and Stripe's refunds start so) is
   waited for, within REHEARSAL_REFUND_WAIT: a pending refund can still fail, and a failed
   one is money left charged. One that failed is sent again by a later settle (`cleanup`)
   under a new key: the old key would only replay the failure.

`money()` reads only the ledger (no API call): the last reconciliation plus what is unknown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rehearsal.errors import ProviderError
from rehearsal.events import Compensated, Listener
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import StepRow
from rehearsal.ledger.states import (
    KEYED_ACTIONS,
    CallOutcome,
    CompensationState,
    StepState,
)
from rehearsal.providers.base import (
    FeatureUnavailable,
    KeyedKind,
    KeyLookupUnsupported,
    ObjectGone,
    Provider,
    ProviderObject,
    WebhookState,
)
from rehearsal.providers.keys import cleanup_key

REASON = "rehearsal cleanup"
LOOKUP_POLL = 0.25  # seconds between lookups of a call that may still land
DEFAULT_REFUND_WAIT = 60.0  # seconds a pending refund is waited for (REHEARSAL_REFUND_WAIT)
REFUND_POLL = (0.05, 2.0)  # the first pause between reads of a pending refund, the longest
# A payment in one of these states took no money (or none yet that can be refunded).
NOT_CHARGED = {"failed", "awaiting_next_action", "requires_action", "cancelled", "canceled"}


# Sends a lost call again, unchanged, with its own key; returns what the provider made.
Replay = Callable[[StepRow], ProviderObject]


def refused(exc: ProviderError) -> bool:
    """A 4xx answer (not a timeout, conflict or rate limit) to a call that made nothing
    before it (a flow that fails after making something says so in `exc.made`)."""
    if exc.made is not None or exc.status is None:
        return False
    return 400 <= exc.status < 500 and exc.status not in (408, 409, 429)


@dataclass(frozen=True)
class Landing:
    """When a call with no answer can no longer land at the provider.

    `window`: seconds after its last attempt was sent (None: it may always still land, as
    while the embedded simulator that received it is still running). `wait`: poll the
    lookup until then (cleanup) rather than look once (compensation inside a run).
    """

    window: float | None
    wait: bool = False

    def until(self, sent: float | None) -> float | None:
        if self.window is None:
            return None
        return (sent or time.time()) + self.window


@dataclass
class Settlement:
    unknown: list[str] = field(default_factory=list)  # steps whose call outcome is unknown
    failed: list[str] = field(default_factory=list)  # refunds or cancels that did not happen

    @property
    def settled(self) -> bool:
        return not self.unknown and not self.failed


def settle(
    run_id: str,
    provider: Provider,
    store: StateDB,
    emit: Listener,
    landing: Landing,
    replay: Replay | None = None,
    *,
    act: bool = True,
) -> Settlement:
    """Reconcile, then refund and cancel what `run_id` left open. With `act` False, only
    reconcile (`status`, and a run told --no-cleanup): read the books, move nothing."""
    engine = _Engine(run_id, provider, store, emit, landing, act, replay)
    engine.resolve_unknown()
    engine.payments_and_subscriptions()
    if act:
        engine.registrations()
    return engine.result


class _Engine:
    def __init__(
        self,
        run_id: str,
        provider: Provider,
        store: StateDB,
        emit: Listener,
        landing: Landing,
        act: bool,
        replay: Replay | None = None,
    ) -> None:
        self.run_id, self.provider, self.store, self.emit = run_id, provider, store, emit
        self.landing, self.act, self.replay = landing, act, replay
        self.result = Settlement()

    # --- 1. calls whose answer is unknown ---------------------------------------------------

    def resolve_unknown(self) -> None:
        for step in self.store.steps(self.run_id):
            outcome = self.store.call_outcome(step)
            if outcome == CallOutcome.INTENT:
                self._look_up(step)
            elif outcome == CallOutcome.NEVER_MADE:
                self._look_again(step)

    def _look_again(self, step: StepRow) -> None:
        """ "Never made" was concluded at a deadline no provider documents: each later
        settle asks once more, so a call that landed after all is still found."""
        kind: KeyedKind = KEYED_ACTIONS[step["action"]]  # type: ignore[assignment]
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
        kind: KeyedKind = KEYED_ACTIONS[step["action"]]  # type: ignore[assignment]
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
        self.result.unknown.append(step["step_id"])
        self.emit(Compensated("look_up", label, step["amount"], message))

    def _adopt(self, step: StepRow, found: ProviderObject) -> None:
        key, step_id = step["idempotency_key"], step["step_id"]
        fields: dict[str, Any] = {
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

    # --- 2 and 3. reconcile, then refund and cancel -----------------------------------------

    def payments_and_subscriptions(self) -> None:
        steps = self.store.steps(self.run_id)
        payments: dict[str, str] = {}  # payment id -> the step it belongs to
        for s in steps:
            if s["action"] == "charge" and s["object_id"]:
                payments[s["object_id"]] = s["step_id"]
        for o in self.store.observations(self.run_id):
            if o["kind"] == "payment":
                payments.setdefault(o["object_id"], o["step_id"] or "")
        subscriptions = {  # subscribe step -> its subscription
            s["step_id"]: s["object_id"]
            for s in steps
            if s["action"] == "subscribe" and s["object_id"]
        }
        known = set(payments)
        for step_id, sub_id in subscriptions.items():
            # First, so no renewal charges after the refunds.
            self._guarded("cancel", sub_id, self._cancel, step_id, sub_id)
        for payment_id, step_id in payments.items():
            whose = "refund_subscription_payment" if step_id in subscriptions else "refund"
            self._guarded(whose, payment_id, self._refund, step_id, payment_id, whose)
        for step_id, sub_id in subscriptions.items():
            self._guarded(
                "refund_subscription_payment",
                sub_id,
                self._subscription_payments,
                step_id,
                sub_id,
                known,
            )

    def _guarded(self, action: str, object_id: str, work: Callable[..., None], *args: Any) -> None:
        """One object's settling. Whatever goes wrong with it (an answer of a shape we did
        not expect, a bug), the others are still settled and this one is reported."""
        try:
            work(*args)
        except Exception as exc:
            self._failed(action, object_id, None, f"failed: {type(exc).__name__}: {exc}")

    def _refund(self, step_id: str, payment_id: str, action: str) -> None:
        """Refund what is left of one payment; `action` says whose payment it is."""
        try:
            current = self.provider.retrieve("payment", payment_id)
        except ProviderError as exc:
            self._failed(action, payment_id, None, f"failed: {exc.message}")
            return
        if self.act and current.amount_refund_pending:
            try:  # an earlier refund still pending may yet fail: know before judging
                current = self._until_refunds_settle(payment_id, current)
            except ProviderError as exc:
                self._failed(action, payment_id, None, f"failed: {exc.message}")
                return
        self.store.observe(self.run_id, current, step_id or None)
        left = current.amount - current.amount_refunded
        if current.status in NOT_CHARGED or left <= 0:
            self._landed(payment_id, ("refund", "refund_subscription_payment"))
            return
        if not self.act:
            self.result.failed.append(payment_id)  # left open; reported, not touched
            return
        if self._refused_before(payment_id):
            self.emit(Compensated(action, payment_id, left, "not possible in test mode"))
            return
        key = self._refund_key(step_id, payment_id, left)
        seq = self.store.compensation_intent(self.run_id, step_id, action, payment_id, left, key)
        try:
            refund = self.provider.refund(
                idempotency_key=key, payment_id=payment_id, amount=left, reason=REASON
            )
            after = self._until_refunds_settle(
                payment_id, self.provider.retrieve("payment", payment_id)
            )
        except FeatureUnavailable as exc:
            if self.provider.environment != "test":
                self.store.compensation_result(seq, CompensationState.FAILED, exc.request_id)
                self._failed(action, payment_id, left, f"failed: {exc.message}")
                return
            # PayMongo refunds live payments only: a test payment stays charged, test money.
            self.store.compensation_result(
                seq, CompensationState.UNAVAILABLE, exc.request_id, exc.message
            )
            self.store.observe(self.run_id, current, step_id or None, refund_unavailable=True)
            self.emit(
                Compensated(action, payment_id, left, f"not possible in test mode: {exc.message}")
            )
            return
        except ProviderError as exc:
            self.store.compensation_result(
                seq, CompensationState.FAILED, exc.request_id, exc.message
            )
            self._failed(action, payment_id, left, f"failed: {exc.message}")
            return
        self.store.observe(self.run_id, after, step_id or None)
        if after.amount_refunded < after.amount:
            message = f"the API shows {after.amount_refunded} of {after.amount} refunded"
            self.store.compensation_result(
                seq, CompensationState.FAILED, refund.request_id, message
            )
            self._failed(action, payment_id, left, f"failed: {message}")
            return
        if after.amount_refund_pending:
            waited = f"still pending at the provider after {refund_wait():g} s"
            self.store.compensation_result(seq, CompensationState.DONE, refund.request_id, waited)
            self.emit(
                Compensated(
                    action,
                    payment_id,
                    left,
                    f"sent, {waited}: `rehearsal status` reads it again; a refund that "
                    "fails shows as outstanding, and `rehearsal cleanup` sends it again",
                )
            )
            return
        self.store.compensation_result(seq, CompensationState.DONE, refund.request_id)
        self.emit(Compensated(action, payment_id, left, "done, confirmed through the API"))

    def _until_refunds_settle(self, payment_id: str, current: ProviderObject) -> ProviderObject:
        """`current` read again until none of its refunds is pending at the provider, or
        as it stands when REHEARSAL_REFUND_WAIT has passed. The provider's books are the
        condition; reading them with a growing pause is the only way to wait on them here
        (cleanup runs with no receiver for the refund's webhook)."""
        deadline = time.monotonic() + refund_wait()
        pause, longest = REFUND_POLL
        while current.amount_refund_pending and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(pause, left))
            pause = min(pause * 2, longest)
            current = self.provider.retrieve("payment", payment_id)
        return current

    def _refund_key(self, step_id: str, payment_id: str, left: int) -> str:
        """The deterministic key for refunding `left` of the payment. An attempt with that
        key which ended (done, or failed) while the money is still left was refused or
        failed at the provider later; sending it again under the same key would only
        replay that answer, so each such attempt moves the key on (`-2`, `-3`, ...). An
        attempt whose outcome is unknown (still an intent) keeps its key: if it landed,
        its key finds it."""
        key = cleanup_key(self.run_id, step_id, payment_id, left)
        ended = (CompensationState.DONE, CompensationState.FAILED)
        attempts = sum(
            1
            for c in self.store.compensations(self.run_id)
            if c["object_id"] == payment_id
            and c["state"] in ended
            and (c["idempotency_key"] == key or (c["idempotency_key"] or "").startswith(key + "-"))
        )
        return key if attempts == 0 else f"{key}-{attempts + 1}"

    def _refused_before(self, payment_id: str) -> bool:
        return any(
            o["object_id"] == payment_id and o["refund_unavailable"]
            for o in self.store.observations(self.run_id)
        )

    def _landed(self, object_id: str, actions: tuple[str, ...]) -> None:
        """Compensations of `object_id` still written as intents, when the API shows the
        work done: they landed before the process that sent them died. A failed attempt
        that a later attempt followed stays failed: the later one did the work."""
        mine = [
            c
            for c in self.store.compensations(self.run_id)
            if c["object_id"] == object_id and c["action"] in actions
        ]
        last = max((c["seq"] for c in mine), default=None)
        for c in mine:
            if c["state"] == CompensationState.INTENT or (
                c["state"] == CompensationState.FAILED and c["seq"] == last
            ):
                self.store.compensation_result(
                    c["seq"],
                    CompensationState.DONE,
                    c["request_id"],
                    "landed; confirmed through the API by a later settle",
                )

    def _subscription_payments(self, step_id: str, sub_id: str, known: set[str]) -> None:
        """The subscription's own charges (first period, renewals) are this run's money."""
        try:
            payments = self.provider.subscription_payments(sub_id)
        except ObjectGone as exc:
            self._gone_payments(step_id, sub_id, exc)
            return
        except ProviderError as exc:
            self._failed(
                "refund_subscription_payment", sub_id, None, f"failed to list: {exc.message}"
            )
            return
        for payment in payments:
            if payment.id in known:
                continue
            self.store.observe(self.run_id, payment, step_id)
            self._refund(step_id, payment.id, "refund_subscription_payment")

    def _gone_payments(self, step_id: str, sub_id: str, exc: ObjectGone) -> None:
        """A subscription the provider no longer has cannot list its payments: they stand
        as the ledger last observed them. Settled only if every one was refunded then; a
        payment the ledger never saw would be invisible, so this is said, not assumed."""
        seen = [
            o
            for o in self.store.observations(self.run_id)
            if o["kind"] == "payment" and o["step_id"] == step_id
        ]
        open_ = [o["object_id"] for o in seen if o["amount_refunded"] < o["amount"]]
        if open_:
            self._failed(
                "refund_subscription_payment",
                sub_id,
                None,
                f"{exc.message}; its payments {', '.join(open_)} were not all refunded when "
                "last seen, and cannot be read back: check the provider's dashboard",
            )
            return
        self.emit(
            Compensated(
                "refund_subscription_payment",
                sub_id,
                None,
                f"{exc.message}; its {len(seen)} payment(s) were refunded when last seen",
            )
        )

    def _cancel(self, step_id: str, sub_id: str) -> None:
        try:
            current = self.provider.retrieve("subscription", sub_id)
        except ObjectGone as exc:  # nothing more can charge through it
            self._landed(sub_id, ("cancel",))
            if self._observe_gone(step_id, sub_id):
                self.emit(Compensated("cancel", sub_id, None, f"done: {exc.message}"))
            return
        except ProviderError as exc:
            self._failed("cancel", sub_id, None, f"failed: {exc.message}")
            return
        try:
            self.store.observe(self.run_id, current, step_id)
            if current.status == "cancelled":
                self._landed(sub_id, ("cancel",))
                return
            if not self.act:
                self.result.failed.append(sub_id)
                return
            seq = self.store.compensation_intent(self.run_id, step_id, "cancel", sub_id, None, None)
            cancelled = self.provider.cancel(subscription_id=sub_id, reason=REASON)
        except ProviderError as exc:
            self._failed("cancel", sub_id, None, f"failed: {exc.message}")
            return
        self.store.observe(self.run_id, cancelled, step_id)
        ok = cancelled.status == "cancelled"
        self.store.compensation_result(
            seq,
            CompensationState.DONE if ok else CompensationState.FAILED,
            cancelled.request_id,
            None if ok else f"status {cancelled.status!r}",
        )
        if not ok:
            self._failed("cancel", sub_id, None, f"failed: status {cancelled.status!r}")
            return
        self.emit(Compensated("cancel", sub_id, None, "done, confirmed through the API"))

    def _observe_gone(self, step_id: str, sub_id: str) -> bool:
        """The ledger's last sight of a subscription that is gone, as ended: it is. True
        when that is news (the ledger last saw it otherwise, or never)."""
        last = [o for o in self.store.observations(self.run_id) if o["object_id"] == sub_id]
        if last and last[-1]["status"] == "cancelled":
            return False
        if last:
            seen = last[-1]
            self.store.observe(
                self.run_id,
                ProviderObject(
                    kind="subscription",
                    id=sub_id,
                    status="cancelled",
                    amount=seen["amount"],
                    currency=seen["currency"] or "",
                    environment=self.provider.environment,
                ),
                step_id,
            )
        return True

    def _failed(self, action: str, object_id: str, amount: int | None, message: str) -> None:
        self.result.failed.append(object_id)
        self.emit(Compensated(action, object_id, amount, message))

    # --- webhook registrations made through the provider's API ------------------------------

    def registrations(self) -> None:
        left = remove_registrations(self.run_id, self.provider, self.store, self.emit)
        self.result.failed.extend(left)


def remove_registrations(
    run_id: str, provider: Provider, store: StateDB, emit: Listener
) -> list[str]:
    """Undo the webhook registrations `run_id` made through the provider's API: a webhook
    it created is removed (disabled), one it adopted is given back as it was (its events,
    and disabled again if it was). Returns those left, or whose registration is lost."""
    remove: Callable[[str], None] | None = getattr(provider, "remove_webhook", None)
    restore: Callable[[str, WebhookState | None], None] | None = getattr(
        provider, "restore_webhook", None
    )
    find: Callable[[str], str | None] | None = getattr(provider, "find_webhook", None)
    left: list[str] = []
    for r in store.registrations(run_id):
        if r["state"] == "removed":
            continue
        if r["state"] == "looking":  # killed while listing: nothing was changed
            store.registration_state(r["seq"], "removed")
            continue
        endpoint_id = r["endpoint_id"]
        if not endpoint_id and find is not None:
            try:  # its answer was lost: the provider lists webhooks by URL
                endpoint_id = find(r["url"])
            except ProviderError:
                left.append(r["url"])
                continue
            if endpoint_id is None:  # not there: the registration never landed
                store.registration_state(r["seq"], "removed")
                continue
            store.registration_state(r["seq"], "registered", endpoint_id)
        if not endpoint_id or (remove is None and restore is None):
            left.append(r["url"])
            emit(
                Compensated(
                    "remove_webhook",
                    r["url"],
                    None,
                    "unknown: its registration's answer was lost; check the provider's "
                    "webhooks for this URL",
                )
            )
            continue
        prior = _prior(endpoint_id, r["prior_status"], r["prior_events"])
        try:
            if restore is not None:
                restore(endpoint_id, prior)
            elif remove is not None:
                remove(endpoint_id)
        except ProviderError as exc:
            left.append(endpoint_id)
            emit(Compensated("remove_webhook", endpoint_id, None, f"failed: {exc.message}"))
            continue
        store.registration_state(r["seq"], "removed")
        done = "done" if prior is None else f"done: given back {prior.status}, its events as before"
        emit(Compensated("remove_webhook", endpoint_id, None, done))
    return left


def _prior(endpoint_id: str, status: str | None, events: str | None) -> WebhookState | None:
    """An adopted webhook's state before the run, from the ledger (None: the run made it)."""
    if status is None:
        return None
    return WebhookState(endpoint_id, status, tuple(json.loads(events or "[]")))


# --- the run's money, from the ledger alone ---------------------------------------------------


def money(store: StateDB, run_id: str) -> dict[str, Any]:
    """Where a run's money stands: the last reconciliation with the provider's API, the
    answers the run recorded, and what is still unknown. No API call."""
    steps = store.steps(run_id)
    seen = {(o["kind"], o["object_id"]): o for o in store.observations(run_id)}
    payments: dict[str, Mapping[str, Any]] = {
        oid: o for (kind, oid), o in seen.items() if kind == "payment"
    }
    for s in steps:  # answered, not yet read back: as the answer showed it
        if s["action"] == "charge" and s["object_id"] and s["object_id"] not in payments:
            payments[s["object_id"]] = {
                "status": s["status"] or "succeeded",
                "amount": s["amount"] or 0,
                "amount_refunded": 0,
                "refund_unavailable": 0,
                "step_id": s["step_id"],
            }
    charged = refunded = unavailable = subscription_charged = pending = 0
    subscribe_steps = {s["step_id"] for s in steps if s["action"] == "subscribe"}
    for p in payments.values():
        if p["status"] in NOT_CHARGED:
            continue
        charged += p["amount"]
        refunded += p["amount_refunded"]
        pending += p.get("refund_pending") or 0
        if p["step_id"] in subscribe_steps:
            subscription_charged += p["amount"]
        if p["refund_unavailable"]:
            unavailable += p["amount"] - p["amount_refunded"]
    subs = {oid: o["status"] for (kind, oid), o in seen.items() if kind == "subscription"}
    cancelled_by_step = {
        s["object_id"] for s in steps if s["action"] == "cancel" and s["object_id"]
    }
    for s in steps:
        if s["action"] == "subscribe" and s["object_id"] and s["object_id"] not in subs:
            subs[s["object_id"]] = (
                "cancelled" if s["object_id"] in cancelled_by_step else s["status"] or "active"
            )
    unknown = [
        {
            "step": s["step_id"],
            "action": s["action"],
            "idempotency_key": s["idempotency_key"],
            "amount": s["amount"],
            "called_at": s["called_at"],
        }
        for s in steps
        if s["action"] in KEYED_ACTIONS and store.call_outcome(s) == CallOutcome.INTENT
    ]
    comps = store.compensations(run_id)
    currencies = sorted({o["currency"].upper() for o in seen.values() if o["currency"]})
    return {
        # Amounts are integers in the currency's minor units (USD cents, PHP centavos).
        "currency": currencies[0] if len(currencies) == 1 else _plan_currency(store, run_id),
        "charged": charged,
        "refunded": refunded,
        "outstanding": charged - refunded - unavailable,
        "not_refundable_in_test": unavailable,
        # Of `refunded`, what the provider still shows pending: not back on the card yet,
        # and it may still fail (a later `status` reads it again).
        "refunds_pending": pending,
        "active_subscriptions": sorted(k for k, v in subs.items() if v != "cancelled"),
        "subscription_payments": subscription_charged,
        "subscription_payments_refunded": sum(
            c["amount"] or 0
            for c in comps
            if c["action"] == "refund_subscription_payment" and c["state"] == "done"
        ),
        "unknown_outcomes": unknown,
    }


def _plan_currency(store: StateDB, run_id: str) -> str | None:
    import json

    run = store.run(run_id)
    if run is None or not run["plan_json"]:
        return None
    currency = json.loads(run["plan_json"]).get("currency")
    return str(currency).upper() if currency else None


def left_open(m: dict[str, Any]) -> bool:
    """True when a run's money view shows anything left: money, a subscription, an unknown."""
    return bool(m["outstanding"] or m["active_subscriptions"] or m["unknown_outcomes"])


def refund_wait() -> float:
    """Seconds a refund the provider shows pending is waited for (REHEARSAL_REFUND_WAIT)."""
    return _seconds("REHEARSAL_REFUND_WAIT", DEFAULT_REFUND_WAIT)


def _seconds(variable: str, default: float) -> float:
    """A number of seconds, 0 or more, from `variable` (unset: `default`); anything else is
    a usage error naming the variable."""
    import math
    import os

    from rehearsal.errors import UsageError

    raw = os.environ.get(variable, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise UsageError(
            f"{variable} must be a number of seconds, 0 or more",
            hint=f"unset it for the default ({default:g} s)",
        )
    return value


DEFAULT_LANDING_WINDOW = 300.0  # seconds; an assumption: no provider documents a bound


def landing_window(*, embedded: bool, http_timeout: float, in_process: bool) -> float | None:
    """Seconds after its last attempt was sent that a call with no answer may still land.

    The embedded simulator runs in the process that sent the call: while it runs (the run's
    own compensation) the call may still finish (None); once that process is gone (cleanup
    from another process) nothing in flight can land. A remote provider may finish a request
    after the client's timeout: the client's timeout plus REHEARSAL_LANDING_WINDOW.
    """
    if embedded:
        return None if in_process else 0.0
    return http_timeout + _seconds("REHEARSAL_LANDING_WINDOW", DEFAULT_LANDING_WINDOW)
