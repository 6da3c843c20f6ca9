"""The one settle engine: reconcile a run's ledger with the provider's books, then refund
what it charged and cancel what it subscribed.

Compensation at the end of a run, `rehearsal cleanup` and `status` all settle a run through
this module (and the reports read its record, totals.py), so they cannot disagree. It works
from the state database, not from memory: in the process that failed, after a crash, or
days later.

1. Every money call whose answer is unknown is resolved by its idempotency key (lookup.py).
2. Each payment and subscription is read back through the API and recorded
   (`observations`), with what already landed: a refund or cancel sent by a process that
   died before writing its answer is recorded as done, not sent again.
3. What is left is refunded (the run's charges and its subscriptions' own payments) or
   cancelled, each written as an intent before it is sent, with a deterministic key.
   A refund the provider still shows pending (PayMongo's and Stripe's refunds start so) is
   waited for, within REHEARSAL_REFUND_WAIT (waits.py): a pending refund can still fail,
   and a failed one is money left charged. One that failed is sent again by a later
   settle (`cleanup`) under a new key: the old key would only replay the failure.
4. With `act`, the webhook registrations the run made are undone (registrations.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec

from rehearsal.errors import ProviderError
from rehearsal.events import Compensated, Listener
from rehearsal.ledger.db import StateDB
from rehearsal.ledger.lookup import Replay, UnknownOutcomes
from rehearsal.ledger.registrations import remove_registrations
from rehearsal.ledger.states import CompensationState
from rehearsal.ledger.totals import NOT_CHARGED
from rehearsal.ledger.waits import Landing, refund_wait, until_refunds_final
from rehearsal.providers.base import (
    FeatureUnavailable,
    ObjectGone,
    Provider,
    ProviderObject,
)
from rehearsal.providers.keys import cleanup_key

P = ParamSpec("P")
REASON = "rehearsal cleanup"


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
    result = Settlement()
    UnknownOutcomes(
        run_id, provider, store, emit, landing, act=act, replay=replay, unknown=result.unknown
    ).resolve()
    _Engine(run_id, provider, store, emit, act, result).payments_and_subscriptions()
    if act:
        result.failed.extend(remove_registrations(run_id, provider, store, emit))
    return result


class _Engine:
    """Steps 2 and 3: read each payment and subscription back, then refund and cancel."""

    def __init__(
        self,
        run_id: str,
        provider: Provider,
        store: StateDB,
        emit: Listener,
        act: bool,
        result: Settlement,
    ) -> None:
        self.run_id, self.provider, self.store, self.emit = run_id, provider, store, emit
        self.act, self.result = act, result

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

    def _guarded(
        self,
        action: str,
        object_id: str,
        work: Callable[P, None],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> None:
        """One object's settling. Whatever goes wrong with it (an answer of a shape we did
        not expect, a bug), the others are still settled and this one is reported."""
        try:
            work(*args, **kwargs)
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
                current = until_refunds_final(self.provider, payment_id, current)
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
            after = until_refunds_final(
                self.provider, payment_id, self.provider.retrieve("payment", payment_id)
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
