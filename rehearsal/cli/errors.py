"""The error boundary: a command's return value or exception becomes the process's exit code.

Our own errors (rehearsal.errors) become one line, a hint and their exit code; Ctrl-C
becomes 130; anything else is a bug of ours: one line naming a log file that holds the
traceback, and exit 70. A user never sees a traceback unless `--debug` asked for it. It
must never swallow typer's own exits (usage errors, --help).

Output nobody reads is no error (`rehearsal runs | head -1`, a closed terminal): what this
boundary prints is dropped then (rehearsal.streams), and a command stopped only because
its reader went away ends quietly with 0, as the reader asked for no more. A run's views
drop their lines instead, so a run goes on, settles, and exits with its own code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import typer

_debug = False


def set_debug(debug: bool) -> None:
    """`--debug`: let every exception through, traceback and all."""
    global _debug
    _debug = debug


def guard(fn: Callable[[], int]) -> NoReturn:
    """Run a command; turn our errors into one line, a hint, and the exit code."""
    from rehearsal.errors import RehearsalError
    from rehearsal.streams import say

    try:
        code = fn()
    except RehearsalError as exc:
        if _debug:
            raise
        say(f"error: {exc.message}", sys.stderr)
        if exc.hint:
            say(f"hint: {exc.hint}", sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        say("interrupted", sys.stderr)
        code = 130
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:  # a bug of ours: one line and a log file, never a traceback
        if _debug:
            raise
        code = 0 if nobody_left(exc) else internal_error(exc)
    raise typer.Exit(code)


def nobody_left(exc: Exception) -> bool:
    """`exc` is a write to stdout or stderr whose reader went away (`| head`, a closed
    terminal): both are pointed at /dev/null, so nothing later raises it again."""
    from rehearsal.streams import nobody_reading, reader_gone, silence

    streams = (sys.stdout, sys.stderr)
    if not nobody_reading(exc) or not any(reader_gone(s) for s in streams):
        return False
    for stream in streams:
        if reader_gone(stream):
            silence(stream)
    return True


def internal_error(exc: Exception) -> int:
    """Write `exc`'s traceback to a log in the state folder, say where, and return 70."""
    import traceback
    from datetime import datetime

    from rehearsal.ledger.db import state_dir
    from rehearsal.ledger.states import INTERNAL_ERROR_EXIT

    where = "the traceback could not be written"
    try:
        folder = state_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"internal-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"
        with path.open("a", encoding="utf-8") as f:
            f.write("".join(traceback.format_exception(exc)))
        where = f"details in {path}"
    except OSError:
        pass
    from rehearsal.streams import say

    say(f"error: internal error ({type(exc).__name__}): a bug in rehearsal; {where}", sys.stderr)
    return INTERNAL_ERROR_EXIT
