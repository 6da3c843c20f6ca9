"""`rehearsal audit endpoint` and `rehearsal audit keys`: wire the environment, the
provider's audit dialect and the reports together; the checks live in rehearsal/audit/.
Each returns the exit code: 0 every checkable item passed, 1 one failed."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import UsageError


@dataclass(frozen=True)
class ReportPaths:
    json: Path | None = None
    junit: Path | None = None
    md: Path | None = None


@dataclass(frozen=True)
class EndpointArgs:
    url: str
    provider: str
    live: bool = False
    allow_http: bool = False
    ca_bundle: Path | None = None
    reports: ReportPaths = ReportPaths()
    state_dir: Path | None = None
    plain: bool = False


def _webhook_secret(provider: str) -> str:
    """The merchant's webhook secret, from the variable the provider declares (the first
    entry while rotating). Never printed."""
    from rehearsal import providers
    from rehearsal.providers.config import parse_webhook_secrets

    variable = providers.declaration_of(provider).webhook_secret_variable
    raw = os.environ.get(variable, "")
    if not raw:
        raise UsageError(
            f"{variable} is not set: the audit signs its probes with the webhook secret "
            "your endpoint verifies with",
            hint=f"export {variable} with your endpoint's webhook secret (never printed)",
        )
    return parse_webhook_secrets(variable, raw)[0]


def _finish(doc: dict[str, object], reports: ReportPaths, state: Path | None, plain: bool) -> int:
    from rehearsal.audit import last, report, terminal
    from rehearsal.ledger.db import state_dir

    terminal.show(doc, plain=plain)
    for path in report.write(doc, reports.json, reports.junit, reports.md):
        print(f"report: {path}")
    last.keep(state_dir(state), doc)
    code = doc["exit_code"]
    assert isinstance(code, int)
    return code


def endpoint(args: EndpointArgs) -> int:
    from rehearsal.audit import endpoint as audit
    from rehearsal.audit import report
    from rehearsal.audit.dialect import dialect_of

    dialect = dialect_of(args.provider)
    secret = _webhook_secret(args.provider)
    if args.ca_bundle is not None and not args.ca_bundle.is_file():
        raise UsageError(f"--ca-bundle: no such file: {args.ca_bundle}")
    environment = "live" if args.live else "test"
    started = time.time()
    result = audit.run(
        args.url,
        dialect,
        secret,
        environment=environment,
        allow_http=args.allow_http,
        ca_bundle=args.ca_bundle,
    )
    doc = report.document(
        kind="endpoint",
        dialect=dialect,
        environment=environment,
        target=report.shown_url(args.url),
        results=result.results,
        started=started,
        finished=time.time(),
        limit_s=result.limit,
    )
    return _finish(doc, args.reports, args.state_dir, args.plain)


@dataclass(frozen=True)
class KeysArgs:
    provider: str
    live: bool = False
    repo: Path = Path(".")
    test_endpoint: str | None = None
    live_endpoint: str | None = None
    other_secret_from: str | None = None
    reports: ReportPaths = ReportPaths()
    state_dir: Path | None = None
    plain: bool = False


def keys(args: KeysArgs) -> int:
    from rehearsal import providers
    from rehearsal.audit import keys as audit
    from rehearsal.audit import report
    from rehearsal.audit.dialect import dialect_of

    dialect = dialect_of(args.provider)
    declared = providers.declaration_of(args.provider)
    environment = "live" if args.live else "test"
    started = time.time()
    results, findings = audit.run(
        audit.KeysArgs(
            environment,
            args.repo,
            args.test_endpoint,
            args.live_endpoint,
            args.other_secret_from,
        ),
        declared,
    )
    doc = report.document(
        kind="keys",
        dialect=dialect,
        environment=environment,
        target=str(args.repo.resolve()),
        results=tuple(results),
        started=started,
        finished=time.time(),
        findings=[f.as_dict() for f in findings],
    )
    return _finish(doc, args.reports, args.state_dir, args.plain)


def checklist(provider: str, report_md: Path | None, state: Path | None) -> int:
    """Print the provider's go-live checklist, each item marked; 0 always (it reports)."""
    from rehearsal.audit import board
    from rehearsal.audit.dialect import dialect_of
    from rehearsal.ledger.db import state_dir

    dialect = dialect_of(provider)
    table = board.rows(dialect, state_dir(state))
    print(board.plain(provider, table), end="")
    if report_md is not None:
        report_md.parent.mkdir(parents=True, exist_ok=True)
        report_md.write_text(board.markdown(provider, table), encoding="utf-8")
        print(f"report: {report_md}")
    return 0
