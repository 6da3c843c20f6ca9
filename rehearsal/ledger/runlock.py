"""One process at a time per run.

`resume`, `step` and `cleanup` hold a run's lock while they work, so two processes never
move the same run's money at once. It is an advisory `flock` on a file in the state folder:
the operating system releases it when its holder exits or is killed, so a crash never
leaves a run stuck. `holder()` asks the same lock whether a live process holds a run:
`rehearsal runs` and `status` tell a running run from a paused one and from one whose
process died.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from rehearsal.errors import UsageError

# `holder()` takes a shared lock for an instant; a process acquiring the run meanwhile
# tries again for this long before it calls the run "in use".
_ACQUIRE_PATIENCE = 0.5


def holder(folder: Path, run_id: str) -> str | None:
    """The pid of the live process holding the run (as it wrote it; "unknown" before it
    did), or None when no process holds it: a lock that can be taken has no live holder."""
    import fcntl

    try:
        fd = os.open(RunLock(folder, run_id).path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # never taken
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 16, 0).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    def __init__(self, folder: Path, run_id: str) -> None:
        self.path = folder / "locks" / f"{run_id}.lock"
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the run, or raise UsageError naming the process that holds it."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        until = time.monotonic() + _ACQUIRE_PATIENCE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < until:
                    time.sleep(0.02)  # a holder() probe lets go at once; a run does not
                    continue
                pid = os.pread(fd, 16, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise UsageError(
                    f"run {self.run_id} is in use by another rehearsal process (pid {pid})",
                    hint="wait for it to end, or stop it with Ctrl-C; a process that crashed "
                    "releases the run by itself",
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
