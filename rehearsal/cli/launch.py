"""How the `rehearsal` process starts and ends, apart from what any command does.

A rehearsal against the simulator is about a second of wall time, and most of it is the
process itself: importing the stack, and the interpreter tearing every object down at exit.
bench/README.md has the figures. The tricks that make it quicker all live here, each undone
or skipped when it could cost something; the commands, the engine and the ledger know
nothing of them:

- **No collector passes during start-up.** Importing typer, pydantic, httpx and uvicorn
  creates a few hundred thousand objects that live until exit, and the collector's
  young-generation passes walk them again and again. The first pass is put off until
  `started()` (a command's first server is serving, or the threshold below is reached
  anyway); then everything alive is moved out of the collector's sight (`gc.freeze()`) and
  the usual thresholds return, so a long matrix or a receiver under load no longer walks
  the imported modules in each full pass either.
- **httpx's own command line is not imported** (see `_without_httpx_cli`).
- **No pydantic plugins.** pydantic looks for plugins among every installed package's entry
  points when the first model is defined (50-80 ms in a development environment); our plan
  models have no use for one. `PYDANTIC_DISABLE_PLUGINS=__all__` (pydantic's documented
  switch, pydantic#8767) unless the caller set it; and while they are off, pydantic's
  plugin loader, which would import `importlib.metadata` only to find none, is not
  imported (see `_pydantic_plugin_loader_lazily`).
- **Only the named command is built** (see `app_for`): typer builds every command's
  options at each start, and `rehearsal run` needs one.
- **No teardown at exit.** Once the command has returned its exit code, no thread of ours
  is left and every `atexit` handler has run (logging's flush, a tunnel agent's stop, a
  coverage tool's save), the process ends with `os._exit`: the module-by-module teardown
  is ~100 ms here and writes nothing. Files are flushed first; the ledger's transactions
  are committed before the command returns (SQLite's WAL is durable without a close). When
  a non-daemon thread is still alive, a tracer or profiler is attached, or the command ended
  by an exception, Python's own shutdown runs instead.
"""

from __future__ import annotations

import gc
import os
import sys
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

# gen0 threshold during start-up: the default 700 means a pass every 700 new containers;
# 200_000 still bounds start-up's garbage if a command never calls `started()`.
_STARTUP_THRESHOLD = 200_000
_defaults: tuple[int, int, int] | None = None


def main() -> None:
    """The `rehearsal` command (console script and `python -m rehearsal`)."""
    prepare()
    _quiet_when_unread()
    from rehearsal.cli.app import app

    try:
        # One name, however it is started (`rehearsal`, `python -m rehearsal`): usage lines
        # and shell completion (which completes the command by this name) say `rehearsal`.
        app_for(app, sys.argv[1:])(prog_name="rehearsal")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    if not isinstance(code, int):
        raise SystemExit(code)  # a message to print: Python's own exit does that
    _end(code)


def _quiet_when_unread() -> None:
    """stdout and stderr drop what they are given once nobody reads them (a closed pipe, a
    terminal gone: rehearsal.streams), so no command, thread or exit dies writing there."""
    from rehearsal.streams import quiet

    sys.stdout, sys.stderr = quiet(sys.stdout), quiet(sys.stderr)


def app_for(app: typer.Typer, argv: list[str]) -> typer.Typer:
    """`app` with only the command `argv` names: typer builds every registered command's
    options at each start (~15 ms for all of ours), and a run needs one. The root's options
    stay, so usage lines, help and errors read the same. The whole app for anything else:
    no command, a root option first, a name that is no command, shell completion."""
    import copy

    if not argv or argv[0].startswith("-"):
        return app
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return app  # typer's shell completion (_REHEARSAL_COMPLETE) lists every command
    from typer.main import get_command_name

    name = argv[0]
    commands = [
        c
        for c in app.registered_commands
        if c.callback is not None and (c.name or get_command_name(c.callback.__name__)) == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    slim = copy.copy(app)
    slim.registered_commands, slim.registered_groups = commands, groups
    return slim


def prepare() -> None:
    """Set the process up as `rehearsal` does, before anything heavy is imported (also for
    a bench that runs the receiver in its own process: bench/bench_receiver.py)."""
    _hold_collector()
    _without_httpx_cli()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _pydantic_plugin_loader_lazily()


def started() -> None:
    """Start-up is over (a server is serving): the collector runs as usual from here on.

    Only in a process started by `main()`; elsewhere (tests, a library user) nothing
    changes."""
    global _defaults
    if _defaults is None:
        return
    gc.freeze()  # what start-up built lives until exit: out of every later pass
    gc.set_threshold(*_defaults)
    _defaults = None


def _hold_collector() -> None:
    global _defaults
    if _defaults is not None:
        return
    from rehearsal.net import ready

    _defaults = gc.get_threshold()
    gc.set_threshold(_STARTUP_THRESHOLD, _defaults[1], _defaults[2])
    ready.when_serving(started)  # the first server serving ends start-up


def _without_httpx_cli() -> None:
    """Keep `import httpx` from importing httpx's own command line.

    httpx's `__init__` imports `httpx._main` (click, rich.progress, rich.syntax, pygments)
    whenever those are installed, and typer installs them: ~100 ms of every run's start,
    for a command we never call. Upstream made that import lazy (pydantic/httpx2 #947:
    "Importing the CLI code doubles the import time for httpx"); until our pin has it,
    the module is stood in for before httpx is first imported.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = _HttpxCliStandIn("httpx._main", "httpx's command line, not loaded (rehearsal)")
    sys.modules["httpx._main"] = stand_in


class _HttpxCliStandIn(types.ModuleType):
    """`httpx._main` as httpx's `__init__` imports it: a `main` that is never called."""

    @staticmethod
    def main() -> None:
        sys.exit("httpx's command line is not available inside rehearsal")


_PYDANTIC_LOADER = "pydantic.plugin._loader"


def _pydantic_plugin_loader_lazily() -> None:
    """Keep pydantic from importing `importlib.metadata` to find no plugins.

    With plugins disabled, pydantic's loader (`pydantic.plugin._loader`) answers "none"
    without reading any entry point, but importing it imports `importlib.metadata` (with
    `email`, `zipfile`, `csv` and `importlib.resources`: ~20 ms of every run's start). Its
    one function is stood in for: while `PYDANTIC_DISABLE_PLUGINS` disables them all it
    answers "none" as the loader would; otherwise it hands over to the real loader.
    """
    if _PYDANTIC_LOADER in sys.modules:
        return
    sys.modules[_PYDANTIC_LOADER] = _PluginLoaderStandIn(
        _PYDANTIC_LOADER, "pydantic's plugin loader, deferred (rehearsal)"
    )


class _PluginLoaderStandIn(types.ModuleType):
    """`pydantic.plugin._loader` with its one function, `get_plugins`, deferred."""

    def get_plugins(self) -> Iterable[object]:
        if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in ("__all__", "1", "true"):
            return ()  # what pydantic's loader answers then
        if sys.modules.get(_PYDANTIC_LOADER) is self:
            del sys.modules[_PYDANTIC_LOADER]  # the real loader from here on
        import importlib

        real: Iterable[object] = importlib.import_module(_PYDANTIC_LOADER).get_plugins()
        return real


def _end(code: int) -> None:
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate()):
        raise SystemExit(code)  # Python's shutdown joins them first
    if sys.gettrace() is not None or sys.getprofile() is not None:
        raise SystemExit(code)  # a debugger, coverage or a profiler writes when Python exits
    import atexit
    import contextlib

    atexit._run_exitfuncs()  # what the interpreter runs first at exit, in the same order
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`), or stream
            stream.flush()
    os._exit(code)
