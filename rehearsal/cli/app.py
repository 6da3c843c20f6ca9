"""The command line: parse options, call one function, map our exceptions to exit codes.

Heavy imports (httpx, pydantic, uvicorn, starlette) happen inside the commands, so
`rehearsal --help` stays quick.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

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

_debug = False


def _guard(fn: Callable[[], int]) -> None:
    """Run a command; turn our errors into one line, a hint, and the exit code."""
    from rehearsal.errors import RehearsalError

    try:
        code = fn()
    except RehearsalError as exc:
        if _debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:  # a bug of ours: one line and a log file, never a traceback
        if _debug:
            raise
        code = _internal_error(exc)
    raise typer.Exit(code)


def _internal_error(exc: Exception) -> int:
    import traceback
    from datetime import datetime

    from rehearsal.ledger.db import state_dir
    from rehearsal.ledger.states import INTERNAL_ERROR_EXIT

    where = "the traceback could not be written"
    try:
        folder = state_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"internal-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"
        with path.open("a", encoding="utf-8") as f:
            f.write("".join(traceback.format_exception(exc)))
        where = f"details in {path}"
    except OSError:
        pass
    print(
        f"error: internal error ({type(exc).__name__}): a bug in rehearsal; {where}",
        file=sys.stderr,
    )
    return INTERNAL_ERROR_EXIT


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
    global _debug
    _debug = debug


# --- numbers and paths, checked at the edge: a clear error naming the option, exit 2 ----

MAX_TIMEOUT_SCALE = 100.0  # a 10 s step may wait 1000 s; beyond, a typo rather than a plan


def _positive(upper: float | None = None) -> Callable[[float | None], float | None]:
    """A finite number greater than 0 (and at most `upper`); None stays None."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value) or value <= 0:
            raise typer.BadParameter(f"expected a finite number greater than 0, not {value:g}")
        if upper is not None and value > upper:
            raise typer.BadParameter(f"expected at most {upper:g}, not {value:g}")
        return value

    return check


def _state_dir_usable(value: Path | None) -> Path | None:
    """The state folder must be a folder this process can write, or one it can create."""
    from rehearsal.ledger.db import state_dir_problem

    if problem := state_dir_problem(value):
        raise typer.BadParameter(problem)
    return value


_STATE_DIR = typer.Option(
    None,
    envvar="REHEARSAL_STATE_DIR",
    help="Where runs and the simulator's books are kept. [default: ~/.local/state/rehearsal]",
    callback=_state_dir_usable,
)
_TIMEOUT_SCALE = typer.Option(
    1.0,
    help=f"Multiply every step's timeout: greater than 0, at most {MAX_TIMEOUT_SCALE:g}.",
    callback=_positive(MAX_TIMEOUT_SCALE),
)
_MAX_AMOUNT = typer.Option(
    None, min=1, help="Live mode: cap on any one movement (minor units). [default: 1000]"
)

# The public path for webhooks (rehearsal/tunnels), shared by run, start, step and resume.
_TUNNEL = typer.Option(
    None,
    "--tunnel",
    help="none | ngrok | cloudflared: how a provider reaches the receiver; events-api: "
    "no receiver, read the provider's events API (Stripe). [env REHEARSAL_TUNNEL, or the "
    "plan's tunnel:; default: none for the simulator]",
    show_default=False,
)
_PUBLIC_URL = typer.Option(
    None, envvar="REHEARSAL_PUBLIC_URL", help="Your own proxy's public URL (with --listen)."
)
_LISTEN = typer.Option(
    None, envvar="REHEARSAL_LISTEN", help="HOST:PORT the receiver binds, where your proxy forwards."
)
_NGROK_DOMAIN = typer.Option(None, help="ngrok: your reserved domain. [env NGROK_DOMAIN]")
_PROBE_EVERY = typer.Option(
    60.0,
    help="Seconds between tunnel re-probes during long waits (greater than 0).",
    callback=_positive(),
)


# step and resume: a live run is armed again in each process that moves its money.
_YES_AGAIN = typer.Option(
    False, "--yes", help="A live run without a terminal: arm it again (see `run --yes`)."
)
_MAX_AGAIN = typer.Option(None, min=1, help="Live mode: the cap given at `start`, again.")
_PLAIN = typer.Option(False, "--plain", help="Plain lines instead of a live table.")
_CLEANUP = typer.Option(
    True, "--cleanup/--no-cleanup", help="Refund and cancel what the run created if a step fails."
)

# Reports, on run, step and resume: written when the run ends, passed, failed or interrupted.
_REPORT_JSON = typer.Option(None, help="Write a JSON report of the run here.")
_JUNIT = typer.Option(None, "--junit", help="Write JUnit XML here: a test case per transition.")
_REPORT_MD = typer.Option(
    None, help="Write a Markdown summary here (and append it to $GITHUB_STEP_SUMMARY if set)."
)


@app.command()
def run(
    plans: list[str] = typer.Argument(
        None,
        help="Plan file(s), or built-in plans' names; a plan may declare a matrix. "
        "[default: plans/rehearsal.yaml]",
        show_default=False,
        metavar="[PLAN]...",
    ),
    provider: str = typer.Option(None, help="Override the plan's provider."),
    live: bool = typer.Option(
        False, "--live", help="Live mode: real money. Never falls back to the simulator."
    ),
    simulator: bool = typer.Option(False, "--simulator", help="Force the built-in simulator."),
    timeout_scale: float = _TIMEOUT_SCALE,
    report_json: Path = _REPORT_JSON,
    junit: Path = _JUNIT,
    report_md: Path = _REPORT_MD,
    state_dir: Path = _STATE_DIR,
    plain: bool = typer.Option(False, "--plain", help="Plain lines instead of a live table."),
    quiet: bool = typer.Option(False, "--quiet", help="Only failures and the verdict."),
    yes: bool = typer.Option(
        False,
        "--yes",
        help="Live mode without a terminal: arm with "
        "REHEARSAL_LIVE_CONFIRM=<provider>:<most the run can charge>.",
    ),
    max_amount: int = _MAX_AMOUNT,
    cleanup: bool = typer.Option(
        True, "--cleanup/--no-cleanup", help="Refund and cancel what a failed run created."
    ),
    sim_fault: list[str] = typer.Option(
        [],
        "--sim-fault",
        envvar="REHEARSAL_SIM_FAULTS",
        help="A fault for the embedded simulator, e.g. drop:payment.refunded (repeatable).",
    ),
    tunnel: str = _TUNNEL,
    public_url: str = _PUBLIC_URL,
    listen: str = _LISTEN,
    ngrok_domain: str = _NGROK_DOMAIN,
    probe_every: float = _PROBE_EVERY,
    parallel: int = typer.Option(
        None, "--parallel", help="Run the rehearsals (plans, matrix, repeats) N at a time."
    ),
    repeat: int = typer.Option(1, "--repeat", help="Run every rehearsal K times (a soak)."),
    shard: str = typer.Option(
        None, "--shard", help="Run only slice I of N of the rehearsals, e.g. 2/4 (CI jobs)."
    ),
    forward_to: str = typer.Option(
        None,
        "--forward-to",
        help="Also deliver each verified event to your own handler at URL, re-signed with "
        "$REHEARSAL_FORWARD_SECRET; a step fails if the handler refuses or is too slow.",
    ),
) -> None:
    """Run a whole plan now. With no provider keys set, against the built-in simulator.
    Several plans, a plan's matrix, --parallel, --repeat or --shard: many rehearsals, one
    receiver and one tunnel (docs/plans.md, Matrix)."""
    from rehearsal.commands.run import RunArgs
    from rehearsal.commands.run import run as run_command

    args = RunArgs(
        plan=plans[0] if plans else None,
        plans=list(plans or []),
        parallel=parallel,
        repeat=repeat,
        shard=shard,
        provider=provider,
        live=live,
        simulator=simulator,
        timeout_scale=timeout_scale,
        report_json=report_json,
        junit=junit,
        report_md=report_md,
        state_dir=state_dir,
        plain=plain,
        quiet=quiet,
        cleanup=cleanup,
        yes=yes,
        max_amount=max_amount,
        sim_faults=[f for spec in sim_fault for f in spec.split(",") if f],
        tunnel=tunnel,
        public_url=public_url,
        listen=listen,
        ngrok_domain=ngrok_domain,
        probe_every=probe_every,
        forward_to=forward_to,
    )
    _guard(lambda: run_command(args))


@app.command("simulator")
def simulator_command(
    port: int = typer.Option(
        8420, min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."
    ),
    provider: str = typer.Option("mintcash", help="Which provider's API to speak."),
    db: Path = typer.Option(None, help="The books (SQLite). [default: in the state folder]"),
    state_dir: Path = _STATE_DIR,
    time_scale: float = typer.Option(
        1.0, help="Shorten the webhook retry schedule (greater than 0).", callback=_positive()
    ),
    fault: list[str] = typer.Option([], "--fault", help="A fault switch (repeatable)."),
    until_stdin_closes: bool = typer.Option(
        False, "--until-stdin-closes", hidden=True, help="Stop when standard input closes."
    ),
) -> None:
    """Run the built-in simulator as its own process, for your own webhook handler or tests."""
    from rehearsal.commands.simulator import serve

    _guard(
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
    provider: str = typer.Option(None, help="Override the plan's provider."),
    live: bool = typer.Option(False, "--live", help="Live mode: real money."),
    simulator: bool = typer.Option(False, "--simulator", help="Force the built-in simulator."),
    timeout_scale: float = _TIMEOUT_SCALE,
    yes: bool = typer.Option(False, "--yes", help="Arm live mode without a terminal."),
    max_amount: int = _MAX_AMOUNT,
    state_dir: Path = _STATE_DIR,
    tunnel: str = _TUNNEL,
    public_url: str = _PUBLIC_URL,
    listen: str = _LISTEN,
) -> None:
    """Create a run and print its id; no money moves until `step` or `resume`."""
    from rehearsal.commands.run import RunArgs
    from rehearsal.commands.run import start as start_command

    args = RunArgs(
        plan=plan,
        provider=provider,
        live=live,
        simulator=simulator,
        timeout_scale=timeout_scale,
        state_dir=state_dir,
        yes=yes,
        max_amount=max_amount,
        tunnel=tunnel,
        public_url=public_url,
        listen=listen,
    )
    _guard(lambda: (start_command(args), 0)[1])


def _resume_args(params: dict[str, Any]) -> RunArgs:
    """`step` and `resume` take the same options, named as RunArgs' fields."""
    from rehearsal.commands.run import RunArgs

    return RunArgs(**{k: v for k, v in params.items() if k not in ("run_id", "step_id")})


@app.command()
def step(
    run_id: str = typer.Argument(..., help="The run."),
    step_id: str = typer.Argument(
        None, help="Run up to and including this step. [default: the next step]", show_default=False
    ),
    yes: bool = _YES_AGAIN,
    max_amount: int = _MAX_AGAIN,
    state_dir: Path = _STATE_DIR,
    plain: bool = _PLAIN,
    cleanup: bool = _CLEANUP,
    tunnel: str = _TUNNEL,
    public_url: str = _PUBLIC_URL,
    listen: str = _LISTEN,
    ngrok_domain: str = _NGROK_DOMAIN,
    probe_every: float = _PROBE_EVERY,
    report_json: Path = _REPORT_JSON,
    junit: Path = _JUNIT,
    report_md: Path = _REPORT_MD,
) -> None:
    """Run the next step of a run (or every step up to a named one), then pause."""
    args = _resume_args(locals())  # first: locals() must hold only the options
    from rehearsal.commands.run import next_step
    from rehearsal.commands.run import resume as resume_command

    _guard(lambda: resume_command(run_id, args, stop_after=step_id or next_step(run_id, args)))


@app.command()
def resume(
    run_id: str = typer.Argument(..., help="The run."),
    yes: bool = _YES_AGAIN,
    max_amount: int = _MAX_AGAIN,
    state_dir: Path = _STATE_DIR,
    plain: bool = _PLAIN,
    cleanup: bool = _CLEANUP,
    tunnel: str = _TUNNEL,
    public_url: str = _PUBLIC_URL,
    listen: str = _LISTEN,
    ngrok_domain: str = _NGROK_DOMAIN,
    probe_every: float = _PROBE_EVERY,
    report_json: Path = _REPORT_JSON,
    junit: Path = _JUNIT,
    report_md: Path = _REPORT_MD,
) -> None:
    """Carry a run on from wherever it stopped (after a crash too) to its end."""
    args = _resume_args(locals())  # first: locals() must hold only the options
    from rehearsal.commands.run import resume as resume_command

    _guard(lambda: resume_command(run_id, args))


@app.command()
def runs(
    state_dir: Path = _STATE_DIR,
) -> None:
    """List runs, newest first, with what each left outstanding."""
    from rehearsal.commands import ledger

    _guard(lambda: ledger.runs(state_dir))


@app.command()
def status(
    run_id: str = typer.Argument(
        None, help="A run id. [default: the latest run]", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="The same, as JSON for scripts."),
    offline: bool = typer.Option(
        False, "--offline", help="From the ledger only: do not read the provider's books."
    ),
    state_dir: Path = _STATE_DIR,
) -> None:
    """Where a run stands: each step, and the money charged, refunded and outstanding, as
    the provider's API shows it now (read only: nothing moves)."""
    from rehearsal.commands import ledger

    _guard(lambda: ledger.status(run_id, state_dir, as_json, offline=offline))


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
    state_dir: Path = _STATE_DIR,
) -> None:
    """Refund what a run charged and cancel what it subscribed, confirmed through the API."""
    from rehearsal.commands import ledger

    _guard(lambda: ledger.cleanup(run_id, state_dir, plain=True, replay=replay, yes=yes))


@app.command("tunnel")
def tunnel_command(
    tunnel: str = _TUNNEL,
    public_url: str = _PUBLIC_URL,
    listen: str = _LISTEN,
    ngrok_domain: str = _NGROK_DOMAIN,
    provider: str = typer.Option(
        "mintcash", help="Whose signatures to check (with <PROVIDER>_WEBHOOK_SECRET set)."
    ),
    live: bool = typer.Option(False, "--live", help="Check deliveries as live-mode events."),
    state_dir: Path = _STATE_DIR,
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
    _guard(lambda: serve(args))


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
    state_dir: Path = _STATE_DIR,
) -> None:
    """Render a stored run again from the ledger, as JSON, JUnit XML or Markdown."""
    from rehearsal.commands import report as reports

    if run_id == "schema":
        _guard(lambda: reports.schema(output))
    if run_id == "merge":
        from rehearsal.reports.merge import merge

        if not paths:
            _guard(lambda: merge(Path("-"), []))
        _guard(lambda: merge(paths[0], list(paths[1:])))
    _guard(lambda: reports.report(run_id, fmt, output, state_dir))


@app.command()
def plans() -> None:
    """List the built-in plans, each with what it proves, and how to copy one as a template."""
    from rehearsal.commands.plans import plans as plans_command

    _guard(plans_command)


# --- the go-live audit (rehearsal/audit/, commands/audit.py) -----------------------------

AUDIT_EXIT_CODES = """Exit codes: 0 every checkable item passed, 1 an item failed, 2 bad input
(a missing variable, an unknown provider, a bad URL or option)."""

audit_app = typer.Typer(
    help="Audit your own webhook endpoint and keys against the provider's go-live "
    "checklist. Moves no money.\n\n" + AUDIT_EXIT_CODES,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)
app.add_typer(audit_app, name="audit")

_AUDIT_PROVIDER = typer.Option(
    ..., "--provider", help="Whose webhooks and checklist: mintcash, paymongo."
)
_AUDIT_JSON = typer.Option(None, "--report-json", help="Write the audit as JSON here.")
_AUDIT_JUNIT = typer.Option(None, "--junit", help="Write JUnit XML here: a test case per check.")
_AUDIT_MD = typer.Option(None, "--report-md", help="Write a Markdown summary here.")
_AUDIT_PLAIN = typer.Option(False, "--plain", help="Plain lines instead of a table.")


@audit_app.command("endpoint")
def audit_endpoint(
    url: str = typer.Argument(..., help="Your webhook endpoint's URL (https://…)."),
    provider: str = _AUDIT_PROVIDER,
    live: bool = typer.Option(
        False, "--live", help="The endpoint is your live one: probes are live-mode events."
    ),
    allow_http: bool = typer.Option(
        False, "--allow-http", help="Accept plain HTTP, for an endpoint on loopback only."
    ),
    ca_bundle: Path = typer.Option(
        None, "--ca-bundle", help="Trust the CAs in this PEM file instead of the system's."
    ),
    report_json: Path = _AUDIT_JSON,
    junit: Path = _AUDIT_JUNIT,
    report_md: Path = _AUDIT_MD,
    plain: bool = _AUDIT_PLAIN,
    state_dir: Path = _STATE_DIR,
) -> None:
    """Send signed probe events, as the provider signs them with <PROVIDER>_WEBHOOK_SECRET,
    to your endpoint and judge each answer against the go-live checklist: HTTPS, valid
    events acknowledged in time, forged, unsigned, tampered, stale and other-environment
    events refused, unknown types and duplicates acknowledged, a burst answered. Contacts
    only URL; never moves money.

    Exit codes: 0 every checkable item passed, 1 an item failed, 2 bad input."""
    from rehearsal.commands.audit import EndpointArgs, ReportPaths, endpoint

    args = EndpointArgs(
        url,
        provider,
        live=live,
        allow_http=allow_http,
        ca_bundle=ca_bundle,
        reports=ReportPaths(report_json, junit, report_md),
        state_dir=state_dir,
        plain=plain,
    )
    _guard(lambda: endpoint(args))


@audit_app.command("keys")
def audit_keys(
    provider: str = _AUDIT_PROVIDER,
    live: bool = typer.Option(False, "--live", help="The keys are meant for live mode."),
    repo: Path = typer.Option(
        Path("."), "--repo", help="The repository to scan (working tree and git history)."
    ),
    test_endpoint: str = typer.Option(None, help="Your test-mode webhook URL."),
    live_endpoint: str = typer.Option(None, help="Your live-mode webhook URL."),
    other_secret_from: str = typer.Option(
        None,
        "--other-secret-from",
        help="The variable holding the other mode's webhook secret (compared, never shown).",
    ),
    report_json: Path = _AUDIT_JSON,
    junit: Path = _AUDIT_JUNIT,
    report_md: Path = _AUDIT_MD,
    plain: bool = _AUDIT_PLAIN,
    state_dir: Path = _STATE_DIR,
) -> None:
    """Check the provider's keys in the environment (each of the intended mode, by its
    prefix), that live and test webhook endpoints and secrets differ, and that no secret
    key or webhook secret is committed (working tree and git history: file, line, commit,
    value masked). Contacts nothing.

    Exit codes: 0 every checkable item passed, 1 an item failed, 2 bad input."""
    from rehearsal.commands.audit import KeysArgs, ReportPaths, keys

    args = KeysArgs(
        provider,
        live=live,
        repo=repo,
        test_endpoint=test_endpoint,
        live_endpoint=live_endpoint,
        other_secret_from=other_secret_from,
        reports=ReportPaths(report_json, junit, report_md),
        state_dir=state_dir,
        plain=plain,
    )
    _guard(lambda: keys(args))


@app.command("checklist")
def checklist_command(
    provider: str = _AUDIT_PROVIDER,
    report_md: Path = typer.Option(None, "--report-md", help="Write the same as Markdown here."),
    state_dir: Path = _STATE_DIR,
) -> None:
    """Print the provider's go-live checklist (from its seed), each item marked by what the
    last audits and the last rehearsal showed: passed, failed, not checked, manual."""
    from rehearsal.commands.audit import checklist

    _guard(lambda: checklist(provider, report_md, state_dir))


def main() -> None:
    # One name, however it is started (`rehearsal`, `python -m rehearsal`): usage lines and
    # shell completion (which completes the command by this name) say `rehearsal`.
    app_for(sys.argv[1:])(prog_name="rehearsal")


def app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command `argv` names: typer builds every registered command's
    options at each start (~15 ms for all of ours), and a run needs one. The root's options
    stay, so usage lines, help and errors read the same. The whole app for anything else:
    no command, a root option first, a name that is no command, shell completion."""
    import copy
    import os

    if not argv or argv[0].startswith("-"):
        return app
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return app  # typer's shell completion (_REHEARSAL_COMPLETE) lists every command
    from typer.main import get_command_name

    name = argv[0]
    commands = [
        c
        for c in app.registered_commands
        if c.callback is not None and (c.name or get_command_name(c.callback.__name__)) == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    slim = copy.copy(app)
    slim.registered_commands, slim.registered_groups = commands, groups
    return slim
