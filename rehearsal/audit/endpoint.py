"""The endpoint audit: check the URL's transport, then run every probe in order, and roll
the results up into the provider's checklist items.

It contacts only the URL it was given, sends only the probes, and never moves money.
HTTPS is verified against the trusted CAs (or a `--ca-bundle`); a self-signed certificate
fails with the verifier's reason. Plain HTTP is accepted only on loopback with
`--allow-http` (a local endpoint under test), and then the HTTPS item is not checkable.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rehearsal.audit import probes
from rehearsal.audit.checklist import FAILED, NOT_CHECKABLE, PASSED, Item, Outcome, roll_up
from rehearsal.audit.dialect import AuditDialect
from rehearsal.audit.probes import ProbeResult, Probing
from rehearsal.errors import UsageError

# Tests shorten the provider's answer limit (a slow handler then takes a second, not ten):
# REHEARSAL_AUDIT_TIME_SCALE=0.05 makes MintCash's 10 s limit 0.5 s. Not a user option.
TIME_SCALE_VARIABLE = "REHEARSAL_AUDIT_TIME_SCALE"
PROBE_ORDER = (
    "https",
    "valid",
    "raw-body",
    "timing",
    "bad-signature",
    "missing-signature",
    "tampered-body",
    "stale-timestamp",
    "other-mode-slot",
    "other-environment",
    "unknown-type",
    "duplicate",
    "burst",
)
TITLES = {
    "https": "HTTPS with a trusted certificate",
    "valid": "a valid signed event",
    "raw-body": "the raw body, byte for byte",
    "timing": "answers within the limit",
    "bad-signature": "a bad signature",
    "missing-signature": "a missing signature",
    "tampered-body": "a tampered body",
    "stale-timestamp": "a stale timestamp",
    "other-mode-slot": "a signature in the other mode's slot",
    "other-environment": "an event of the other environment",
    "unknown-type": "an unknown event type",
    "duplicate": "a duplicate delivery",
    "burst": "concurrent deliveries",
}


@dataclass(frozen=True)
class EndpointAudit:
    url: str
    provider: str
    environment: str
    limit: float  # seconds, scaled
    results: tuple[ProbeResult, ...]

    @property
    def failed(self) -> bool:
        return any(r.outcome == FAILED for r in self.results)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_http: bool) -> str:
    """The URL's scheme ("https" or "http"), or a UsageError for one that is not a URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(
            "expected an http(s) URL with a host (not shown: it may hold a token)",
            hint="give the webhook endpoint's full URL",
        )
    if allow_http and parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"--allow-http is for an endpoint on loopback only, not {parts.hostname}",
            hint="a provider delivers over HTTPS: audit the public https:// URL",
        )
    return parts.scheme


def time_scale() -> float:
    raw = os.environ.get(TIME_SCALE_VARIABLE)
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 1:
        raise UsageError(f"{TIME_SCALE_VARIABLE} must be a number in (0, 1], not {raw!r}")
    return value


def _not_sent(probe: str, why: str) -> ProbeResult:
    return ProbeResult(probe, TITLES[probe], NOT_CHECKABLE, f"not sent: {why}")


def run(
    url: str,
    dialect: AuditDialect,
    secret: str,
    *,
    environment: str,
    allow_http: bool = False,
    ca_bundle: Path | None = None,
    on_result: Callable[[ProbeResult], None] = lambda r: None,
) -> EndpointAudit:
    import httpx

    scheme = check_url(url, allow_http)
    limit = dialect.limit * time_scale()
    results: list[ProbeResult] = []

    def done(result: ProbeResult) -> None:
        results.append(result)
        on_result(result)

    def finish() -> EndpointAudit:
        return EndpointAudit(url, dialect.provider, environment, limit, tuple(results))

    if scheme == "http" and not allow_http:
        done(
            ProbeResult(
                "https",
                TITLES["https"],
                FAILED,
                "plain HTTP: the provider "
                "requires HTTPS (--allow-http only for a local endpoint on loopback)",
            )
        )
        for probe in PROBE_ORDER[1:]:
            done(_not_sent(probe, "the endpoint is not HTTPS"))
        return finish()
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    # Each answer may take a little past the limit, so a late one is measured, not cut.
    timeout = httpx.Timeout(limit * 1.5 + 0.5, connect=min(10.0, limit + 1))
    with httpx.Client(verify=verify, timeout=timeout, follow_redirects=False) as client:
        p = Probing(client, url, secret, dialect, environment, limit, secrets.token_hex(4))
        first = probes.valid(p)
        reached = [d for d in first.deliveries if d.status is not None]
        if not reached:
            d = first.deliveries[0]
            why = f"certificate not trusted: {d.tls}" if d.tls else f"no connection: {d.error}"
            done(ProbeResult("https", TITLES["https"], FAILED, why, first.deliveries))
            for probe in PROBE_ORDER[1:]:
                done(_not_sent(probe, "the endpoint could not be reached"))
            return finish()
        if scheme == "https":
            done(ProbeResult("https", TITLES["https"], PASSED, "TLS certificate verified"))
        else:
            done(
                ProbeResult(
                    "https",
                    TITLES["https"],
                    NOT_CHECKABLE,
                    "plain HTTP on loopback, allowed by --allow-http",
                )
            )
        done(first)
        done(probes.raw_body(p))
        done(probes.timing(p, list(first.deliveries)))
        for step in (
            probes.bad_signature,
            probes.missing_signature,
            probes.tampered_body,
            probes.stale_timestamp,
            probes.other_mode_slot,
            probes.other_environment,
            probes.unknown_type,
            probes.duplicate,
            probes.burst,
        ):
            done(step(p))
    return finish()


def item_outcomes(
    dialect: AuditDialect, results: tuple[ProbeResult, ...]
) -> list[tuple[Item, Outcome, list[ProbeResult]]]:
    """Each checklist item the probes speak to, with its rolled-up outcome."""
    by_item: dict[str, list[ProbeResult]] = {}
    for r in results:
        by_item.setdefault(dialect.probe_items[r.probe], []).append(r)
    return [
        (i, roll_up(r.outcome for r in by_item[i.id]), by_item[i.id])
        for i in dialect.items
        if i.id in by_item
    ]
