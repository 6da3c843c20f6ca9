"""The error boundary: a command's return value or exception becomes the process's exit code.

Our own errors (rehearsal.errors) become one line, a hint and their exit code; Ctrl-C
becomes 130; anything else is a bug of ours: one line naming a log file that holds the
traceback, and exit 70. A user never sees a traceback unless `--debug` asked for it. It
must never swallow typer's own exits (usage errors, --help).
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

    try:
        code = fn()
    except RehearsalError as exc:
        if _debug:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:  # a bug of ours: one line and a log file, never a traceback
        if _debug:
            raise
        code = internal_error(exc)
    raise typer.Exit(code)


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
    print(
        f"error: internal error ({type(exc).__name__}): a bug in rehearsal; {where}",
        file=sys.stderr,
    )
    return INTERNAL_ERROR_EXIT
