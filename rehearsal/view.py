"""Terminal views of a run: a rich live table in a terminal, plain lines elsewhere (CI).

Both consume the runner's events; neither decides anything. Nothing here prints a secret:
events carry ids, amounts, statuses and timings only.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from rehearsal.run_events import (
    ApiCalled,
    Compensated,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFailed,
    StepPassed,
    StepSkipped,
    StepStarted,
    WebhookArrived,
)

MARK = {"pending": "·", "running": "▶", "passed": "✓", "failed": "✗", "skipped": "-"}


class PlainView:
    """One line per event, for CI logs and pipes."""

    def __init__(self, out: IO[str] | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self._t0 = time.monotonic()

    def _line(self, text: str, force: bool = False) -> None:
        if force or not self.quiet:
            print(f"[{time.monotonic() - self._t0:7.3f}s] {text}", file=self.out, flush=True)

    def __call__(self, ev: RunEvent) -> None:
        if isinstance(ev, RunStarted):
            self._line(f"run {ev.run_id}: plan {ev.plan!r}, {ev.provider} {ev.environment} mode")
            self._line(f"target: {ev.target}")
        elif isinstance(ev, StepStarted):
            limit = f" (timeout {ev.timeout:g}s)" if ev.timeout else ""
            self._line(f"▶ {ev.step_id}: {ev.detail}{limit}")
        elif isinstance(ev, ApiCalled):
            c = ev.call
            replay = " replayed" if c.idempotent_replay else ""
            self._line(
                f"  {c.method} {c.path} → {c.status or 'no answer'}{replay} "
                f"({c.request_id or 'no request id'}, {c.duration_ms:.0f} ms)"
            )
        elif isinstance(ev, WebhookArrived):
            self._line(
                f"  ⇠ {ev.event_type} {ev.object_id} ({ev.event_id}) "
                f"{ev.latency_ms:.0f} ms after the call"
            )
        elif isinstance(ev, StepPassed):
            what = f" {ev.object_id} {ev.status}" if ev.object_id else ""
            self._line(f"✓ {ev.step_id}{what}, confirmed by {ev.confirmed_by} ({ev.elapsed:.2f}s)")
        elif isinstance(ev, StepFailed):
            self._line(f"✗ {ev.step_id}: {ev.message}", force=True)
        elif isinstance(ev, StepSkipped):
            self._line(f"- {ev.step_id}: skipped ({ev.reason})")
        elif isinstance(ev, Compensated):
            amount = f" {ev.amount}" if ev.amount else ""
            self._line(
                f"↺ compensation: {ev.action}{amount} {ev.object_id}: {ev.outcome}", force=True
            )
        elif isinstance(ev, RunFinished):
            self._line(
                f"run {ev.run_id} {ev.verdict.upper()} in {ev.elapsed:.2f}s "
                f"(exit {ev.exit_code})" + (f": {ev.message}" if ev.message else ""),
                force=True,
            )


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


@dataclass
class RichView:
    """A live table of the steps while the run goes, and the same table as the summary."""

    console: Any = None
    rows: dict[str, _Row] = field(default_factory=dict)
    header: str = ""
    footer: list[str] = field(default_factory=list)
    _live: Any = None

    def __post_init__(self) -> None:
        from rich.console import Console

        self.console = self.console or Console()

    def _table(self) -> Any:
        from rich.table import Table

        wide = self.console.width >= 120
        table = Table(title=self.header, title_justify="left", expand=False)
        for col in ["", "step", "transition", *(["what"] if wide else []), "time", "result"]:
            table.add_column(col)
        now = time.monotonic()
        for r in self.rows.values():
            elapsed = r.elapsed
            if elapsed is None and r.started:
                elapsed = now - r.started
            timing = f"{elapsed:.2f}s" if elapsed is not None else ""
            if r.timeout:
                timing += f" / {r.timeout:g}s"
            style = {"passed": "green", "failed": "red", "running": "yellow"}.get(r.state, "dim")
            cells = [MARK[r.state], r.step_id, r.expects or r.action]
            table.add_row(*cells, *([r.detail] if wide else []), timing, r.note, style=style)
        return table

    def __call__(self, ev: RunEvent) -> None:
        from rich.live import Live

        if isinstance(ev, RunStarted):
            self.header = (
                f"run {ev.run_id} · {ev.plan} · {ev.provider} {ev.environment} · {ev.target}"
            )
            self.rows = {sid: _Row(sid, action) for sid, action in ev.steps}
            self._live = Live(
                self._table(),
                console=self.console,
                refresh_per_second=8,
                get_renderable=self._table,
            )
            self._live.start()
        elif isinstance(ev, StepStarted):
            r = self.rows[ev.step_id]
            r.state, r.detail, r.timeout = "running", ev.detail, ev.timeout
            r.expects, r.started = ev.expects, time.monotonic()
        elif isinstance(ev, ApiCalled) and ev.step_id in self.rows:
            self.rows[
                ev.step_id
            ].note = f"{ev.call.method} {ev.call.path} → {ev.call.status or 'no answer'}"
        elif isinstance(ev, WebhookArrived):
            self.rows[ev.step_id].note = f"⇠ {ev.event_type} in {ev.latency_ms:.0f} ms"
        elif isinstance(ev, StepPassed):
            r = self.rows[ev.step_id]
            r.state, r.elapsed = "passed", ev.elapsed
            r.note = (
                f"{ev.object_id} {ev.status} ({ev.confirmed_by})"
                if ev.object_id
                else f"confirmed by {ev.confirmed_by}"
            )
        elif isinstance(ev, StepFailed):
            r = self.rows[ev.step_id]
            r.state = "failed"
            r.elapsed = time.monotonic() - r.started if r.started else None
            r.note = "failed"
            self.footer.append(f"[red]✗ {ev.message}[/red]")
        elif isinstance(ev, StepSkipped):
            self.rows[ev.step_id].state = "skipped"
        elif isinstance(ev, Compensated):
            self.footer.append(f"↺ compensation: {ev.action} {ev.object_id}: {ev.outcome}")
        elif isinstance(ev, RunFinished):
            if self._live is not None:
                self._live.stop()
            for line in self.footer:
                self.console.print(line, highlight=False)
            color = "green" if ev.verdict == "passed" else "red"
            self.console.print(
                f"[bold {color}]{ev.verdict.upper()}[/] in {ev.elapsed:.2f}s (exit {ev.exit_code})",
                highlight=False,
            )
            if ev.message and ev.verdict != "failed":
                self.console.print(ev.message, highlight=False, markup=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
