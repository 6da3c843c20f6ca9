"""The keys audit: the secret key comes from the environment and is of the intended mode
(by its declared prefix), the public key (where the provider has one) is of the same mode,
the live and test webhook endpoints and secrets differ, and no secret key or webhook
secret is committed to the repository (working tree or history). Reads only the
environment and the repository: contacts nothing. Never shows a key: only its mode, and a
finding's prefix and last four characters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rehearsal.audit.checklist import FAILED, NOT_CHECKABLE, PASSED
from rehearsal.audit.probes import ProbeResult
from rehearsal.audit.secrets_scan import Finding, scan
from rehearsal.providers.declaration import KeyVariable, ProviderDeclaration


@dataclass(frozen=True)
class KeysArgs:
    environment: str  # the mode the keys are meant for
    repo: Path
    test_endpoint: str | None = None
    live_endpoint: str | None = None
    other_secret_variable: str | None = None  # holds the other mode's webhook secret


def key_mode(probe: str, key: KeyVariable, environment: str) -> ProbeResult:
    title = f"{key.variable} is a {environment}-mode key"
    value = os.environ.get(key.variable, "")
    if not value:
        return ProbeResult(probe, title, NOT_CHECKABLE, f"{key.variable} is not set")
    mode = key.mode_of(value)
    if mode is None:
        detail = f"{key.variable} has no known prefix (expected {key.expected()})"
        return ProbeResult(probe, title, FAILED, detail)
    if mode != environment:
        detail = f"{key.variable} is a {mode}-mode key ({key.prefixes[mode]}…), not {environment}"
        return ProbeResult(probe, title, FAILED, detail)
    return ProbeResult(probe, title, PASSED, f"{key.variable} from the environment, {mode} mode")


def distinct(args: KeysArgs, declared: ProviderDeclaration) -> ProbeResult:
    title = "live and test webhook endpoints and secrets are distinct"
    checked, problems = [], []
    if args.test_endpoint and args.live_endpoint:
        checked.append("endpoints")
        if args.test_endpoint.rstrip("/") == args.live_endpoint.rstrip("/"):
            problems.append("the live and test webhook endpoints are the same URL")
    mine = os.environ.get(declared.webhook_secret_variable, "")
    if args.other_secret_variable:
        other = os.environ.get(args.other_secret_variable, "")
        if mine and other:
            checked.append("secrets")
            if set(mine.split(",")) & set(other.split(",")):
                problems.append(
                    f"{declared.webhook_secret_variable} and {args.other_secret_variable} "
                    "share a webhook secret"
                )
    if problems:
        return ProbeResult("distinct-environments", title, FAILED, "; ".join(problems))
    if not checked:
        detail = (
            "give --test-endpoint and --live-endpoint, and --other-secret-from VARIABLE "
            "(the other mode's webhook secret), to check"
        )
        return ProbeResult("distinct-environments", title, NOT_CHECKABLE, detail)
    return ProbeResult("distinct-environments", title, PASSED, f"distinct {' and '.join(checked)}")


def committed(findings: list[Finding], is_git: bool, webhook: bool) -> ProbeResult:
    probe = "committed-webhook-secrets" if webhook else "committed-secrets"
    what = "webhook secrets" if webhook else "secret keys"
    title = f"no {what} committed"
    mine = [f for f in findings if f.webhook == webhook]
    where = "the working tree and its git history" if is_git else "the folder (not a git repo)"
    if not mine:
        return ProbeResult(probe, title, PASSED, f"none found in {where}")
    shown = "; ".join(f"{f.file}:{f.line} ({f.commit or 'working tree'})" for f in mine[:5])
    more = f" and {len(mine) - 5} more" if len(mine) > 5 else ""
    detail = f"{len(mine)} found in {where}: {shown}{more}; rotate them"
    return ProbeResult(probe, title, FAILED, detail)


def run(args: KeysArgs, declared: ProviderDeclaration) -> tuple[list[ProbeResult], list[Finding]]:
    results = [key_mode("secret-key-mode", declared.secret_key, args.environment)]
    results += [key_mode("public-key-mode", k, args.environment) for k in declared.other_keys]
    findings, is_git = scan(args.repo)
    results.append(committed(findings, is_git, webhook=False))
    results.append(committed(findings, is_git, webhook=True))
    results.append(distinct(args, declared))
    return results, findings
