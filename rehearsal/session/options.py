"""What `run`, `start`, `step` and `resume` are asked (`RunArgs`), and the checks and
choices read straight from it: report paths writable before anything moves, the public
path or events feed the options choose. Shared by the single run and the matrix; it opens
nothing and moves nothing."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rehearsal.errors import UsageError
from rehearsal.ledger.db import nearest_existing

if TYPE_CHECKING:
    from rehearsal.plan.model import Plan
    from rehearsal.tunnels import TunnelSpec

EVENTS_POLL = 2.0  # seconds between reads of a provider's events API
EVENTS_POLL_SIMULATOR = 0.1  # the simulator on this machine


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
    junit: Path | None = None  # reports: see rehearsal.reports.files
    report_md: Path | None = None
    tunnel: str | None = None  # none | ngrok | cloudflared | public-url (see rehearsal.tunnels)
    public_url: str | None = None
    listen: str | None = None
    ngrok_domain: str | None = None
    probe_every: float = 60.0  # seconds between tunnel re-probes during a long wait
    forward_to: str | None = None  # the merchant's own handler (forward.py)
    # Many rehearsals at once (rehearsal/session/matrix.py): more plans, a plan's matrix,
    # --parallel N, --repeat K, --shard I/N. None of them: one run, exactly as before.
    plans: list[str] = field(default_factory=list)
    parallel: int | None = None
    repeat: int = 1
    shard: str | None = None


def check_report_paths(args: RunArgs) -> None:
    """Every report path must be writable before the first call: a report that cannot be
    written after the money moved is a run nobody can read. A missing folder is made now,
    and the operator told so; a path under a file or in a folder we cannot write is
    refused."""
    wanted = (
        ("--report-json", args.report_json),
        ("--junit", args.junit),
        ("--report-md", args.report_md),
    )
    for option, path in wanted:
        if path is not None and (problem := _output_problem(path)):
            raise UsageError(
                f"{option} {path}: {problem}",
                hint="give a path in a folder you can write; nothing was run, nothing moved",
            )
    for option, path in wanted:
        if path is not None and not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(
                    f"{option} {path}: cannot make its folder ({exc.strerror})"
                ) from None
            print(f"note: made the folder {path.parent} for {option}", file=sys.stderr)


def _output_problem(path: Path) -> str | None:
    if path.exists():
        if path.is_dir():
            return "is a folder, not a file"
        if not os.access(path, os.W_OK):
            return "is not writable"
        return None
    parent = nearest_existing(path.parent)
    if not parent.is_dir():
        return f"cannot be written: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be written: the folder {parent} is not writable"
    return None


def tunnel_spec(args: RunArgs, plan: Plan) -> TunnelSpec | None:
    """The public path (or events feed) the options and the plan choose, if any."""
    from rehearsal.tunnels import choose

    return choose(
        args.tunnel,
        public_url=args.public_url,
        listen=args.listen,
        plan=plan.tunnel,
        domain=args.ngrok_domain or plan.tunnel_domain,
    )


def wants_public_path(spec: TunnelSpec | None) -> bool:
    return spec is not None and spec.mode not in ("none", "events-api")


def wants_events_api(spec: TunnelSpec | None) -> bool:
    return spec is not None and spec.mode == "events-api"
