"""What runs once a server of this process is serving: hooks the process's start-up
registers (rehearsal/cli/launch.py ends its start-up tricks there), so the server never
imports the launcher. Tiny on purpose: the launcher imports it before anything else."""

from __future__ import annotations

from collections.abc import Callable

_hooks: list[Callable[[], None]] = []


def when_serving(hook: Callable[[], None]) -> None:
    """Call `hook` each time a server of this process has started serving."""
    if hook not in _hooks:
        _hooks.append(hook)


def serving() -> None:
    """A server is serving: run the hooks (each cheap, and each idempotent)."""
    for hook in list(_hooks):
        hook()
