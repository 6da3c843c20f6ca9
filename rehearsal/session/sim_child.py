"""The built-in simulator in a child process, for a matrix.

A CPython process runs Python on one core at a time. A matrix of rehearsals in one process
kept the simulator's HTTP server, its deliverer, the receiver and every runner on that one
core, while the machine's other cores idled; the simulator alone was over 40% of it
(bench/README.md, issue 15). Here it is `rehearsal simulator` as a child: the same books
file the in-process simulator would use (state folder, `simulator/<provider>.sqlite`, so a
later `cleanup` finds them), the same time scale and faults, on a port of its own.

Its lifetime is this process's: it runs in a session of its own (a Ctrl-C at the terminal
reaches this process, which still settles its rehearsals through the simulator, not the
child), and it stops when its standard input closes: at `stop()`, or when this process dies
however it dies (the kernel closes the pipe).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import ProviderError

START_DEADLINE = 20.0  # seconds for the child to import, open its books and listen
STOP_DEADLINE = 10.0


@dataclass(frozen=True)
class ChildKeys:
    test_secret: str
    webhook_secret: str


class ChildSimulator:
    def __init__(self, books: Path, *, dialect: str, faults: list[str], time_scale: float) -> None:
        self.books, self.dialect = books, dialect
        self._args = ["--provider", dialect, "--port", "0", "--db", str(books)]
        self._args += ["--time-scale", repr(time_scale), "--until-stdin-closes"]
        for spec in faults:
            self._args += ["--fault", spec]
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.keys = ChildKeys("", "")

    def start(self) -> str:
        """Start the child and wait for its banner; its base URL."""
        from rehearsal.providers import env_names

        self.books.parent.mkdir(parents=True, exist_ok=True)
        package_root = str(Path(__file__).resolve().parents[2])  # this very rehearsal
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        log = self.books.with_name(f"{self.dialect}-child.log")  # its error output
        with log.open("wb") as err:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "rehearsal", "simulator", *self._args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        base, key, secret = env_names(self.dialect)
        found: dict[str, str] = {}
        for line in self._banner(time.monotonic() + START_DEADLINE):
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                found[name] = value
        if not {base, key, secret} <= set(found):
            self.stop()
            why = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ProviderError(f"the built-in simulator's process did not start: {why[0]}")
        self.url, self.keys = found[base], ChildKeys(found[key], found[secret])
        return self.url

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def _banner(self, deadline: float) -> list[str]:
        """The child's lines up to its books line (printed once it listens), or what came
        before the deadline or its exit."""
        import selectors

        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        lines: list[str] = []
        pending = b""
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0 and sel.select(left):
                chunk = os.read(out.fileno(), 65536)
                if not chunk:
                    break  # it exited
                pending += chunk
                *done, pending = pending.split(b"\n")
                lines += [raw.decode(errors="replace").strip() for raw in done]
                if any(line.startswith("# books:") for line in lines):
                    break
        return lines

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # its signal to stop
        try:
            proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_DEADLINE)
        if proc.stdout is not None:
            proc.stdout.close()
