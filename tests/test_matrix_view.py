"""A quiet matrix hands its PlainViews only the events they print (commands/parallel.py
`loud_only`): every other event, given to a quiet PlainView, prints nothing."""

from __future__ import annotations

import io
import typing

from rehearsal.events import (
    ApiCalled,
    Awaiting,
    Compensated,
    Money,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFailed,
    StepInterrupted,
    StepPassed,
    StepSkipped,
    StepStarted,
    WebhookArrived,
)
from rehearsal.providers.base import ApiCall
from rehearsal.session.matrix import LOUD, loud_only
from rehearsal.ui.view import PlainView

ONE_OF_EACH: list[RunEvent] = [
    RunStarted("r1", "plan", "mintcash", "test", "simulator", (("charge", "charge"),)),
    StepStarted("charge", "charge", 10.0, "charge USD 5.00", "payment.succeeded"),
    Awaiting("charge", "payment.succeeded", "pay_1", 10.0),
    ApiCalled("charge", ApiCall("POST", "/payments", 201, "req_1", 3.0, False)),
    WebhookArrived("charge", "payment.succeeded", "evt_1", "pay_1", 40.0),
    StepPassed("charge", 0.1, "pay_1", "succeeded", "webhook+api", "a note"),
    StepFailed("refund", 0.1, "it failed"),
    StepInterrupted("refund", 0.1),
    StepSkipped("cancel", "an earlier step did not pass"),
    Compensated("refund", "pay_1", 500, "done", settling=True, currency="USD"),
    RunFinished("r1", "passed", 1.0, 0, None, Money("USD", 500, 500, 0)),
]


def test_every_kind_of_event_is_covered() -> None:
    assert {type(e) for e in ONE_OF_EACH} == set(typing.get_args(RunEvent))


def test_a_quiet_view_prints_what_loud_only_passes_and_nothing_else() -> None:
    for event in ONE_OF_EACH:
        out = io.StringIO()
        PlainView(out=out, quiet=True)(event)
        assert bool(out.getvalue()) == isinstance(event, LOUD), event


def test_loud_only_passes_the_loud_events_through() -> None:
    seen: list[RunEvent] = []
    emit = loud_only(seen.append)
    for event in ONE_OF_EACH:
        emit(event)
    assert seen == [e for e in ONE_OF_EACH if isinstance(e, LOUD)]
