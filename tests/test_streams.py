"""Output nobody reads (issue 24): rehearsal.streams, the plain view and the error boundary
drop it instead of dying; SIGHUP is one of the signals that interrupt a run."""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer

from rehearsal.cli.errors import guard
from rehearsal.engine.signals import INTERRUPTS
from rehearsal.events import RunFinished, RunStarted, StepFailed
from rehearsal.ledger.states import RunVerdict
from rehearsal.streams import Quiet, nobody_reading, quiet, reader_gone
from rehearsal.ui.view import PlainView


class _Closed:
    """A stream whose reader is gone: every write and flush raises `errno`."""

    def __init__(self, code: int = errno.EPIPE) -> None:
        self.code, self.writes = code, 0

    def write(self, text: str, /) -> int:
        self.writes += 1
        raise OSError(self.code, os.strerror(self.code))

    def flush(self) -> None:
        raise OSError(self.code, os.strerror(self.code))


@pytest.fixture
def unread_pipe() -> Iterator[int]:
    """The write end of a pipe whose read end is closed."""
    read, write = os.pipe()
    os.close(read)
    try:
        yield write
    finally:
        os.close(write)


def test_a_closed_pipe_or_a_hung_up_terminal_is_nobody_reading() -> None:
    assert nobody_reading(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    assert nobody_reading(OSError(errno.EIO, "Input/output error"))  # a terminal gone
    assert not nobody_reading(OSError(errno.ENOSPC, "No space left on device"))
    assert not nobody_reading(ValueError("no"))


@pytest.mark.parametrize("code", [errno.EPIPE, errno.EIO])
def test_quiet_drops_what_nobody_reads(code: int) -> None:
    closed = _Closed(code)
    out = Quiet(closed)
    assert out.write("one\n") == 4
    out.flush()
    assert out.gone and reader_gone(out)
    out.write("two\n")
    assert closed.writes == 1  # not tried again
    assert quiet(out) is out


def test_quiet_lets_other_errors_through() -> None:
    out = Quiet(_Closed(errno.ENOSPC))
    with pytest.raises(OSError, match="No space"):
        out.write("x")
    assert not out.gone


def test_a_gone_stream_s_descriptor_points_at_devnull(unread_pipe: int) -> None:
    stream = open(unread_pipe, "w", closefd=False)  # noqa: SIM115
    assert reader_gone(stream)
    out = Quiet(stream)
    print("x" * 100, file=out, flush=True)
    assert out.gone
    assert os.write(unread_pipe, b"later") == 5  # /dev/null now: no EPIPE, ever
    stream.flush()  # what the stream still buffered goes there too


def test_the_plain_view_never_dies_writing() -> None:
    closed = _Closed()
    view = PlainView(out=closed)
    view(RunStarted("r1", "rehearsal", "mintcash", "test", "the simulator", (("c", "charge"),)))
    view(StepFailed("c", 0.5, "the webhook never came"))
    view(RunFinished("r1", RunVerdict.FAILED, 0.5, 1, "failed"))
    assert closed.writes == 1


def _exit_code(fn: Callable[[], int]) -> int:
    with pytest.raises(typer.Exit) as ended:
        guard(fn)
    return int(ended.value.exit_code)


def test_the_boundary_ends_quietly_when_its_reader_went_away(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REHEARSAL_STATE_DIR", str(tmp_path))
    gone = Quiet(_Closed())
    gone.write("a listing cut short\n")
    monkeypatch.setattr(sys, "stdout", gone)

    def listing() -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    assert _exit_code(listing) == 0
    assert not (tmp_path / "logs").exists()  # no crash log: not a bug
    assert "internal error" not in capsys.readouterr().err


def test_an_epipe_elsewhere_is_still_a_bug(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken socket, say, with stdout and stderr still read: exit 70 and a log."""
    monkeypatch.setenv("REHEARSAL_STATE_DIR", str(tmp_path))

    def command() -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    assert _exit_code(command) == 70
    assert "internal error (BrokenPipeError)" in capsys.readouterr().err
    assert list((tmp_path / "logs").iterdir())


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_interrupts_a_run_as_sigterm_does() -> None:
    from rehearsal.session.run import signals_as_interrupt

    assert set(INTERRUPTS) == {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        signals_as_interrupt()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGHUP)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
