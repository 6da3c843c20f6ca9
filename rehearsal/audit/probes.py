"""Each probe of the endpoint audit: what it sends and how it judges the answer.

A probe sends one or a few deliveries, each built and signed as the provider would (the
dialect), and judges the HTTP statuses against what a correct endpoint answers: 2xx for
an event it should take, 4xx for one it must refuse (a 5xx makes the provider retry). It
keeps the evidence: each delivery's status and time. Probe events carry a recognisable id
(`evt_rehearsal_audit_…`) and no money moves behind them. Nothing here holds the secret
longer than a call, and no message contains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from rehearsal.audit.checklist import FAILED, NOT_CHECKABLE, PASSED, Outcome
from rehearsal.audit.dialect import AuditDialect

STALE_BY = 3600  # seconds: well past the 300 s tolerance the schemes use (anchors.md §5)
VALID_COUNT = 5  # deliveries timed for the median and the worst
BURST = 10  # concurrent deliveries; bounded in count and, by the client timeout, in time
WRONG_SECRET = "whsec_rehearsal_audit_not_your_secret"


@dataclass(frozen=True)
class Delivery:
    status: int | None  # None: no answer
    ms: float
    error: str | None = None
    tls: str | None = None  # why the certificate was not trusted

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    def shown(self) -> str:
        return f"{self.status} in {self.ms:.0f} ms" if self.status else f"no answer ({self.error})"


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    title: str
    outcome: Outcome
    detail: str
    deliveries: tuple[Delivery, ...] = ()


@dataclass
class Probing:
    """One audit's connection to the endpoint, and how it signs."""

    client: httpx.Client
    url: str
    secret: str
    dialect: AuditDialect
    environment: str
    limit: float  # seconds, already scaled
    tag: str  # makes this audit's event ids unique
    sent: int = field(default=0)

    @property
    def other_environment(self) -> str:
        return "test" if self.environment == "live" else "live"

    def event_id(self) -> str:
        self.sent += 1
        return f"evt_rehearsal_audit_{self.tag}_{self.sent}"

    def payload(self, event_type: str | None = None, environment: str | None = None) -> Any:
        now = int(time.time())
        return self.dialect.event(
            event_type or self.dialect.known_type,
            self.event_id(),
            environment or self.environment,
            now,
        )

    def signed(self, body: bytes, at: int | None = None, secret: str | None = None) -> Any:
        t = int(time.time()) if at is None else at
        return self.dialect.sign(secret or self.secret, body, self.environment, t)

    def send(self, body: bytes, headers: dict[str, str]) -> Delivery:
        start = time.perf_counter()
        try:
            answer = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            ms = (time.perf_counter() - start) * 1000
            return Delivery(None, ms, f"no answer within {self.client.timeout.read:g}s")
        except httpx.TransportError as exc:
            ms = (time.perf_counter() - start) * 1000
            return Delivery(None, ms, _transport_error(exc), _untrusted(exc))
        return Delivery(answer.status_code, (time.perf_counter() - start) * 1000)


def _untrusted(exc: BaseException) -> str | None:
    """The certificate verifier's reason ("self-signed certificate"), if that was it."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate not trusted")
        seen = seen.__cause__ or seen.__context__
    return "certificate not trusted" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else None


def _transport_error(exc: httpx.TransportError) -> str:
    reason = str(exc).strip() or type(exc).__name__
    return reason.splitlines()[0][:200]


def expect_ack(probe: str, title: str, deliveries: list[Delivery], what: str) -> ProbeResult:
    bad = [d for d in deliveries if not d.ok]
    evidence = tuple(deliveries)
    if not bad:
        shown = ", ".join(str(d.status) for d in deliveries)
        return ProbeResult(probe, title, PASSED, f"{what}: acknowledged ({shown})", evidence)
    first = bad[0]
    why = "a 4xx or 5xx makes the provider retry it" if first.status else "no answer"
    return ProbeResult(
        probe, title, FAILED, f"{what}: answered {first.shown()}, not 2xx ({why})", evidence
    )


def expect_refusal(probe: str, title: str, delivery: Delivery, what: str) -> ProbeResult:
    evidence = (delivery,)
    if delivery.refused:
        return ProbeResult(probe, title, PASSED, f"{what}: refused ({delivery.shown()})", evidence)
    if delivery.ok:
        detail = f"{what}: ACCEPTED ({delivery.shown()}); it must be refused with 4xx"
    elif delivery.status is None:
        detail = f"{what}: {delivery.shown()}; it must be refused with 4xx"
    else:
        detail = (
            f"{what}: answered {delivery.shown()}; refuse it with 4xx (a {delivery.status} "
            "makes the provider retry it)"
        )
    return ProbeResult(probe, title, FAILED, detail, evidence)


# --- the probes, in the order they run ---------------------------------------------------


def valid(p: Probing) -> ProbeResult:
    deliveries = []
    for _ in range(VALID_COUNT):
        body = p.dialect.body(p.payload())
        deliveries.append(p.send(body, p.signed(body)))
        if deliveries[-1].status is None:
            break  # no connection: the rest would say the same
    return expect_ack("valid", "a valid signed event", deliveries, "valid signed events")


def raw_body(p: Probing) -> ProbeResult:
    """The same event, formatted as a JSON encoder other than the provider's might (spaces,
    a trailing newline, escaped characters): a handler that re-serializes parsed JSON
    before verifying computes a different HMAC and refuses it."""
    import json

    body = (json.dumps(p.payload(), indent=2, ensure_ascii=True) + "\n").encode()
    body = body.replace(b"no money moved", b"no money moved \\u2014 \\/")
    title = "the raw body, byte for byte"
    return expect_ack(
        "raw-body",
        title,
        [p.send(body, p.signed(body))],
        "an event whose bytes a JSON parser would not reproduce",
    )


def timing(p: Probing, timed: list[Delivery]) -> ProbeResult:
    answered = sorted(d.ms for d in timed if d.status is not None)
    title = f"answers within {p.limit:g}s"
    if not answered:
        return ProbeResult("timing", title, NOT_CHECKABLE, "no delivery was answered")
    median = answered[len(answered) // 2]
    worst = answered[-1]
    late = [d for d in timed if d.status is None or d.ms > p.limit * 1000]
    detail = f"median {median:.0f} ms, worst {worst:.0f} ms over {len(timed)} deliveries"
    if late:
        return ProbeResult(
            "timing", title, FAILED, f"{detail}: over the {p.limit:g}s limit", tuple(timed)
        )
    return ProbeResult("timing", title, PASSED, detail, tuple(timed))


def bad_signature(p: Probing) -> ProbeResult:
    body = p.dialect.body(p.payload())
    d = p.send(body, p.signed(body, secret=WRONG_SECRET))
    return expect_refusal(
        "bad-signature", "a bad signature", d, "an event signed with another secret"
    )


def missing_signature(p: Probing) -> ProbeResult:
    body = p.dialect.body(p.payload())
    d = p.send(body, {"Content-Type": "application/json"})
    return expect_refusal("missing-signature", "a missing signature", d, "an unsigned event")


def tampered_body(p: Probing) -> ProbeResult:
    payload = p.payload()
    headers = p.signed(p.dialect.body(payload))
    d = p.send(p.dialect.body(p.dialect.tamper(payload)), headers)
    return expect_refusal(
        "tampered-body", "a tampered body", d, "an event whose amount was changed after signing"
    )


def stale_timestamp(p: Probing) -> ProbeResult:
    body = p.dialect.body(p.payload())
    d = p.send(body, p.signed(body, at=int(time.time()) - STALE_BY))
    return expect_refusal(
        "stale-timestamp",
        "a stale timestamp",
        d,
        f"an event signed {STALE_BY // 60} minutes ago (a replay)",
    )


def other_mode_slot(p: Probing) -> ProbeResult:
    title = "a signature in the other mode's slot"
    body = p.dialect.body(p.payload())
    headers = p.dialect.sign_other_slot(p.secret, body, p.environment, int(time.time()))
    if headers is None:
        detail = f"{p.dialect.provider}'s scheme has one signature for both modes"
        return ProbeResult("other-mode-slot", title, NOT_CHECKABLE, detail)
    d = p.send(body, headers)
    what = f"a {p.environment}-mode event signed in the {p.other_environment}-mode field"
    return expect_refusal("other-mode-slot", title, d, what)


def other_environment(p: Probing) -> ProbeResult:
    body = p.dialect.body(p.payload(environment=p.other_environment))
    d = p.send(body, p.signed(body))
    what = f"a {p.other_environment}-mode event at this {p.environment}-mode endpoint"
    return expect_refusal("other-environment", "an event of the other environment", d, what)


def unknown_type(p: Probing) -> ProbeResult:
    body = p.dialect.body(p.payload(event_type=p.dialect.unknown_type))
    d = p.send(body, p.signed(body))
    return expect_ack(
        "unknown-type", "an unknown event type", [d], f"a signed {p.dialect.unknown_type} event"
    )


def duplicate(p: Probing) -> ProbeResult:
    """The same event id twice, as a provider's retry sends it. Only the answers are
    visible: whether the handler processed it twice is not (see `--forward-to`)."""
    body = p.dialect.body(p.payload())
    first = p.send(body, p.signed(body))
    again = p.send(body, p.signed(body))
    result = expect_ack("duplicate", "a duplicate delivery", [first, again], "the same event twice")
    if result.outcome == PASSED:
        note = (
            "; the audit cannot see side effects (whether it was processed twice): "
            "`rehearsal run --forward-to` asserts that"
        )
        return ProbeResult(
            result.probe, result.title, PASSED, result.detail + note, result.deliveries
        )
    return result


def burst(p: Probing) -> ProbeResult:
    bodies = [p.dialect.body(p.payload()) for _ in range(BURST)]
    signed = [(b, p.signed(b)) for b in bodies]
    send: Callable[[tuple[bytes, dict[str, str]]], Delivery] = lambda bh: p.send(*bh)  # noqa: E731
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        deliveries = list(pool.map(send, signed))
    title = f"{BURST} concurrent deliveries"
    result = expect_ack("burst", title, deliveries, f"{BURST} events at once")
    worst = max(d.ms for d in deliveries)
    if result.outcome == PASSED and worst > p.limit * 1000:
        return ProbeResult(
            "burst",
            title,
            FAILED,
            f"{BURST} events at once: the slowest "
            f"answered in {worst:.0f} ms, over the {p.limit:g}s limit",
            tuple(deliveries),
        )
    if result.outcome == PASSED:
        return ProbeResult(
            "burst", title, PASSED, f"{result.detail}, slowest {worst:.0f} ms", tuple(deliveries)
        )
    return result
