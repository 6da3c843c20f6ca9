"""The confirmation of a step's transition, two ways within the step's deadline: the signed
webhook about this run's object (of the plan's type), checked, then the API's word on the
object, checked. On a timeout it asks the API whether the state was reached, so "the webhook
was lost" and "the transition never happened" read differently. It raises AssertionFailed
when either word disagrees; it never moves money."""

from __future__ import annotations

import time
from collections.abc import Callable

from rehearsal.engine.checks import Check
from rehearsal.engine.context import StepContext
from rehearsal.errors import AssertionFailed
from rehearsal.events import Awaiting, WebhookArrived, event_name
from rehearsal.plan.model import AwaitRenewalStep, CancelStep, ChargeStep, RefundStep, SubscribeStep
from rehearsal.providers.base import NormalizedEvent, ObjectKind, ProviderObject

RESUME_GRACE = 1.0  # seconds a resumed step waits for a retried webhook the API already confirms
API_POLL = 0.5  # seconds between API checks while an optional webhook may still come

# The steps that wait for a webhook (all but a manual checkpoint).
WaitingStep = ChargeStep | RefundStep | SubscribeStep | AwaitRenewalStep | CancelStep
Match = Callable[[NormalizedEvent], bool]


def confirm(
    run: StepContext,
    step: WaitingStep,
    kind: ObjectKind,
    object_id: str,
    called: float,
    check: Check,
    extra: Match | None = None,
    fails: Callable[[NormalizedEvent], str | None] | None = None,
) -> tuple[NormalizedEvent | None, ProviderObject]:
    """The step's webhook about `object_id` (of the plan's type, and `extra`), checked,
    then the API's word on the object, checked. `fails`: why an event about the object,
    whatever its type, shows the transition failed (the step fails at once), or None."""
    expected = step.expect.event
    within = step.expect.within * run.scale

    def match(e: NormalizedEvent) -> bool:
        if e.object is None or e.object.id != object_id:
            return False
        if fails is not None and fails(e) is not None:
            return True
        return e.type == expected and (extra is None or extra(e))

    assert run.hub is not None, "a runner that waits needs a receiver's hub"
    if step.id in run.resumed and check(run.provider.retrieve(kind, object_id)) is None:
        # Resumed, and the API already shows the transition: its webhook went to a process
        # that is gone. Give a retried delivery a short grace, not the whole deadline.
        within = min(within, RESUME_GRACE * run.scale)
    run.emit(Awaiting(step.id, expected, object_id, within, max(0.0, time.time() - called)))
    if step.expect.webhook == "optional":
        # The provider may send no event for this (PayMongo: cancellation). Take the
        # webhook if it comes, else the API's word as soon as it shows the transition.
        confirmed = _poll_api(run, kind, object_id, check, match, called + within)
        if confirmed is not None:
            return None, confirmed
    run.store.update_step(
        run.run_id, step.id, deadline_at=called + within, awaited_object=object_id
    )
    got = _wait(run, match, time.monotonic() + max(0.0, called + within - time.time()))
    if got is None:
        return None, _unheard(run, step, kind, object_id, check, within)
    arrived, event = got
    latency = max(0.0, (arrived - called) * 1000)
    run.emit(
        WebhookArrived(step.id, event.type, event.event_id, object_id, latency, event.provider_type)
    )
    run.store.update_step(run.run_id, step.id, event_id=event.event_id, latency_ms=latency)
    _judge(run, step, event, object_id, check, fails)
    api = run.provider.retrieve(kind, object_id)
    if problem := check(api):
        raise AssertionFailed(
            f"step {step.id!r}: the webhook said {expected} but the API shows {problem}"
        )
    return event, api


def _unheard(
    run: StepContext,
    step: WaitingStep,
    kind: ObjectKind,
    object_id: str,
    check: Check,
    within: float,
) -> ProviderObject:
    """No webhook by the deadline: the API's object when the step began in a process that
    is gone and the API confirms it; else the failure, saying which of the two went wrong."""
    api = run.provider.retrieve(kind, object_id)
    problem = check(api)
    if problem is None and step.id in run.resumed:
        # This step began in a process that is gone; its webhook may have come while
        # nobody listened. The API confirms the transition; the report says "api".
        return api
    verdict = (
        f"the API shows {kind} {object_id} as {api.status!r}: the state was "
        "reached but the webhook never arrived (lost or not delivered)"
        if problem is None
        else f"the API shows {problem}: the transition did not happen"
    )
    raise AssertionFailed(
        f"step {step.id!r}: no {step.expect.event} webhook for {object_id} within "
        f"{within:g}s; {verdict}"
    )


def _judge(
    run: StepContext,
    step: WaitingStep,
    event: NormalizedEvent,
    object_id: str,
    check: Check,
    fails: Callable[[NormalizedEvent], str | None] | None,
) -> None:
    """The webhook that came: it must not show a failure, its copy of the object must pass
    the check, and the merchant's handler (--forward-to) must have taken it."""
    assert event.object is not None
    if fails is not None and (why := fails(event)):
        raise AssertionFailed(
            f"step {step.id!r}: {why}: the {event_name(event.type, event.provider_type)} "
            f"webhook for {object_id} says so"
        )
    if problem := check(event.object):
        raise AssertionFailed(
            f"step {step.id!r}: the {step.expect.event} webhook for {object_id} shows {problem}"
        )
    forwarded = run.options.forwarded
    if forwarded is not None and (why := forwarded(event.event_id)):
        raise AssertionFailed(
            f"step {step.id!r}: your handler {why} for the "
            f"{event_name(event.type, event.provider_type)} event {event.event_id}"
        )


def _poll_api(
    run: StepContext,
    kind: ObjectKind,
    object_id: str,
    check: Check,
    match: Match,
    deadline: float,
) -> ProviderObject | None:
    """The object once the API shows the transition; None when a matching webhook came
    first, or at the deadline (`deadline` on the time.time() clock)."""
    assert run.hub is not None
    while True:
        left = deadline - time.time()
        if run.hub.wait_for(match, time.monotonic() + min(API_POLL, left)) is not None:
            return None  # the webhook came: the usual path checks it
        api = run.provider.retrieve(kind, object_id)
        if check(api) is None:
            return api
        if left <= API_POLL:
            return None


def _wait(run: StepContext, match: Match, deadline: float) -> tuple[float, NormalizedEvent] | None:
    """The hub's wait, cut into `watch_every` slices with the watch called between them."""
    assert run.hub is not None
    watch, every = run.options.watch, run.options.watch_every
    while True:
        until = deadline if watch is None else min(deadline, time.monotonic() + every)
        got = run.hub.wait_for(match, until)
        if got is not None or until >= deadline or watch is None:
            return got
        watch()
