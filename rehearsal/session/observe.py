"""The observer a run session gives an adapter when it is built (providers.make): it hands
each notification to the run the adapter serves. The run is bound once its runner exists
(`record_to`): calls before that (preflight, the webhook registration) are recorded by no
run, as they never were; after it, every exchange, every attempt sent and every object a
flow made goes to that run's ledger through its runner. `claim` is what learns the run's
objects as answers come back: a matrix's router (each rehearsal's adapter is its own), or
the events a matrix parked for a resumed run. It never calls the provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rehearsal.providers.base import ApiCall, ProviderObject

Claim = Callable[["ProviderObject"], None]


class Recorder(Protocol):
    """What the run (its runner) records of the calls made for it."""

    def sending(self, method: str, path: str) -> None: ...

    def called(self, call: ApiCall) -> None: ...

    def made(self, obj: ProviderObject) -> None: ...


class RunObserver:
    """A ProviderObserver (rehearsal/providers/base.py) for one run. `claim_made`: an
    object a flow made before it finished is claimed too (a matrix routes its events)."""

    def __init__(self, claim: Claim | None = None, *, claim_made: bool = False) -> None:
        self._run: Recorder | None = None
        self._claim = claim
        self._claim_made = claim_made

    def record_to(self, run: Recorder) -> None:
        self._run = run

    def claim_with(self, claim: Claim) -> None:
        self._claim = claim

    def sending(self, method: str, route: str) -> None:
        if self._run is not None:
            self._run.sending(method, route)

    def called(self, call: ApiCall) -> None:
        if self._run is not None:
            self._run.called(call)

    def made(self, obj: ProviderObject) -> None:
        if self._claim_made and self._claim is not None:
            self._claim(obj)
        if self._run is not None:
            self._run.made(obj)

    def returned(self, obj: ProviderObject) -> None:
        if self._claim is not None:
            self._claim(obj)
