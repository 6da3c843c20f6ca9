"""Where a run stands and the exact command to type next: `start`, `step`, `status` and
`runs` all say it from here, so they never disagree.

A run is *running* while a live process holds its lock (rehearsal/ledger/runlock.py), *died* when
no process holds it and a step was left in flight (`calling`, `awaiting`), *paused* when
none was, and *ended* once it has a verdict. Reads the ledger only: nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.ledger.db import StateDB
from rehearsal.ledger.rows import RunRow
from rehearsal.ledger.runlock import holder
from rehearsal.ledger.states import RegistrationState, RunLiveness, RunVerdict, StepState

# A step in one of these states with no verdict and no process holding the run: the
# process died while it was in flight (or before it could write the step's end).
_IN_FLIGHT = {StepState.CALLING, StepState.AWAITING, StepState.FAILED, StepState.INTERRUPTED}


@dataclass(frozen=True)
class Next:
    """A command to type, and what it does."""

    command: str
    why: str


@dataclass(frozen=True)
class Standing:
    state: str  # running | paused | died | the run's verdict
    holder: str | None = None  # the live process's pid, while running
    commands: list[Next] = field(default_factory=list)  # the first is the one to type
    note: str = ""  # when there is no command to type: why

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "holder_pid": self.holder,
            "next": [{"command": n.command, "why": n.why} for n in self.commands],
            "note": self.note or None,
        }

    def lines(self) -> list[str]:
        """`next: COMMAND   # what it does`, then `  or: …` for each alternative."""
        if not self.commands:
            return [f"next: nothing to type: {self.note}"]
        width = max(len(n.command) for n in self.commands)
        return [
            f"{'next:' if i == 0 else '  or:'} {n.command:{width}}   # {n.why}"
            for i, n in enumerate(self.commands)
        ]


def _key_lookup(provider: str) -> bool:
    from rehearsal.errors import RehearsalError
    from rehearsal.providers import declaration_of

    try:
        return declaration_of(provider).key_lookup
    except RehearsalError:
        return True


def standing(store: StateDB, run: RunRow, folder: Path) -> Standing:
    from rehearsal.ledger.totals import left_open, run_totals

    run_id = run["id"]
    m = run_totals(store, run_id)
    cleanup = f"rehearsal cleanup {run_id}"
    if m["unknown_outcomes"] and not _key_lookup(run["provider"]):
        cleanup = f"{cleanup} --replay"
        settle_why = (
            f"{run['provider']} cannot look a lost call up by its key: send it again with "
            "the same key, then refund or cancel what it made"
        )
    else:
        settle_why = "refund and cancel what the run left at the provider"
    registered = any(g["state"] != RegistrationState.REMOVED for g in store.registrations(run_id))
    if run["verdict"] is not None:
        if left_open(m) or registered:
            return Standing(run["verdict"], commands=[Next(cleanup, settle_why)])
        return Standing(
            run["verdict"], note=f"the run ended ({run['verdict']}) and left nothing open"
        )
    pid = holder(folder, run_id)
    if pid is not None:
        return Standing(
            RunLiveness.RUNNING,
            pid,
            note=f"process {pid} is moving this run; `rehearsal status {run_id}` after it ends",
        )
    steps = store.steps(run_id)
    if any(s["state"] in _IN_FLIGHT for s in steps):
        return Standing(
            RunLiveness.DIED,
            commands=[
                Next(
                    f"rehearsal resume {run_id}",
                    "carry it on to the end; a lost call is sent again with its own key",
                ),
                Next(cleanup, "stop here: " + settle_why),
            ],
        )
    pending = [s["step_id"] for s in steps if s["state"] == StepState.PENDING]
    commands = []
    if pending:
        commands.append(Next(f"rehearsal step {run_id}", f"run '{pending[0]}', then pause"))
    commands.append(Next(f"rehearsal resume {run_id}", "run every step left, to the end"))
    if left_open(m) or registered:
        commands.append(Next(cleanup, "stop here: " + settle_why))
    return Standing(RunVerdict.PAUSED, commands=commands)


def for_run(run_id: str, folder: Path) -> Standing | None:
    """The standing of a run by id, opening the state database; None if it is not there."""
    from rehearsal.ledger.db import STATE_DB

    path = folder / STATE_DB
    if not path.exists():
        return None
    store = StateDB(path)
    try:
        run = store.run(run_id)
        return None if run is None else standing(store, run, folder)
    finally:
        store.close()
