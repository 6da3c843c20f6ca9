"""A lost terminal (SIGHUP) or a closed pipe never strands money, never reads as a bug
(issue 24). Real processes, the source tree on PYTHONPATH; money judged by the simulator's
own books, with `rehearsal status RUN --json` agreeing."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.faultlib import (
    REPO,
    RUN_LINE,
    books_money,
    cli,
    cli_env,
    disagreements,
    status_json,
)


def _books(state: Path) -> Path:
    return state / "simulator" / "mintcash.sqlite"  # the run's embedded simulator


def _run(state: Path, *args: str, stderr: int | IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", "--plain", *args],
        cwd=REPO,
        env=cli_env(state),
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
    )


def _lines_until(
    proc: subprocess.Popen[bytes], done: Callable[[list[str]], bool], within: float = 30
) -> list[str]:
    """Whole lines of `proc`'s stdout until `done(lines)`, within `within` seconds."""
    assert proc.stdout is not None
    fd, end, buffer = proc.stdout.fileno(), time.monotonic() + within, b""
    lines: list[str] = []
    while not done(lines):
        left = end - time.monotonic()
        assert left > 0, f"not within {within}s; seen: {lines}"
        if not select.select([fd], [], [], left)[0]:
            continue
        chunk = os.read(fd, 65536)
        assert chunk, f"stdout ended early (exit {proc.wait(timeout=30)}); seen: {lines}"
        *complete, buffer = (buffer + chunk).split(b"\n")
        lines += [c.decode(errors="replace") for c in complete]
    return lines


def _run_id(lines: list[str]) -> str:
    found = RUN_LINE.search("\n".join(lines))
    assert found, lines
    return found.group(1)


def _judge(state: Path, run_id: str, verdict: str) -> None:
    """The books hold nothing of the run's, and `status --json` says so, with `verdict`."""
    books = books_money(_books(state), run_id)
    assert books.charged > 0, books.describe()  # the run did move money before
    assert books.outstanding == 0, books.describe()
    assert books.active_subscriptions == [], books.describe()
    assert books.double_charges == []
    status = status_json(run_id, state)
    assert status.get("verdict") == verdict, status
    assert disagreements(books, status) == []


def _clean(err: str) -> None:
    assert "Traceback" not in err, err
    assert "internal error" not in err, err


@pytest.mark.parametrize("output", ["kept", "gone"])
def test_sighup_during_the_renewal_wait_settles(tmp_path: Path, output: str) -> None:
    """The terminal closes while the run waits for a renewal that never comes: refunded,
    cancelled, verdict `interrupted`, exit 130; with its output gone too (the terminal's
    pipes closed before the hangup), the settling never dies writing."""
    state, err = tmp_path / "s", tmp_path / "err.txt"
    with err.open("wb") as sink:
        proc = _run(
            state,
            "--sim-fault",
            "drop:subscription.renewed",
            stderr=subprocess.PIPE if output == "gone" else sink,
        )
    lines = _lines_until(
        proc, lambda seen: any("POST /test_helpers/subscriptions/" in s for s in seen)
    )
    run_id = _run_id(lines)
    if output == "gone":
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=60) == 130
    if output == "kept":
        assert proc.stdout is not None
        rest = proc.stdout.read().decode(errors="replace")
        assert "INTERRUPTED" in rest and "compensation: cancel" in rest, rest
        _clean(err.read_text(errors="replace"))
    _judge(state, run_id, "interrupted")


@pytest.mark.parametrize(
    ("args", "code", "verdict"),
    [
        ((), 0, "passed"),
        (("--sim-fault", "drop:payment.refunded", "--timeout-scale", "0.1"), 1, "failed"),
    ],
)
def test_stdout_closed_after_two_lines_the_run_still_settles(
    tmp_path: Path, args: tuple[str, ...], code: int, verdict: str
) -> None:
    """`rehearsal run --plain | head -2`: the run carries on unread, settles (a failed
    run compensates), records its verdict and exits with its own code, not 70."""
    state, err = tmp_path / "s", tmp_path / "err.txt"
    with err.open("wb") as sink:
        proc = _run(state, *args, stderr=sink)
    lines = _lines_until(proc, lambda seen: len(seen) >= 2)
    run_id = _run_id(lines)
    assert proc.stdout is not None
    proc.stdout.close()  # as `head -2` does once it has its lines
    assert proc.wait(timeout=90) == code, err.read_text(errors="replace")
    _clean(err.read_text(errors="replace"))
    _judge(state, run_id, verdict)


def test_listings_into_a_closed_pipe_end_quietly(tmp_path: Path) -> None:
    """`rehearsal runs | head -1` and the like, with the pipe closed before the command
    writes a byte: exit 0, nothing on stderr, no traceback."""
    state = tmp_path / "s"
    done = cli("run", "--plain", state=state)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = _run_id(done.stdout.splitlines())
    for args in (["runs"], ["plans"], ["status", run_id, "--json"], ["--help"]):
        read, write = os.pipe()
        os.close(read)  # nobody will ever read it
        err = tmp_path / "err.txt"
        with err.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "rehearsal", *args],
                cwd=REPO,
                env=cli_env(state),
                stdout=write,
                stderr=sink,
                stdin=subprocess.DEVNULL,
            )
        os.close(write)
        assert proc.wait(timeout=60) == 0, (args, err.read_text(errors="replace"))
        assert err.read_text(errors="replace") == "", args


def test_the_terminal_hangs_up_under_the_live_table(tmp_path: Path) -> None:
    """The live table on a real pseudo-terminal; the terminal goes away as when a window
    or an SSH session closes (its master closed: every write after that fails with EIO)
    and SIGHUP arrives: the run settles and records `interrupted` all the same."""
    state, master, slave = tmp_path / "s", *os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "run", "--sim-fault", "drop:subscription.renewed"],
        cwd=REPO,
        env=cli_env(state),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    screen, end = "", time.monotonic() + 30
    while "renewal: waiting for" not in screen:  # the table shows the renewal awaited
        assert time.monotonic() < end and proc.poll() is None, screen
        if select.select([master], [], [], end - time.monotonic())[0]:
            screen += os.read(master, 65536).decode(errors="replace")
    os.close(master)  # the terminal is gone
    proc.send_signal(signal.SIGHUP)  # what the kernel sends its session as it goes
    assert proc.wait(timeout=60) == 130
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        ((run_id,),) = db.execute("SELECT id FROM runs").fetchall()
    _judge(state, run_id, "interrupted")
