"""What a provider declares about itself before any adapter is imported: which environment
variables it reads, which mode each key prefix belongs to, its default API base, whether
its webhook secret comes from registering the webhook through its API, and what its adapter
can do beyond the Provider protocol (an events API, test clocks, lookup by idempotency key,
pages shown to an operator, objects told of before a flow finishes): the run reads these
fields, never probes an adapter with `hasattr` or `isinstance`.

Each provider package holds its own `DECLARATION` beside its adapter; the registry
(rehearsal/providers/__init__.py) maps names to them and target.py loops over what they
say. Nothing here imports httpx or an adapter: `rehearsal --help` stays quick. A key whose
prefix no declared mode claims is refused, for every provider; a provider that declares no
key modes cannot be opened at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["test", "live"]
MODES: tuple[Mode, ...] = ("test", "live")


@dataclass(frozen=True)
class KeyVariable:
    """An environment variable holding a key, and the prefix each mode's keys start with;
    `also`: other prefixes a mode's keys may have (Stripe's restricted keys, `rk_test_`)."""

    variable: str
    prefixes: Mapping[Mode, str] = field(hash=False)
    also: Mapping[Mode, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def all_prefixes(self) -> list[tuple[Mode, str]]:
        """Every (mode, prefix) declared, the main prefix of each mode first."""
        pairs = [(m, p) for m, p in self.prefixes.items() if p]
        return pairs + [(m, p) for m, ps in self.also.items() for p in ps if p]

    def mode_of(self, key: str) -> Mode | None:
        """The mode `key` belongs to, or None if no declared prefix matches it."""
        # The longest prefix wins, so "sk_" and "sk_test_" could not be confused.
        for mode, prefix in sorted(self.all_prefixes(), key=lambda mp: -len(mp[1])):
            if key.startswith(prefix):
                return mode
        return None

    def expected(self) -> str:
        """What the key should look like, for a hint: "sk_test_… (test mode) or …"."""
        return " or ".join(
            " or ".join(f"{p}…" for mm, p in self.all_prefixes() if mm == m) + f" ({m} mode)"
            for m in MODES
            if m in self.prefixes
        )


@dataclass(frozen=True)
class LiveRefusal:
    reason: str  # the provider's own words, with their source
    instead: str  # where to rehearse instead


@dataclass(frozen=True)
class ProviderDeclaration:
    name: str  # the registry's name, e.g. "mintcash"
    adapter: str  # "module:factory"; the factory takes a TargetConfig, returns a Provider
    secret_key: KeyVariable  # always required outside the embedded simulator
    api_base_variable: str
    webhook_secret_variable: str
    # Keys the provider reads besides the secret key; each is checked when set.
    other_keys: tuple[KeyVariable, ...] = ()
    default_api_base: str | None = None  # None: the API base variable is required
    webhook_secret_from_registration: bool = False  # None needed in the environment
    # Whether its API finds what an idempotency key made (find_by_idempotency_key). Without
    # it, a lost call's outcome stays unknown until `cleanup --replay` sends it again.
    key_lookup: bool = True
    # Whether its API lists its events (an EventFeed, rehearsal/receiver/feed.py): what
    # `--delivery events-api` reads, and what a run with no public path falls back on.
    events_api: bool = False
    # Whether its test mode has clocks a renewal can be advanced to (advance_clock); the
    # adapter may still find, on first use, that this account or simulator has none.
    test_clocks: bool = False
    # The transitions a plan's `expect.event` may name, in the rehearsal's normalized
    # vocabulary (the provider's own names are mapped onto these by its adapter). Plans
    # and the simulator's fault switches are checked against it before anything runs.
    events: tuple[str, ...] = ()
    # The provider's own event names -> the rehearsal's, where they differ: a plan or a
    # fault that names the provider's own event is told the rehearsal's name for it.
    native_events: Mapping[str, str] = field(default_factory=dict, hash=False)
    # Its live policy: why a live rehearsal is refused (its own terms forbid testing in live
    # mode, say), with where to rehearse instead; None where the provider permits one.
    live_refused: LiveRefusal | None = None

    @property
    def keys(self) -> tuple[KeyVariable, ...]:
        return (self.secret_key, *self.other_keys)

    @property
    def variables(self) -> tuple[str, str, str]:
        """(API base, secret key, webhook secret) variable names."""
        return self.api_base_variable, self.secret_key.variable, self.webhook_secret_variable

    @property
    def optional_variables(self) -> frozenset[str]:
        optional = {self.api_base_variable} if self.default_api_base else set()
        if self.webhook_secret_from_registration:
            optional.add(self.webhook_secret_variable)
        return frozenset(optional)

    def unknown_event(self, name: str) -> str | None:
        """Why `name` is not one of the provider's events (None when it is), naming the
        valid ones and the closest match."""
        if not self.events or name in self.events:
            return None
        import difflib

        if name in self.native_events and self.native_events[name] in self.events:
            guess = f"; that is {self.name}'s own name for {self.native_events[name]}"
        else:
            close = difflib.get_close_matches(name, self.events, n=1)
            guess = f"; did you mean {close[0]}?" if close else ""
        return (
            f"unknown event {name!r} for {self.name}{guess} "
            f"(valid events, the rehearsal's names: {', '.join(self.events)})"
        )

    def missing_key_modes(self) -> list[str]:
        """What the declaration leaves undeclared: a guard that cannot tell a test key from
        a live one must not be trusted to pass either."""
        gaps = []
        for key in self.keys:
            for mode in MODES:
                if not key.prefixes.get(mode):
                    gaps.append(f"{key.variable} has no {mode}-mode prefix")
            modes_of: dict[str, Mode] = {}
            for mode, prefix in key.all_prefixes():
                if modes_of.setdefault(prefix, mode) != mode:
                    gaps.append(f"{key.variable} has the same prefix in both modes")
        return gaps
