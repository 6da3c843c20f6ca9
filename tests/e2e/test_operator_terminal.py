"""What an operator at a terminal sees and does: arming a live run by typing the
confirmation (in a real pseudo-terminal), and pressing Ctrl-C twice while cleanup runs."""

from __future__ import annotations

import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_live_guards import live_env, payments, plan


class Terminal:
    """A CLI on a pseudo-terminal: stdin and stdout are a TTY, as at an operator's desk."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rehearsal", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

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
        self.screen += chunk.decode(errors="replace")
        return bool(chunk)

    def expect(self, pattern: str, timeout: float = 20.0) -> str:
        """Read until `pattern` (a regex) shows; fail at the deadline or when output ends."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen):
            assert self._read(deadline), f"{pattern!r} never shown; screen:\n{self.screen}"
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30.0) -> int:
        """Read to the end; the CLI's exit code."""
        deadline = time.monotonic() + timeout
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
