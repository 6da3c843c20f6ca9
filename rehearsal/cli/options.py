"""The options more than one command takes, declared once, and the checks at the edge.

`run`, `start`, `step` and `resume` share the run options (tunnel, reports, live arming,
the state folder); each is declared here once, so the four cannot drift. A number or path
that is wrong gets a clear error naming the option (exit 2) before any command runs. It
imports nothing heavy: `rehearsal --help` builds these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import typer

MAX_TIMEOUT_SCALE = 100.0  # a 10 s step may wait 1000 s; beyond, a typo rather than a plan


def positive(upper: float | None = None) -> Callable[[float | None], float | None]:
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


STATE_DIR = typer.Option(
    None,
    envvar="REHEARSAL_STATE_DIR",
    help="Where runs and the simulator's books are kept. [default: ~/.local/state/rehearsal]",
    callback=_state_dir_usable,
)
PROVIDER = typer.Option(None, help="Override the plan's provider.")
SIMULATOR = typer.Option(False, "--simulator", help="Force the built-in simulator.")
TIMEOUT_SCALE = typer.Option(
    1.0,
    help=f"Multiply every step's timeout: greater than 0, at most {MAX_TIMEOUT_SCALE:g}.",
    callback=positive(MAX_TIMEOUT_SCALE),
)
MAX_AMOUNT = typer.Option(
    None, min=1, help="Live mode: cap on any one movement (minor units). [default: 1000]"
)

# The public path for webhooks (rehearsal/tunnels), shared by run, start, step and resume.
TUNNEL = typer.Option(
    None,
    "--tunnel",
    help="none | ngrok | cloudflared: how a provider reaches the receiver; events-api: "
    "no receiver, read the provider's events API (Stripe). [env REHEARSAL_TUNNEL, or the "
    "plan's tunnel:; default: none for the simulator]",
    show_default=False,
)
PUBLIC_URL = typer.Option(
    None, envvar="REHEARSAL_PUBLIC_URL", help="Your own proxy's public URL (with --listen)."
)
LISTEN = typer.Option(
    None, envvar="REHEARSAL_LISTEN", help="HOST:PORT the receiver binds, where your proxy forwards."
)
NGROK_DOMAIN = typer.Option(None, help="ngrok: your reserved domain. [env NGROK_DOMAIN]")
PROBE_EVERY = typer.Option(
    60.0,
    help="Seconds between tunnel re-probes during long waits (greater than 0).",
    callback=positive(),
)

# step and resume: a live run is armed again in each process that moves its money.
RUN_ID = typer.Argument(..., help="The run.")
YES_AGAIN = typer.Option(
    False, "--yes", help="A live run without a terminal: arm it again (see `run --yes`)."
)
MAX_AGAIN = typer.Option(None, min=1, help="Live mode: the cap given at `start`, again.")
PLAIN = typer.Option(False, "--plain", help="Plain lines instead of a live table.")
CLEANUP = typer.Option(
    True, "--cleanup/--no-cleanup", help="Refund and cancel what the run created if a step fails."
)

# Reports, on run, step and resume: written when the run ends, passed, failed or interrupted.
REPORT_JSON = typer.Option(None, help="Write a JSON report of the run here.")
JUNIT = typer.Option(None, "--junit", help="Write JUnit XML here: a test case per transition.")
REPORT_MD = typer.Option(
    None, help="Write a Markdown summary here (and append it to $GITHUB_STEP_SUMMARY if set)."
)

# run alone: many rehearsals, and the merchant's own handler.
PLANS = typer.Argument(
    None,
    help="Plan file(s), or built-in plans' names; a plan may declare a matrix. "
    "[default: plans/rehearsal.yaml]",
    show_default=False,
    metavar="[PLAN]...",
)
LIVE = typer.Option(
    False, "--live", help="Live mode: real money. Never falls back to the simulator."
)
QUIET = typer.Option(False, "--quiet", help="Only failures and the verdict.")
YES = typer.Option(
    False,
    "--yes",
    help="Live mode without a terminal: arm with "
    "REHEARSAL_LIVE_CONFIRM=<provider>:<most the run can charge>.",
)
RUN_CLEANUP = typer.Option(
    True, "--cleanup/--no-cleanup", help="Refund and cancel what a failed run created."
)
SIM_FAULT = typer.Option(
    [],
    "--sim-fault",
    envvar="REHEARSAL_SIM_FAULTS",
    help="A fault for the embedded simulator, e.g. drop:payment.refunded (repeatable).",
)
PARALLEL = typer.Option(
    None, "--parallel", help="Run the rehearsals (plans, matrix, repeats) N at a time."
)
REPEAT = typer.Option(1, "--repeat", help="Run every rehearsal K times (a soak).")
SHARD = typer.Option(
    None, "--shard", help="Run only slice I of N of the rehearsals, e.g. 2/4 (CI jobs)."
)
FORWARD_TO = typer.Option(
    None,
    "--forward-to",
    help="Also deliver each verified event to your own handler at URL, re-signed with "
    "$REHEARSAL_FORWARD_SECRET; a step fails if the handler refuses or is too slow.",
)

# The go-live audit (audit endpoint, audit keys, checklist).
AUDIT_PROVIDER = typer.Option(
    ..., "--provider", help="Whose webhooks and checklist: mintcash, paymongo."
)
AUDIT_JSON = typer.Option(None, "--report-json", help="Write the audit as JSON here.")
AUDIT_JUNIT = typer.Option(None, "--junit", help="Write JUnit XML here: a test case per check.")
AUDIT_MD = typer.Option(None, "--report-md", help="Write a Markdown summary here.")
AUDIT_PLAIN = typer.Option(False, "--plain", help="Plain lines instead of a table.")
