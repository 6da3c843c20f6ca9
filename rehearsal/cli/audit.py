"""`rehearsal audit endpoint` and `rehearsal audit keys`: the go-live audit's typer group.

Each command parses its options and calls one function in commands/audit.py through the
error boundary; cli/app.py adds the group to the app. Nothing heavy is imported here.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rehearsal.cli import options as o
from rehearsal.cli.errors import guard

AUDIT_EXIT_CODES = """Exit codes: 0 every checkable item passed, 1 an item failed, 2 bad input
(a missing variable, an unknown provider, a bad URL or option)."""

audit_app = typer.Typer(
    help="Audit your own webhook endpoint and keys against the provider's go-live "
    "checklist. Moves no money.\n\n" + AUDIT_EXIT_CODES,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


@audit_app.command("endpoint")
def audit_endpoint(
    url: str = typer.Argument(..., help="Your webhook endpoint's URL (https://…)."),
    provider: str = o.AUDIT_PROVIDER,
    live: bool = typer.Option(
        False, "--live", help="The endpoint is your live one: probes are live-mode events."
    ),
    allow_http: bool = typer.Option(
        False, "--allow-http", help="Accept plain HTTP, for an endpoint on loopback only."
    ),
    ca_bundle: Path = typer.Option(
        None, "--ca-bundle", help="Trust the CAs in this PEM file instead of the system's."
    ),
    report_json: Path = o.AUDIT_JSON,
    junit: Path = o.AUDIT_JUNIT,
    report_md: Path = o.AUDIT_MD,
    plain: bool = o.AUDIT_PLAIN,
    state_dir: Path = o.STATE_DIR,
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
    guard(lambda: endpoint(args))


@audit_app.command("keys")
def audit_keys(
    provider: str = o.AUDIT_PROVIDER,
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
    report_json: Path = o.AUDIT_JSON,
    junit: Path = o.AUDIT_JUNIT,
    report_md: Path = o.AUDIT_MD,
    plain: bool = o.AUDIT_PLAIN,
    state_dir: Path = o.STATE_DIR,
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
    guard(lambda: keys(args))
