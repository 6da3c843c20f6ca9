"""What an operator at a terminal sees and does: arming a live run by typing the
confirmation (in a real pseudo-terminal), and pressing Ctrl-C twice while cleanup runs.

`Terminal` drives the CLI in a pseudo-terminal; with a size it also keeps a `Screen` of what
an operator would see after the live table's redraws, and `answer_due` reads that screen at
the moment the CLI waits for a typed answer (its main thread blocked reading stdin)."""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.screen import Screen
from tests.e2e.test_live_guards import live_env, payments, plan


class Terminal:
    """A CLI on a pseudo-terminal: stdin and stdout are a TTY, as at an operator's desk."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: Path,
        size: tuple[int, int] = (80, 40),
    ) -> None:
        self.master, slave = os.openpty()
        width, height = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self.shown = Screen(width, height)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rehearsal", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        # Kept open to see whether the CLI has read what was typed (closed in finish()).
        self.slave: int | None = slave
        self.screen = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._echo = ("", 0)  # the last answer typed, and where in the output it was typed

    def _read(self, deadline: float) -> bool:
        """Read what the CLI wrote; False once it has closed the terminal."""
        left = deadline - time.monotonic()
        assert left > 0, f"the CLI is still running; screen:\n{self.screen}"
        ready, _, _ = select.select([self.master], [], [], left)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the CLI exited and the terminal is gone
            return False
        text = self._decoder.decode(chunk)  # a character may span two reads
        self.screen += text
        self.shown.feed(text)
        return bool(chunk)

    def _reading_stdin(self) -> bool:
        """Whether the CLI's main thread is blocked in read(0, ...): an answer is due."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/syscall").read_text().split()
        except OSError:
            return False
        if fields[:2] != ["0", "0x0"]:
            return False
        # ... and it has read everything typed so far: the next answer is asked for. (The
        # terminal echoes an answer once it takes it in; until then it is not unread yet.)
        typed, at = self._echo
        if typed not in self.screen[at:]:
            return False
        assert self.slave is not None
        unread = fcntl.ioctl(self.slave, termios.FIONREAD, struct.pack("i", 0))
        return struct.unpack("i", unread)[0] == 0

    def answer_due(self, timeout: float = 20.0) -> Screen:
        """Read until the CLI waits for a typed answer and has nothing more to write; the
        screen as the operator sees it then."""
        deadline = time.monotonic() + timeout
        while not (self._reading_stdin() and not select.select([self.master], [], [], 0)[0]):
            assert time.monotonic() < deadline, f"no answer asked; screen:\n{self.shown.text()}"
            # Output, or a twentieth of a second: then look at the CLI's state again.
            assert self._read(time.monotonic() + 0.05), f"the CLI exited:\n{self.shown.text()}"
        return self.shown

    def expect(self, pattern: str, timeout: float = 20.0) -> str:
        """Read until `pattern` (a regex) shows; fail at the deadline or when output ends."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen):
            assert self._read(deadline), f"{pattern!r} never shown; screen:\n{self.screen}"
        return self.screen

    def shows(self, pattern: str, timeout: float = 20.0) -> str:
        """Read until the screen, as an operator sees it now, shows `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.shown.text()):
            assert self._read(deadline), f"{pattern!r} never shown:\n{self.shown.text()}"
        return self.shown.text()

    def type(self, text: str) -> None:
        self._echo = (text.strip(), len(self.screen))
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30.0) -> int:
        """Read to the end; the CLI's exit code."""
        deadline = time.monotonic() + timeout
        if self.slave is not None:
            os.close(self.slave)  # the CLI's exit then closes the terminal
            self.slave = None
        while self._read(deadline):
            pass
        code = self.proc.wait(timeout=timeout)
        os.close(self.master)
        return code


def cli_env(env: dict[str, str], state: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    return {**base, **env, "REHEARSAL_STATE_DIR": str(state), "TERM": "dumb", "NO_COLOR": "1"}


def test_the_operator_arms_a_live_run_by_typing_its_confirmation(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    term = Terminal(
        ["run", plan(tmp_path, 300), "--live", "--plain"],
        cli_env(live_env(standalone), tmp_path / "s"),
        tmp_path,
    )
    term.expect(r"LIVE MODE: real money on mintcash")
    term.expect(r"Type mintcash:300 to arm this live run: ")
    assert payments(standalone) == []  # nothing moves before the operator types
    term.type("mintcash:300\r")
    code = term.finish()
    assert code == 0, term.screen
    assert "PASSED" in term.screen
    assert [(p["amount"], p["status"], p["env"]) for p in payments(standalone)] == [
        (300, "refunded", "live")
    ]
    assert standalone["LIVE_KEY"] not in term.screen


def test_a_mistyped_confirmation_refuses_the_live_run(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    term = Terminal(
        ["run", plan(tmp_path, 300), "--live", "--plain"],
        cli_env(live_env(standalone), tmp_path / "s"),
        tmp_path,
    )
    term.expect(r"to arm this live run: ")
    term.type("mintcash:3000\r")
    assert term.finish() == 4, term.screen
    assert "confirmation did not match" in term.screen
    assert payments(standalone) == []


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_interrupt_during_cleanup_does_not_cut_it_short(
    tmp_path: Path, standalone: dict[str, str], second: int
) -> None:
    base, key = standalone["MINTCASH_API_BASE"], standalone["MINTCASH_SECRET_KEY"]
    auth = {"Authorization": f"Bearer {key}"}
    httpx.put(
        f"{base}/_sim/faults",
        json={"faults": ["drop:subscription.renewed", "hold:POST /subscriptions/*/cancel=1.5"]},
        headers=auth,
    ).raise_for_status()
    env = cli_env({k: v for k, v in standalone.items() if k.startswith("MINTCASH_")}, tmp_path)
    term = Terminal(["run", "--plain", "--timeout-scale", "2"], env, tmp_path)
    term.expect(r"POST /test_helpers/subscriptions/")  # waiting for a renewal that won't come
    os.killpg(term.proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the process group
    deadline = time.monotonic() + 10
    while httpx.get(f"{base}/_sim/faults", headers=auth).json()["api_faults"][0]["left"]:
        assert time.monotonic() < deadline, term.screen  # cleanup's cancel is now held open
    os.killpg(term.proc.pid, second)  # the operator presses again
    term.expect(r"cleanup in progress")
    assert term.finish() == 130, term.screen
    books = httpx.get(f"{base}/_sim/books", headers=auth).json()
    assert [s["status"] for s in books["subscriptions"]] == ["cancelled"]
    assert all(p["amount_refunded"] == p["amount"] for p in books["payments"]), books
    with sqlite3.connect(tmp_path / "rehearsal.sqlite") as db:
        states = db.execute("SELECT action, state FROM compensations").fetchall()
    assert states and all(state == "done" for _, state in states), states


CHECKPOINTS = """version: 1
name: checkpoints
provider: mintcash
currency: USD
card: visa
steps:
  - id: charge
    action: charge
    amount: 500
    expect: {event: payment.succeeded, within: 10s}
  - id: statement
    action: manual
    instructions: Check the charge on the card statement.
  - id: dashboard
    action: manual
    instructions: Check the charge on the provider dashboard.
  - id: refund
    action: refund
    payment: charge
    expect: {event: payment.refunded, within: 10s}
"""


def live_view_env(state: Path, size: tuple[int, int] = (80, 40)) -> dict[str, str]:
    """The live table, as on an operator's terminal: a terminal type that redraws, and
    the terminal's size (COLUMNS and LINES would override it)."""
    env = {**cli_env({}, state), "TERM": "xterm-256color"}
    env.update(COLUMNS=str(size[0]), LINES=str(size[1]))
    return env


def test_manual_checkpoints_in_a_row_are_readable_in_the_live_view(tmp_path: Path) -> None:
    (tmp_path / "checkpoints.yaml").write_text(CHECKPOINTS)
    term = Terminal(["run", "checkpoints.yaml"], live_view_env(tmp_path / "s"), tmp_path)
    for step, where in (("statement", "card statement"), ("dashboard", "provider dashboard")):
        screen = term.answer_due()
        question = f"Manual checkpoint '{step}': Check the charge on the {where}. Done? [y/n]:"
        assert question in " ".join(screen.text().split()), screen.text()  # rich wraps at 80
        assert screen.cursor_line().endswith("[y/n]:"), screen.text()  # typed here
        term.type("y\r")
    assert term.finish() == 0, term.shown.text()
    shown = term.shown.text()
    # Both questions and answers stay on the screen, above the final table; the table's
    # header shows once, and each step is one line of it.
    assert shown.count("Manual checkpoint 'statement'") == 1, shown
    assert shown.count("Manual checkpoint 'dashboard'") == 1, shown
    assert shown.count(" · checkpoints · mintcash test · ") == 1, shown  # the header
    for step in ("charge", "statement", "dashboard", "refund"):
        assert len([line for line in shown.splitlines() if f"│ {step} " in line]) == 1, shown
    assert "PASSED" in shown
    assert "money: charged USD 5.00, refunded USD 5.00, outstanding USD 0.00" in shown


def test_the_live_view_says_what_it_waits_for_and_shows_an_interrupted_step(
    tmp_path: Path,
) -> None:
    term = Terminal(
        ["run", "--sim-fault", "drop:subscription.renewed", "--timeout-scale", "2"],
        live_view_env(tmp_path / "s", (100, 40)),
        tmp_path,
        size=(100, 40),
    )
    waiting = r"▶ renewal: waiting for subscription\.renewed on sub_\w+…?, \d+\.\d s of 60 s"
    term.shows(waiting)
    os.killpg(term.proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the process group
    assert term.finish() == 130, term.shown.text()
    shown = term.shown.text()
    table = [line for line in shown.splitlines() if line.startswith("│")]
    assert [line.split("│")[2].strip() for line in table] == [
        "charge",
        "refund",
        "subscribe",
        "renewal",
        "cancel",
    ], shown  # one line per step
    renewal = next(line for line in table if "│ renewal " in line)
    assert renewal.startswith("│ ■ │") and "interrupted" in renewal, shown
    assert not re.search(waiting, shown), shown  # the waiting line went with the live table
    assert "▶" not in "\n".join(table), shown
    assert shown.count(" · rehearsal · mintcash test · ") == 1, shown  # the header, once
    assert "compensation: cancel sub_" in shown  # interrupted: this is compensation
    assert "money: charged USD 11.00, refunded USD 11.00, outstanding USD 0.00" in shown
    assert "INTERRUPTED" in shown and "report: `rehearsal report " in shown
