"""The built-in simulator as a matrix's child process (rehearsal/session/sim_child.py): it
serves the provider's API from the books in the state folder, ends when its parent ends
however the parent ends, and a terminal's Ctrl-C (the process group's SIGINT) does not
reach it. Real processes, real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rehearsal.errors import ProviderError
from rehearsal.session.sim_child import ChildSimulator

ROOT = Path(__file__).resolve().parents[1]


def gone(pid: int, within: float) -> bool:
    """Whether process `pid` has ended by `within` seconds: a wait on its pidfd, which
    becomes readable when it exits (Linux 5.3+)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], within)
        return bool(readable)
    finally:
        os.close(fd)


def test_it_serves_from_the_state_folders_books_and_stops_when_asked(tmp_path: Path) -> None:
    books = tmp_path / "simulator" / "mintcash.sqlite"
    sim = ChildSimulator(books, dialect="mintcash", faults=[], time_scale=0.01)
    url = sim.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        info = httpx.get(f"{url}/_sim/info", timeout=5).json()
        assert info["simulator"] == "rehearsal"
        r = httpx.post(
            f"{url}/payments",
            json={"externalId": "x1", "amount": 500, "currency": "USD",
                  "paymentMethod": "pm_card_visa"},
            headers={"Authorization": f"Bearer {sim.keys.test_secret}"},
            timeout=5,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert books.exists()
        pid = sim.pid
    finally:
        sim.stop()
    assert gone(pid, 10)


def test_it_ends_with_its_parent_and_ignores_the_terminals_ctrl_c(tmp_path: Path) -> None:
    parent_code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rehearsal.session.sim_child import ChildSimulator\n"
        f"sim = ChildSimulator(Path({str(tmp_path / 'b.sqlite')!r}), dialect='mintcash', "
        "faults=[], time_scale=0.01)\n"
        "url = sim.start()\n"
        "try:\n"
        "    print(sim.pid, url, flush=True)\n"
        "    sys.stdin.read()\n"
        "except KeyboardInterrupt:\n"  # the run's compensation still needs the simulator
        "    import httpx\n"
        "    print(httpx.get(url + '/_sim/info', timeout=5).status_code, flush=True)\n"
        "sys.stdin.read()\n"  # until the test kills it
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert parent.stdout is not None
        child_pid, url = parent.stdout.readline().split()
        # Ctrl-C at the terminal: SIGINT to the foreground process group. The parent's
        # group does not hold the child, which keeps serving.
        os.killpg(parent.pid, signal.SIGINT)
        assert parent.stdout.readline().strip() == "200"
        # The parent dies without stopping it (SIGKILL); the kernel closes the pipe: it ends.
        parent.kill()
        parent.wait(10)
        assert gone(int(child_pid), 10), "the child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert url.startswith("http://127.0.0.1:")


def test_a_child_that_cannot_start_says_why(tmp_path: Path) -> None:
    sim = ChildSimulator(
        tmp_path / "b.sqlite", dialect="mintcash", faults=["no-such-fault"], time_scale=0.01
    )
    with pytest.raises(ProviderError, match=r"did not start: .*no-such-fault"):
        sim.start()
