"""Terminal views of a run: a rich live table in a terminal, plain lines elsewhere (CI).

Both consume the runner's events; neither decides anything. Each is also the surface the
operator service draws on (rehearsal.ui.operator): the live table stops while a question or
a URL is on the screen, and comes back under it, so a prompt is never drawn over. Nothing
here prints a secret: events carry ids, amounts, statuses and timings only. Amounts are
shown as money (`USD 5.00`); the events and the reports keep minor units.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.amounts import format_amount
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
    event_name,
)
from rehearsal.ledger.states import RunVerdict
from rehearsal.streams import quiet as quiet_stream
from rehearsal.ui.operator import ConsoleSurface, TextOut

MARK = {
    "pending": "·",
    "running": "▶",
    "passed": "✓",
    "failed": "✗",
    "skipped": "-",
    "interrupted": "■",
}


def compensation_line(ev: Compensated) -> str:
    """A settle's action as a person reads it: a passing run settling its own money, or a
    failed (or interrupted) run's compensation."""
    amount = ""
    if ev.amount:
        amount = f" {format_amount(ev.amount, ev.currency) if ev.currency else ev.amount}"
    what = "settling the rehearsal's money" if ev.settling else "compensation"
    action, whose = ev.action, ""
    if action == "refund_subscription_payment":
        action, whose = "refund", " (the subscription's own payment)"
    return f"↺ {what}: {action}{amount} {ev.object_id}{whose}: {ev.outcome}"


def money_line(m: Money) -> str:
    subs = ", ".join(m.active_subscriptions) or "none"
    return (
        f"money: charged {format_amount(m.charged, m.currency)}, refunded "
        f"{format_amount(m.refunded, m.currency)}, outstanding "
        f"{format_amount(m.outstanding, m.currency)}; "
        f"active subscriptions: {subs}"
    )


def report_line(run_id: str, reports: Sequence[Path]) -> str:
    again = f"`rehearsal report {run_id} -f json|junit|md`"
    if reports:
        return f"report: {', '.join(str(p) for p in reports)} (again: {again})"
    return f"report: {again}"


class PlainView:
    """One line per event, for CI logs and pipes."""

    def __init__(
        self, out: TextOut | None = None, quiet: bool = False, reports: Sequence[Path] = ()
    ) -> None:
        # Nobody reading any more (`| head`, a closed terminal): lines are dropped, the
        # run goes on and settles as it would have.
        self.out = quiet_stream(out or sys.stdout)
        self.quiet = quiet
        self.reports = tuple(reports)
        self._t0 = time.monotonic()
        self._console = ConsoleSurface(self.out)

    def stop(self) -> None:
        """Nothing to take down: each line was written as it came (RichView has a live table)."""

    def _line(self, text: str, force: bool = False) -> None:
        if force or not self.quiet:
            print(f"[{time.monotonic() - self._t0:7.3f}s] {text}", file=self.out, flush=True)

    # --- the operator's surface -------------------------------------------------------------

    def show(self, text: str) -> None:
        self._console.show(text)

    def ask(self, question: str) -> str:
        return self._console.ask(question)

    # --- the run's events -------------------------------------------------------------------

    def __call__(self, ev: RunEvent) -> None:
        if isinstance(ev, RunStarted):
            self._line(f"run {ev.run_id}: plan {ev.plan!r}, {ev.provider} {ev.environment} mode")
            self._line(f"target: {ev.target}")
        elif isinstance(ev, StepStarted):
            limit = f" (timeout {ev.timeout:g}s)" if ev.timeout else ""
            self._line(f"▶ {ev.step_id}: {ev.detail}{limit}")
        elif isinstance(ev, Awaiting):
            self._line(
                f"  … waiting for {ev.event_type} on {ev.object_id} "
                f"(up to {ev.within:g}s after the call)"
            )
        elif isinstance(ev, ApiCalled):
            c = ev.call
            replay = " replayed" if c.idempotent_replay else ""
            self._line(
                f"  {c.method} {c.path} → {c.status or 'no answer'}{replay} "
                f"({c.request_id or 'no request id'}, {c.duration_ms:.0f} ms)"
            )
        elif isinstance(ev, WebhookArrived):
            self._line(
                f"  ⇠ {event_name(ev.event_type, ev.provider_type)} {ev.object_id} "
                f"({ev.event_id}) {ev.latency_ms:.0f} ms after the call"
            )
        elif isinstance(ev, StepPassed):
            what = f" {ev.object_id} {ev.status}" if ev.object_id else ""
            note = f"; {ev.note}" if ev.note else ""
            self._line(
                f"✓ {ev.step_id}{what}, confirmed by {ev.confirmed_by} ({ev.elapsed:.2f}s){note}"
            )
        elif isinstance(ev, StepFailed):
            self._line(f"✗ {ev.step_id}: {ev.message}", force=True)
        elif isinstance(ev, StepInterrupted):
            self._line(f"■ {ev.step_id}: interrupted after {ev.elapsed:.2f}s", force=True)
        elif isinstance(ev, StepSkipped):
            self._line(f"- {ev.step_id}: skipped ({ev.reason})")
        elif isinstance(ev, Compensated):
            self._line(compensation_line(ev), force=True)
        elif isinstance(ev, RunFinished):
            if ev.money is not None:
                self._line(money_line(ev.money), force=True)
            self._line(
                f"run {ev.run_id} {ev.verdict.upper()} in {ev.elapsed:.2f}s "
                f"(exit {ev.exit_code})" + (f": {ev.message}" if ev.message else ""),
                force=True,
            )
            if ev.verdict != RunVerdict.PAUSED:
                self._line(report_line(ev.run_id, self.reports), force=True)


@dataclass
class _Row:
    step_id: str
    action: str
    state: str = "pending"
    detail: str = ""
    timeout: float | None = None
    expects: str | None = None
    started: float | None = None
    elapsed: float | None = None
    note: str = ""
    # While its webhook is awaited: for what, on which object, since when (monotonic).
    awaiting: Awaiting | None = None
    called: float | None = None


@dataclass
class RichView:
    """A live table of the steps while the run goes, and the same table as the summary."""

    console: Any = None
    rows: dict[str, _Row] = field(default_factory=dict)
    header: str = ""
    footer: list[str] = field(default_factory=list)
    reports: Sequence[Path] = ()
    _live: Any = None

    def __post_init__(self) -> None:
        from rich.console import Console

        # Nobody reading any more (a closed terminal): the table is dropped, not the run.
        self.console = self.console or Console(file=quiet_stream(sys.stdout))

    def _table(self) -> Any:
        from rich.table import Table

        width = self.console.width
        wide = width >= 120
        table = Table(title=self.header, title_justify="left", expand=False)
        # One line per step, whatever the width: the step and its transition keep their
        # width; the result (a call, an id, what is awaited) is cut, never wrapped.
        step_w = max([4, *(len(r.step_id) for r in self.rows.values())])
        transition_w = min(40, max([10, *(len(r.expects or r.action) for r in self.rows.values())]))
        what_w = 40 if wide else 0
        time_w = 14
        fixed = [1, step_w, transition_w, *([what_w] if wide else []), time_w]
        result_w = max(10, width - sum(w + 2 for w in fixed) - 2 - (len(fixed) + 2))
        table.add_column("", no_wrap=True, width=1)
        table.add_column("step", no_wrap=True, min_width=step_w)
        table.add_column("transition", no_wrap=True, overflow="ellipsis", min_width=transition_w)
        if wide:
            table.add_column("what", no_wrap=True, overflow="ellipsis", max_width=what_w)
        table.add_column("time", no_wrap=True, min_width=time_w)
        table.add_column("result", no_wrap=True, overflow="ellipsis", max_width=result_w)
        now = time.monotonic()
        waiting: list[str] = []
        for r in self.rows.values():
            elapsed = r.elapsed
            if elapsed is None and r.started:
                elapsed = now - r.started
            timing = f"{elapsed:.2f}s" if elapsed is not None else ""
            if r.timeout:
                timing += f" / {r.timeout:g}s"
            note = r.note
            if r.state == "running" and r.awaiting is not None and r.called is not None:
                note = f"waiting for {r.awaiting.event_type}"
                waiting.append(self._waiting(r, now))
            style = {
                "passed": "green",
                "failed": "red",
                "running": "yellow",
                "interrupted": "red",
            }.get(r.state, "dim")
            cells = [MARK[r.state], r.step_id, r.expects or r.action]
            table.add_row(*cells, *([r.detail] if wide else []), timing, note, style=style)
        if not waiting:
            return table
        from rich.console import Group
        from rich.text import Text

        # What the run waits for, in full, on a line of its own under the table.
        return Group(table, *(Text(w, style="yellow", no_wrap=True) for w in waiting))

    def _waiting(self, r: _Row, now: float) -> str:
        """`▶ charge: waiting for payment.succeeded on pay_…, 3.1 s of 10 s`"""
        a, called = r.awaiting, r.called
        assert a is not None and called is not None
        for shown in (a.object_id, a.object_id[:12] + "…"):
            line = (
                f"▶ {r.step_id}: waiting for {a.event_type} on {shown}, "
                f"{now - called:.1f} s of {a.within:g} s"
            )
            if len(line) <= self.console.width:
                break
        return line

    # --- the operator's surface -------------------------------------------------------------

    @contextmanager
    def _paused(self) -> Iterator[None]:
        """The live table off the screen while the operator reads or answers, then back
        under what was shown."""
        live = self._live
        if live is None or not live.is_started:
            yield
            return
        live.transient = True  # stop() erases the table instead of leaving a copy behind
        live.stop()
        try:
            yield
        finally:
            # A new display under what was shown: the old one would redraw over it.
            self._live = self._new_live()
            self._live.start(refresh=True)

    def _new_live(self) -> Any:
        from rich.live import Live

        return Live(
            self._table(), console=self.console, refresh_per_second=8, get_renderable=self._table
        )

    def show(self, text: str) -> None:
        with self._paused():
            self.console.print(text, markup=False, highlight=False)

    def ask(self, question: str) -> str:
        from rich.text import Text

        with self._paused():
            return str(self.console.input(Text(question)))

    # --- the run's events -------------------------------------------------------------------

    def __call__(self, ev: RunEvent) -> None:
        if isinstance(ev, RunStarted):
            self.header = (
                f"run {ev.run_id} · {ev.plan} · {ev.provider} {ev.environment} · {ev.target}"
            )
            self.rows = {sid: _Row(sid, action) for sid, action in ev.steps}
            self._live = self._new_live()
            self._live.start()
        elif isinstance(ev, StepStarted):
            r = self.rows[ev.step_id]
            r.state, r.detail, r.timeout = "running", ev.detail, ev.timeout
            r.expects, r.started = ev.expects, time.monotonic()
        elif isinstance(ev, Awaiting):
            r = self.rows[ev.step_id]
            r.awaiting, r.called = ev, time.monotonic() - ev.waited
        elif isinstance(ev, ApiCalled) and ev.step_id in self.rows:
            self.rows[
                ev.step_id
            ].note = f"{ev.call.method} {ev.call.path} → {ev.call.status or 'no answer'}"
        elif isinstance(ev, WebhookArrived):
            r = self.rows[ev.step_id]
            r.awaiting = None
            name = event_name(ev.event_type, ev.provider_type)
            if ev.provider_type and ev.provider_type != ev.event_type:
                r.expects = name
            r.note = f"⇠ {name} in {ev.latency_ms:.0f} ms"
        elif isinstance(ev, StepPassed):
            r = self.rows[ev.step_id]
            r.state, r.elapsed, r.awaiting = "passed", ev.elapsed, None
            r.note = (
                f"{ev.object_id} {ev.status} ({ev.confirmed_by})"
                if ev.object_id
                else f"confirmed by {ev.confirmed_by}"
            )
            if ev.note:
                self.footer.append(f"✓ {ev.step_id}: {ev.note}")
        elif isinstance(ev, StepFailed):
            r = self.rows[ev.step_id]
            r.state, r.awaiting = "failed", None
            r.elapsed = time.monotonic() - r.started if r.started else None
            r.note = "failed"
            self.footer.append(f"[red]✗ {ev.message}[/red]")
        elif isinstance(ev, StepInterrupted):
            r = self.rows[ev.step_id]
            r.state, r.awaiting, r.elapsed = "interrupted", None, ev.elapsed
            r.note = "interrupted"
        elif isinstance(ev, StepSkipped):
            self.rows[ev.step_id].state = "skipped"
        elif isinstance(ev, Compensated):
            self.footer.append(compensation_line(ev))
        elif isinstance(ev, RunFinished):
            for r in self.rows.values():  # a step cut short without its own event
                if r.state == "running" and ev.verdict == RunVerdict.INTERRUPTED:
                    r.state, r.note, r.awaiting = "interrupted", "interrupted", None
            if self._live is not None:
                self._live.stop()
            for line in self.footer:
                self.console.print(line, highlight=False)
            if ev.money is not None:
                self.console.print(money_line(ev.money), highlight=False, markup=False)
            color = "green" if ev.verdict == RunVerdict.PASSED else "red"
            self.console.print(
                f"[bold {color}]{ev.verdict.upper()}[/] in {ev.elapsed:.2f}s (exit {ev.exit_code})",
                highlight=False,
            )
            if ev.message and ev.verdict != RunVerdict.FAILED and ev.message != ev.verdict:
                self.console.print(ev.message, highlight=False, markup=False)
            if ev.verdict != RunVerdict.PAUSED:
                self.console.print(
                    report_line(ev.run_id, self.reports), highlight=False, markup=False
                )

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
