"""`rehearsal run`: a whole plan at once, against the provider or the simulator."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rehearsal.errors import UsageError
from rehearsal.plan import ManualStep, load_plan, resolve_plan_path
from rehearsal.state import STATE_DB, StateDB, state_dir


@dataclass
class RunArgs:
    plan: str | None = None
    provider: str | None = None
    live: bool = False
    simulator: bool = False
    timeout_scale: float = 1.0
    report_json: Path | None = None
    state_dir: Path | None = None
    plain: bool = False
    quiet: bool = False
    cleanup: bool = True
    yes: bool = False
    max_amount: int | None = None
    sim_faults: list[str] = field(default_factory=list)


def run(args: RunArgs) -> int:
    from rehearsal.receiver import Receiver
    from rehearsal.run_events import RunStarted
    from rehearsal.runner import Options, Runner, new_run_id
    from rehearsal.target import open_target

    if args.live and args.simulator:
        raise UsageError(
            "--live and --simulator exclude each other",
            hint="the simulator moves no money; live mode is for the real provider",
        )
    if args.timeout_scale <= 0:
        raise UsageError("--timeout-scale must be greater than 0")
    path = resolve_plan_path(args.plan)
    plan = load_plan(path)
    provider = args.provider or plan.provider
    folder = state_dir(args.state_dir)
    store = StateDB(folder / STATE_DB)
    _sigterm_as_interrupt()
    if args.live:
        from rehearsal.guards import arm

        arm(plan, provider, "as set in the environment", yes=args.yes, cap=args.max_amount)
    target = open_target(
        provider,
        live=args.live,
        force_simulator=args.simulator,
        state_dir=folder,
        sim_faults=args.sim_faults,
    )
    receiver: Receiver | None = None
    view = _view(args)
    try:
        run_id = new_run_id()
        events = sorted({s.expect.event for s in plan.money_steps()})  # type: ignore[union-attr]
        receiver = Receiver(
            target.provider.verify_webhook,
            environment=target.config.environment,
            store=store,
            run_id=run_id,
        )
        url = receiver.start()
        if not target.register_webhook(url, events):
            raise UsageError(f"register this webhook URL with {provider} first: {url}")
        steps = tuple((s.id, s.action) for s in plan.steps)
        store.create_run(
            run_id,
            plan=plan.name,
            plan_path=str(path),
            provider=provider,
            environment=target.config.environment,
            target=target.description,
            target_kind="embedded" if target.simulator is not None else "env",
            api_base=None if target.simulator is not None else target.config.api_base,
            steps=list(steps),
        )
        view(
            RunStarted(
                run_id, plan.name, provider, target.config.environment, target.description, steps
            )
        )
        options = Options(
            timeout_scale=args.timeout_scale,
            cleanup=args.cleanup,
            confirm_manual=_confirm if sys.stdin.isatty() else None,
        )
        outcome = Runner(plan, target.provider, receiver.hub, store, run_id, view, options).run()
        if args.report_json:
            from rehearsal.reports import json_report

            json_report.write(store, run_id, args.report_json)
        return outcome.exit_code
    finally:
        if hasattr(view, "stop"):
            view.stop()
        if receiver is not None:
            receiver.request_stop()  # stops alongside the simulator in target.close()
        target.close()
        if receiver is not None:
            receiver.stop()
        store.close()


def _view(args: RunArgs):  # type: ignore[no-untyped-def]
    from rehearsal.view import PlainView, RichView

    if args.plain or args.quiet or not sys.stdout.isatty():
        return PlainView(quiet=args.quiet)
    return RichView()


def _confirm(step: ManualStep) -> bool:
    from rich.prompt import Confirm

    return Confirm.ask(f"[bold]Manual checkpoint {step.id!r}:[/] {step.instructions} Done?")


def _sigterm_as_interrupt() -> None:
    """SIGTERM takes the same path as Ctrl-C: stop, compensate, exit 130."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
