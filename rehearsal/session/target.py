"""Choosing what to rehearse against: the provider itself, a standalone simulator, or the
simulator embedded in this process.

A provider's base URL and keys come from the environment (`MINTCASH_API_BASE`,
`MINTCASH_SECRET_KEY`, `MINTCASH_WEBHOOK_SECRET`). With none set, test mode uses the
embedded simulator and says so. `--simulator` forces it. `--live` never falls back to it,
and key prefixes must match the mode. Secrets are read here and handed to the adapter; they
are never printed, stored or put in a message.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rehearsal import providers
from rehearsal.errors import ProviderError, SafetyRefusal, UsageError
from rehearsal.providers.config import (
    TargetConfig,
    check_key_modes,
    http_timeout_from_env,
    parse_webhook_secrets,
)

if TYPE_CHECKING:
    from rehearsal.providers.base import Authorize, Provider, ProviderObserver
    from rehearsal.providers.declaration import ProviderDeclaration
    from rehearsal.session.sim_child import ChildSimulator
    from rehearsal.session.sim_control import SimulatorControl
    from rehearsal.simulator.server import Simulator

EMBEDDED_TIME_SCALE = 0.01  # the embedded simulator's retry schedule, 100x shorter


@dataclass
class Target:
    config: TargetConfig
    provider: Provider
    description: str  # what the operator is told: never a key
    simulated: bool
    # The built-in one, when this process runs it (in a thread, or in a child process for a
    # matrix: simulator/child.py).
    simulator: Simulator | ChildSimulator | None = None
    control: SimulatorControl | None = None  # any simulator's control routes
    webhook_endpoint: str | None = None  # the run's endpoint; a resumed run re-points it
    # How events reach the run: "webhook" (signed POSTs to the receiver) or "events-api"
    # (read from the provider's list of events: no public path needed; event_feed.py).
    delivery: str = "webhook"

    def register_webhook(self, url: str, events: list[str]) -> bool:
        """Register the receiver where the target allows it; False if it must be done by hand.

        The run's endpoint, if it still exists, is re-pointed rather than replaced, so the
        deliveries the provider is still retrying reach this receiver.
        """
        if self.control is None:
            from rehearsal import providers

            registrar = providers.webhook_registrar(self.provider)
            if registrar is None:
                return False  # registered by hand (MintCash); the probe checks the path
            existing = registrar.existing_webhook(url)  # one per URL: adopted
            registrar.register_webhook(url, events, existing)  # restored by close()
            return True
        if self.webhook_endpoint and self.control.repoint_webhook(self.webhook_endpoint, url):
            return True
        self.webhook_endpoint = self.control.register_webhook(url, events, self.config.environment)
        return True

    def close(self, *, keep_webhook: bool = False) -> None:
        """`keep_webhook`: a paused run's endpoint stays, so the provider's retries wait
        for the next process (the run session decides)."""
        if self.control is not None:
            if self.webhook_endpoint and not keep_webhook:
                with contextlib.suppress(Exception):
                    self.control.remove_webhook(self.webhook_endpoint)
            self.control.close()
        self.provider.close()
        if self.simulator is not None:
            self.simulator.stop()


@dataclass(frozen=True)
class _Adapter:
    """How the target's adapter is built: with the run's observer and 3-D Secure page."""

    observer: ProviderObserver | None = None
    authorize: Authorize | None = None

    def __call__(self, config: TargetConfig) -> Provider:
        return providers.make(config, observer=self.observer, authorize=self.authorize)


def open_target(
    provider: str,
    *,
    live: bool,
    force_simulator: bool,
    state_dir: Path,
    sim_faults: list[str] | None = None,
    public_path: bool = False,
    api_only: bool = False,
    events_api: bool = False,
    simulator_process: bool = False,
    observer: ProviderObserver | None = None,
    authorize: Authorize | None = None,
) -> Target:
    """`events_api`: read the run's events from the provider's events API instead of a
    receiver (`--delivery events-api`); also chosen, for a provider that has one, when
    nothing else can reach the receiver. `simulator_process`: the built-in simulator, if
    it is the target, runs in a child process (a matrix: simulator/child.py). `observer`
    and `authorize`: given to the adapter as it is built (providers.make). Otherwise as
    `_open`."""
    from rehearsal import providers

    target = _open(
        provider,
        live=live,
        force_simulator=force_simulator,
        state_dir=state_dir,
        sim_faults=sim_faults,
        public_path=public_path,
        api_only=api_only,
        feed_instead=events_api or not public_path,
        simulator_process=simulator_process,
        builder=_Adapter(observer, authorize),
    )
    if events_api and target.delivery != "events-api":
        if providers.event_feed(target.provider) is None:
            target.close()
            raise UsageError(
                f"{provider} has no events API to read events from",
                hint="use a webhook path: --tunnel ngrok|cloudflared, or --public-url",
            )
        target.delivery = "events-api"
        target.description += ", events read through its events API"
    return target


def _open(
    provider: str,
    *,
    live: bool,
    force_simulator: bool,
    state_dir: Path,
    sim_faults: list[str] | None,
    public_path: bool,
    api_only: bool,
    feed_instead: bool,
    simulator_process: bool = False,
    builder: _Adapter | None = None,
) -> Target:
    """`public_path`: a tunnel or --public-url was chosen, so a remote provider can reach
    the receiver. `api_only`: the caller only calls the provider's API (`cleanup`), never
    waits for a webhook, so it needs no receiver, no tunnel and no public path."""
    build = builder or _Adapter()
    declared = providers.declaration_of(provider)  # refused here if it declares no key modes
    names = declared.variables
    values = [os.environ.get(n, "") for n in names]
    if live and force_simulator:
        raise UsageError(
            "--live and --simulator exclude each other",
            hint="the simulator moves no money; live mode is for the real provider",
        )
    if live and (refused := declared.live_refused) is not None:
        raise SafetyRefusal(
            f"{provider} is not rehearsed in live mode: {refused.reason}", hint=refused.instead
        )
    # Checked for every target; used for remote and standalone ones (the embedded simulator
    # dies with this process, so no call to it outlives its answer).
    http_timeout = http_timeout_from_env()
    from rehearsal.ledger.waits import refund_wait

    refund_wait()  # REHEARSAL_REFUND_WAIT too: refused here, before anything moves
    if force_simulator or (not live and not any(values)):
        return _embedded(provider, state_dir, sim_faults or [], simulator_process, build)
    config, loopback = _remote_config(declared, values, live=live, http_timeout=http_timeout)
    return _remote(
        config,
        declared.api_base_variable,
        loopback=loopback,
        api_only=api_only,
        public_path=public_path,
        feed_instead=feed_instead,
        build=build,
    )


def _remote_config(
    declared: ProviderDeclaration, values: list[str], *, live: bool, http_timeout: float
) -> tuple[TargetConfig, bool]:
    """The provider's settings from its variables, checked (set, key modes, URL, secrets);
    and whether its API is on this machine."""
    provider, names = declared.name, declared.variables
    optional = declared.optional_variables
    missing = [n for n, v in zip(names, values, strict=True) if not v and n not in optional]
    if missing:
        needed = ", ".join(n for n in names if n not in optional)
        raise UsageError(
            f"{', '.join(missing)} not set",
            hint=f"live mode needs {needed}: the provider's live API, its live key and "
            "its webhook secret"
            if live
            else f"set {needed} to rehearse against {provider}, or none of them to use the "
            "built-in simulator",
        )
    api_base, secret_key, webhook_secret = values
    api_base = api_base or declared.default_api_base or ""
    environment: Literal["test", "live"] = "live" if live else "test"
    check_key_modes(declared, environment)
    loopback = check_api_base(declared.api_base_variable, api_base)
    secrets = parse_webhook_secrets(declared.webhook_secret_variable, webhook_secret)
    config = TargetConfig(
        provider, api_base, secret_key, secrets, environment, http_timeout=http_timeout
    )
    return config, loopback


def _remote(
    config: TargetConfig,
    variable: str,
    *,
    loopback: bool,
    api_only: bool,
    public_path: bool,
    feed_instead: bool,
    build: _Adapter,
) -> Target:
    """A provider (or a standalone simulator) at its API base: probed where it can matter,
    then the target that reaches it, or a refusal if nothing can reach the receiver."""
    from rehearsal.session.sim_control import SimulatorControl

    provider, api_base, secret_key = config.provider, config.api_base, config.secret_key
    environment = config.environment
    live = environment == "live"
    http_timeout = config.http_timeout

    # Where it can matter, before anything else is opened: the provider answers at all. A
    # provider on another host without a public path is refused below without a probe.
    probe = not api_only and (loopback or public_path)
    # On this machine, the simulator's info route: never faulted, never counted as a call.
    probe_url = api_base.rstrip("/") + "/_sim/info" if loopback else api_base
    simulator: bool | None = None  # from the probe's answer, when there is a probe
    if probe:
        why, answered_as_simulator = _reach(probe_url, min(http_timeout, 5.0))
        if why is not None:
            where = "it"
            if loopback:  # live mode never uses the simulator: never suggest it there
                where = "the provider" if live else "the provider (or `rehearsal simulator`)"
            raise ProviderError(
                f"cannot reach the provider at {api_base} ({why})",
                hint=f"check {variable}, and that {where} is running"
                + ("" if loopback else " and reachable from this machine"),
            )
        simulator = answered_as_simulator and SimulatorControl.may_be_simulator(api_base)
    if simulator is None:
        simulator = SimulatorControl.is_simulator(api_base)
    if simulator:
        return Target(
            config,
            build(config),
            f"the rehearsal simulator at {api_base} (no real money)",
            True,
            control=SimulatorControl(api_base, secret_key),
        )
    if api_only:  # cleanup: refunds and cancels confirmed through the API
        return Target(
            config,
            build(config),
            f"{provider} at {api_base} ({environment} mode, API only)",
            False,
        )
    if public_path:  # live too: armed before this, the path proven before any money moves
        return Target(
            config,
            build(config),
            f"{provider} at {api_base} ({environment} mode, webhooks through a public URL)",
            False,
        )
    adapter = build(config)
    if feed_instead and providers.event_feed(adapter) is not None:  # no public path: its events API
        return Target(
            config,
            adapter,
            f"{provider} at {api_base} ({environment} mode, events read through its events "
            "API: no webhook path)",
            False,
            delivery="events-api",
        )
    adapter.close()
    raise UsageError(
        f"{provider} at {api_base} cannot reach a receiver on 127.0.0.1",
        hint="choose a public webhook path: --tunnel ngrok|cloudflared (or REHEARSAL_TUNNEL), "
        "or --public-url URL --listen HOST:PORT",
    )


_LOOPBACK_NAMES = ("localhost", "localhost.")


def check_api_base(variable: str, url: str) -> bool:
    """The provider's API base must be an http(s) URL with a host; https unless the host is
    this machine (a standalone simulator, a local stand-in). Says what is wrong, naming the
    variable. Returns whether the host is a loopback one."""
    import ipaddress
    from urllib.parse import urlsplit

    expected = "expected a URL such as https://api.example.com or http://127.0.0.1:8420"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise UsageError(f"{variable} is not a valid URL: {url!r}", hint=expected) from None
    if parts.scheme not in ("http", "https"):
        what = (
            f"its scheme is {parts.scheme!r}" if parts.scheme else "it has no http:// or https://"
        )
        raise UsageError(f"{variable} is not an http(s) URL ({what}): {url!r}", hint=expected)
    if not host:
        raise UsageError(f"{variable} has no host: {url!r}", hint=expected)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() in _LOOPBACK_NAMES
    if parts.scheme == "http" and not loopback:
        raise UsageError(
            f"{variable} uses http:// for {host}, another machine: keys would cross the "
            "network in the clear",
            hint=f"use https://{host}…; plain http is only for this machine (127.0.0.1)",
        )
    return loopback


def _reach(url: str, timeout: float) -> tuple[str | None, bool]:
    """Why nothing answers HTTP at `url` (None: something does, whatever its status), and
    whether the answer was the rehearsal simulator's info (one request for both)."""
    from rehearsal.net.plain import NetworkError
    from rehearsal.session.sim_control import SimulatorControl, get

    try:
        answer = get(url, timeout)
    except NetworkError as exc:
        if exc.what == "ConnectTimeout":
            return f"no answer to the connection within {timeout:g}s", False
        if exc.what == "ConnectError":
            reason = exc.reason or "connection failed"
            return ("connection refused" if "refused" in reason.lower() else reason), False
        if exc.what.endswith("Timeout"):
            return f"no answer within {timeout:g}s", False
        return exc.what, False
    return None, SimulatorControl.answers_as_simulator(answer)


def _embedded(
    provider: str,
    state_dir: Path,
    faults: list[str],
    own_process: bool = False,
    build: _Adapter | None = None,
) -> Target:
    from rehearsal.session.sim_control import SimulatorControl
    from rehearsal.simulator.faults import Faults, FaultSpecError
    from rehearsal.simulator.server import Simulator, dialect_names, speaks

    if not speaks(provider):
        raise UsageError(
            f"the simulator does not speak {provider} yet",
            hint=f"it speaks: {', '.join(dialect_names())}",
        )
    try:
        parsed = Faults.parse(faults, providers.declaration_of(provider).unknown_event)
    except FaultSpecError as exc:
        raise UsageError(str(exc), hint="--sim-fault names events as plans do") from None
    books = state_dir / "simulator" / f"{provider}.sqlite"
    sim: Simulator | ChildSimulator
    if own_process:
        from rehearsal.session.sim_child import ChildSimulator

        sim = ChildSimulator(books, dialect=provider, faults=faults, time_scale=EMBEDDED_TIME_SCALE)
    else:
        sim = Simulator(books, dialect=provider, faults=parsed, time_scale=EMBEDDED_TIME_SCALE)
    base = sim.start()
    keys = sim.keys
    config = TargetConfig(
        provider, base, keys.test_secret, [keys.webhook_secret], "test", backoff=0.05
    )
    return Target(
        config,
        (build or _Adapter())(config),
        f"the built-in simulator at {base} (no real provider, no real money)",
        True,
        simulator=sim,
        control=SimulatorControl(base, keys.test_secret),
    )
