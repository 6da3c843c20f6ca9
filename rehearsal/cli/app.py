"""The command line: the typer app and its commands. Each command parses its options and
calls one function in rehearsal/commands/ through the error boundary (cli/errors.py),
which turns its return value or exception into the exit code; no command holds logic.

Heavy imports (httpx, pydantic, uvicorn, starlette) happen inside the commands, so
`rehearsal --help` stays quick. The options several commands share are in cli/options.py;
how the process starts and ends (and which commands typer builds) is cli/launch.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rehearsal.cli import options as o
from rehearsal.cli.audit import audit_app
from rehearsal.cli.errors import guard, set_debug

if TYPE_CHECKING:
    from rehearsal.commands.run import RunArgs

EXIT_CODES = """Exit codes: 0 passed, 1 an assertion failed, 2 usage or plan error,
3 provider or network error (or passed, but money was left: verdict unsettled), 4 refused by
a safety guard, 70 internal error (a bug of ours; details in a log file), 130 interrupted."""

app = typer.Typer(
    name="rehearsal",
    help="A dress rehearsal of the whole money loop: charge, refund, subscribe, renew, cancel, "
    "each confirmed by a signed webhook and the provider's API.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    # --install-completion / --show-completion: Typer's shell completion (bash, zsh, fish,
    # PowerShell); it imports nothing of ours until a command runs.
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich help rendering costs ~130 ms of imports
)


def _print_version(value: bool) -> None:
    if value:
        from rehearsal import __version__

        print(f"rehearsal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    set_debug(debug)


def _run_args(params: dict[str, object], **given: object) -> RunArgs:
    """The options of run, start, step or resume as RunArgs, whose fields they are named
    for; but the run and step ids (arguments of their own) and what `given` sets anew."""
    from rehearsal.commands.run import RunArgs

    skip = {"run_id", "step_id", "sim_fault", *given}
    fields: dict[str, Any] = {**{k: v for k, v in params.items() if k not in skip}, **given}
    return RunArgs(**fields)


@app.command()
def run(
    plans: list[str] = o.PLANS,
    provider: str = o.PROVIDER,
    live: bool = o.LIVE,
    simulator: bool = o.SIMULATOR,
    timeout_scale: float = o.TIMEOUT_SCALE,
    report_json: Path = o.REPORT_JSON,
    junit: Path = o.JUNIT,
    report_md: Path = o.REPORT_MD,
    state_dir: Path = o.STATE_DIR,
    plain: bool = o.PLAIN,
    quiet: bool = o.QUIET,
    yes: bool = o.YES,
    max_amount: int = o.MAX_AMOUNT,
    cleanup: bool = o.RUN_CLEANUP,
    sim_fault: list[str] = o.SIM_FAULT,
    tunnel: str = o.TUNNEL,
    public_url: str = o.PUBLIC_URL,
    listen: str = o.LISTEN,
    ngrok_domain: str = o.NGROK_DOMAIN,
    probe_every: float = o.PROBE_EVERY,
    parallel: int = o.PARALLEL,
    repeat: int = o.REPEAT,
    shard: str = o.SHARD,
    forward_to: str = o.FORWARD_TO,
) -> None:
    """Run a whole plan now. With no provider keys set, against the built-in simulator.
    Several plans, a plan's matrix, --parallel, --repeat or --shard: many rehearsals, one
    receiver and one tunnel (docs/plans.md, Matrix)."""
    params = locals()  # first: locals() must hold only the options
    from rehearsal.commands.run import run as run_command

    args = _run_args(
        params,
        plan=plans[0] if plans else None,
        plans=list(plans or []),
        sim_faults=[f for spec in sim_fault for f in spec.split(",") if f],
    )
    guard(lambda: run_command(args))


@app.command("simulator")
def simulator_command(
    port: int = typer.Option(
        8420, min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."
    ),
    provider: str = typer.Option("mintcash", help="Which provider's API to speak."),
    db: Path = typer.Option(None, help="The books (SQLite). [default: in the state folder]"),
    state_dir: Path = o.STATE_DIR,
    time_scale: float = typer.Option(
        1.0, help="Shorten the webhook retry schedule (greater than 0).", callback=o.positive()
    ),
    fault: list[str] = typer.Option([], "--fault", help="A fault switch (repeatable)."),
    until_stdin_closes: bool = typer.Option(
        False, "--until-stdin-closes", hidden=True, help="Stop when standard input closes."
    ),
) -> None:
    """Run the built-in simulator as its own process, for your own webhook handler or tests."""
    from rehearsal.commands.simulator import serve

    guard(
        lambda: serve(
            port=port,
            provider=provider,
            db=db,
            state_dir=state_dir,
            time_scale=time_scale,
            faults=fault,
            until_stdin_closes=until_stdin_closes,
        )
    )


@app.command()
def start(
    plan: str = typer.Argument(
        None, help="Plan file, or a built-in plan's name.", show_default=False
    ),
    provider: str = o.PROVIDER,
    live: bool = typer.Option(False, "--live", help="Live mode: real money."),
    simulator: bool = o.SIMULATOR,
    timeout_scale: float = o.TIMEOUT_SCALE,
    yes: bool = typer.Option(False, "--yes", help="Arm live mode without a terminal."),
    max_amount: int = o.MAX_AMOUNT,
    state_dir: Path = o.STATE_DIR,
    tunnel: str = o.TUNNEL,
    public_url: str = o.PUBLIC_URL,
    listen: str = o.LISTEN,
) -> None:
    """Create a run and print its id; no money moves until `step` or `resume`."""
    args = _run_args(locals())  # first: locals() must hold only the options
    from rehearsal.commands.run import start as start_command

    guard(lambda: (start_command(args), 0)[1])


@app.command()
def step(
    run_id: str = o.RUN_ID,
    step_id: str = typer.Argument(
        None, help="Run up to and including this step. [default: the next step]", show_default=False
    ),
    yes: bool = o.YES_AGAIN,
    max_amount: int = o.MAX_AGAIN,
    state_dir: Path = o.STATE_DIR,
    plain: bool = o.PLAIN,
    cleanup: bool = o.CLEANUP,
    tunnel: str = o.TUNNEL,
    public_url: str = o.PUBLIC_URL,
    listen: str = o.LISTEN,
    ngrok_domain: str = o.NGROK_DOMAIN,
    probe_every: float = o.PROBE_EVERY,
    report_json: Path = o.REPORT_JSON,
    junit: Path = o.JUNIT,
    report_md: Path = o.REPORT_MD,
) -> None:
    """Run the next step of a run (or every step up to a named one), then pause."""
    args = _run_args(locals())  # first: locals() must hold only the options
    from rehearsal.commands.run import next_step
    from rehearsal.commands.run import resume as resume_command

    guard(lambda: resume_command(run_id, args, stop_after=step_id or next_step(run_id, args)))


@app.command()
def resume(
    run_id: str = o.RUN_ID,
    yes: bool = o.YES_AGAIN,
    max_amount: int = o.MAX_AGAIN,
    state_dir: Path = o.STATE_DIR,
    plain: bool = o.PLAIN,
    cleanup: bool = o.CLEANUP,
    tunnel: str = o.TUNNEL,
    public_url: str = o.PUBLIC_URL,
    listen: str = o.LISTEN,
    ngrok_domain: str = o.NGROK_DOMAIN,
    probe_every: float = o.PROBE_EVERY,
    report_json: Path = o.REPORT_JSON,
    junit: Path = o.JUNIT,
    report_md: Path = o.REPORT_MD,
) -> None:
    """Carry a run on from wherever it stopped (after a crash too) to its end."""
    args = _run_args(locals())  # first: locals() must hold only the options
    from rehearsal.commands.run import resume as resume_command

    guard(lambda: resume_command(run_id, args))


@app.command()
def runs(
    state_dir: Path = o.STATE_DIR,
) -> None:
    """List runs, newest first, with what each left outstanding."""
    from rehearsal.commands import ledger

    guard(lambda: ledger.runs(state_dir))


@app.command()
def status(
    run_id: str = typer.Argument(
        None, help="A run id. [default: the latest run]", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="The same, as JSON for scripts."),
    offline: bool = typer.Option(
        False, "--offline", help="From the ledger only: do not read the provider's books."
    ),
    state_dir: Path = o.STATE_DIR,
) -> None:
    """Where a run stands: each step, and the money charged, refunded and outstanding, as
    the provider's API shows it now (read only: nothing moves)."""
    from rehearsal.commands import ledger

    guard(lambda: ledger.status(run_id, state_dir, as_json, offline=offline))


@app.command()
def cleanup(
    run_id: str = typer.Argument(..., help="The run to settle."),
    replay: bool = typer.Option(
        False,
        "--replay",
        help="Where the provider cannot look a key up (PayMongo), learn a lost call's "
        "outcome by sending it again with its own key while the provider keeps it: what it "
        "made is returned, or made now, then refunded or cancelled. Live runs are armed.",
    ),
    yes: bool = typer.Option(False, "--yes", help="Live --replay: confirm without a terminal."),
    state_dir: Path = o.STATE_DIR,
) -> None:
    """Refund what a run charged and cancel what it subscribed, confirmed through the API."""
    from rehearsal.commands import ledger

    guard(lambda: ledger.cleanup(run_id, state_dir, plain=True, replay=replay, yes=yes))


@app.command("tunnel")
def tunnel_command(
    tunnel: str = o.TUNNEL,
    public_url: str = o.PUBLIC_URL,
    listen: str = o.LISTEN,
    ngrok_domain: str = o.NGROK_DOMAIN,
    provider: str = typer.Option(
        "mintcash", help="Whose signatures to check (with <PROVIDER>_WEBHOOK_SECRET set)."
    ),
    live: bool = typer.Option(False, "--live", help="Check deliveries as live-mode events."),
    state_dir: Path = o.STATE_DIR,
    forward_to: str = typer.Option(
        None,
        "--forward-to",
        help="Also deliver each verified event to your handler at URL, re-signed with "
        "$REHEARSAL_FORWARD_SECRET, and show its answer.",
    ),
) -> None:
    """Open the receiver and a tunnel alone: print the public URL, show deliveries as they
    arrive, until Ctrl-C or SIGTERM (exit 0)."""
    from rehearsal.commands.tunnel import TunnelArgs, serve

    args = TunnelArgs(
        tunnel, public_url, listen, ngrok_domain, provider, live, state_dir, forward_to
    )
    guard(lambda: serve(args))


@app.command()
def report(
    run_id: str = typer.Argument(
        None,
        help="A run id, `schema` for the JSON report's JSON Schema, or `merge OUT IN...` "
        "to combine shards' JUnit files (OUT.xml) or matrix summaries (OUT.json). "
        "[default: the latest run]",
        show_default=False,
    ),
    paths: list[Path] = typer.Argument(None, help="merge: OUT, then the files to combine."),
    fmt: str = typer.Option("json", "--format", "-f", help="json | junit | md"),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    state_dir: Path = o.STATE_DIR,
) -> None:
    """Render a stored run again from the ledger, as JSON, JUnit XML or Markdown."""
    from rehearsal.commands.report import main as report_command

    guard(lambda: report_command(run_id, paths or [], fmt, output, state_dir))


@app.command()
def plans() -> None:
    """List the built-in plans, each with what it proves, and how to copy one as a template."""
    from rehearsal.commands.plans import plans as plans_command

    guard(plans_command)


@app.command("checklist")
def checklist_command(
    provider: str = o.AUDIT_PROVIDER,
    report_md: Path = typer.Option(None, "--report-md", help="Write the same as Markdown here."),
    state_dir: Path = o.STATE_DIR,
) -> None:
    """Print the provider's go-live checklist (from its seed), each item marked by what the
    last audits and the last rehearsal showed: passed, failed, not checked, manual."""
    from rehearsal.commands.audit import checklist

    guard(lambda: checklist(provider, report_md, state_dir))


# The go-live audit's group (`rehearsal audit endpoint|keys`): typer lists groups after commands.
app.add_typer(audit_app, name="audit")
