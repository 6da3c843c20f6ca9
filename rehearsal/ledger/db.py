"""The state database: runs, their steps, API calls and webhook deliveries, in SQLite (WAL),
and where it lives (the state folder).

A step's intent (its idempotency key and amount) is written before the call that moves
money, and its result after; every verified delivery is stored before the receiver answers.
This file never holds a secret: keys and webhook secrets stay in the environment, and the
payloads stored are the provider's event bodies (card brand and last four digits at most).
`StateDB` is the one class the rest of rehearsal opens; its tables and their queries live
in schema.py, connection.py, runs.py, deliveries.py and compensations.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from rehearsal.ledger.compensations import Compensations
from rehearsal.ledger.deliveries import Deliveries, Delivery
from rehearsal.ledger.runs import RunsAndSteps

__all__ = ["STATE_DB", "Delivery", "StateDB", "nearest_existing", "state_dir", "state_dir_problem"]

STATE_DB = "rehearsal.sqlite"


class StateDB(RunsAndSteps, Deliveries, Compensations):
    """The ledger of one state folder: open it with its path, close it once."""


def state_dir(option: Path | None = None) -> Path:
    """--state-dir, else REHEARSAL_STATE_DIR, else $XDG_STATE_HOME/rehearsal."""
    if option is not None:
        return option
    if env := os.environ.get("REHEARSAL_STATE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "rehearsal"


def nearest_existing(path: Path) -> Path:
    """`path`, or its nearest parent that exists: where a folder to be made would go."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def state_dir_problem(option: Path | None = None) -> str | None:
    """Why the state folder cannot be used (None: it can): it must be a folder this process
    may write, or a path whose nearest existing parent is one (the folder is made later).
    Names the path; checked before anything opens the folder."""
    folder = state_dir(option)
    if folder.exists():
        if not folder.is_dir():
            return f"the state folder {folder} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"the state folder {folder} is not writable"
        return None
    parent = nearest_existing(folder.parent)
    if not parent.is_dir():
        return f"the state folder {folder} cannot be made: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the state folder {folder} cannot be made: {parent} is not writable"
    return None
