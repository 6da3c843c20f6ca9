"""rehearsal/ledger/runlock.py: holder() tells whether a live process holds a run, without
getting in the way of one that is taking it."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from rehearsal.errors import UsageError
from rehearsal.ledger.runlock import RunLock, holder


def test_holder_names_the_live_holder_and_none_once_it_lets_go(tmp_path: Path) -> None:
    assert holder(tmp_path, "r1") is None  # never taken
    lock = RunLock(tmp_path, "r1")
    with lock:
        assert holder(tmp_path, "r1") == str(os.getpid())
        with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path, "r1").acquire()
    assert holder(tmp_path, "r1") is None


def test_a_probe_in_progress_does_not_refuse_a_process_taking_the_run(tmp_path: Path) -> None:
    lock = RunLock(tmp_path, "r2")
    lock.path.parent.mkdir(parents=True)
    lock.path.touch()
    fd = os.open(lock.path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # a holder() probe, caught in the act
    threading.Timer(0.1, os.close, (fd,)).start()
    started = time.monotonic()
    with lock:
        assert time.monotonic() - started < 0.5
