"""Output nobody reads any more: a closed pipe (`rehearsal runs | head -1`) or a terminal
that went away (SIGHUP, a dropped SSH session).

Writing to either raises (EPIPE, or EIO on a vanished terminal). That is never a reason to
stop a run halfway or to call it a bug: `Quiet` wraps a stream so that, from the first such
failure on, what is written is dropped, and the stream's file descriptor is pointed at
/dev/null (as Python's documentation advises for SIGPIPE), so no later flush (another
thread, the interpreter's exit) raises either. Every other error passes through. Neutral:
the standard library only, usable from any layer.
"""

from __future__ import annotations

import errno
import os
from typing import Any, Protocol

# A closed pipe or socket (EPIPE), a terminal that hung up (EIO).
_NOBODY = frozenset({errno.EPIPE, errno.EIO})


class _Stream(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def nobody_reading(exc: BaseException) -> bool:
    """Whether `exc` says the reader of a stream is gone (not that something is wrong)."""
    return isinstance(exc, OSError) and exc.errno in _NOBODY


def reader_gone(stream: object) -> bool:
    """Whether nobody reads `stream` any more: a `Quiet` that found out, or a descriptor
    the system reports closed at the other end (a pipe without a reader, a hung-up
    terminal). False when it cannot tell."""
    if isinstance(stream, Quiet) and stream.gone:
        return True
    try:
        import select

        fd = _fileno(stream)
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, TypeError, ValueError):
        return False


def _fileno(stream: object) -> int:
    """`stream`'s file descriptor; AttributeError when it has none (a StringIO's
    `fileno()` raises io.UnsupportedOperation, an OSError and a ValueError)."""
    fileno = getattr(stream, "fileno")  # noqa: B009 (any object: typed, no type: ignore)
    fd = fileno()
    if not isinstance(fd, int):
        raise TypeError(f"fileno() gave {fd!r}")
    return fd


def silence(stream: object) -> None:
    """Point `stream`'s file descriptor at /dev/null, when it has one: what is still
    buffered, and whatever is written later, goes nowhere without an error."""
    try:
        fd = _fileno(stream)
    except (AttributeError, OSError, TypeError, ValueError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)


class Quiet:
    """`stream`, writing until nobody reads it, then dropping what it is given. Anything
    else (isatty, fileno, encoding) is the stream's own."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.gone = False

    def write(self, text: str, /) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self._lost(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError as exc:
                self._lost(exc)

    def _lost(self, exc: OSError) -> None:
        if not nobody_reading(exc):
            raise exc
        self.gone = True
        silence(self.stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def quiet(stream: Any) -> Any:
    """`stream` as a `Quiet` (itself when it already is one)."""
    return stream if isinstance(stream, Quiet) else Quiet(stream)


def say(text: str, stream: Any) -> None:
    """`print(text, file=stream, flush=True)`, quietly when nobody reads `stream`."""
    print(text, file=quiet(stream), flush=True)
