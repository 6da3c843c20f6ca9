"""The terminal views' non-interactive behaviour: colour only on a terminal and never with
NO_COLOR; plain lines (no escape codes at all) when output is not a terminal."""

from __future__ import annotations

import io
import re

import pytest

from rehearsal.events import RunEvent, RunFinished, RunStarted, StepPassed, StepStarted
from rehearsal.session.options import RunArgs
from rehearsal.session.run import view_for as _view
from rehearsal.ui.view import PlainView, RichView

COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[0-9;]+)m")

EVENTS: list[RunEvent] = [
    RunStarted("r1", "rehearsal", "mintcash", "test", "the simulator", (("charge", "charge"),)),
    StepStarted("charge", "charge", 1.0, "charge 500 USD", "payment.succeeded"),
    StepPassed("charge", 0.1, "pay_1", "succeeded", "webhook+api"),
    RunFinished("r1", "passed", 0.2, 0),
]


def rich_output(capsys: pytest.CaptureFixture[str]) -> str:
    view = RichView()  # its Console reads the environment, as in a real run
    for event in EVENTS:
        view(event)
    view.stop()
    return capsys.readouterr().out


def test_rich_view_colours_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # make the captured output count as a terminal
    out = rich_output(capsys)
    assert COLOUR.search(out), "a terminal should get colour (else the next test proves nothing)"
    assert "PASSED" in out


def test_rich_view_honours_no_color(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    out = rich_output(capsys)
    assert "PASSED" in out and "pay_1 succeeded" in out
    assert not COLOUR.search(out), repr(out[-400:])


def test_without_a_terminal_the_run_prints_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # even so: not a terminal means plain lines
    assert isinstance(_view(RunArgs()), PlainView)  # pytest's stdout is not a terminal
    assert isinstance(_view(RunArgs(plain=True)), PlainView)
    out = io.StringIO()
    view = PlainView(out=out)
    for event in EVENTS:
        view(event)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "✓ charge pay_1 succeeded, confirmed by webhook+api" in text
    *_, verdict, report = text.rstrip().splitlines()
    assert verdict.endswith("run r1 PASSED in 0.20s (exit 0)")
    assert report.endswith("report: `rehearsal report r1 -f json|junit|md`")
