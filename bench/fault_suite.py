"""The fault suite at scale (issue 11): the figures its closing note needs.

Runs N rehearsals against one standalone simulator, each with a seeded fault: a SIGKILL or
SIGTERM of the run at a random moment, kills of the cleanup that follows, a held charge,
or nothing. Each run is settled with `rehearsal cleanup` and judged by the simulator's
books, not by our ledger. Prints a table: runs, kills by kind, double charges, stranded
amounts, disagreements between `status --json` and the books, and wall time.

    python bench/fault_suite.py [--runs 100] [--seed 1] [--verbose]
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.faultlib import (
    Kill,
    RunRecord,
    random_kill,
    rehearse,
    standalone_simulator,
)

RUN_LINES = 36
BOTH = (signal.SIGKILL, signal.SIGTERM)


def one(n: int, rng: random.Random, folder: Path, env: dict[str, str], db: Path) -> RunRecord:
    scenario = rng.choice(["kill-run", "kill-run", "kill-run-and-cleanup", "none"])
    kill = random_kill(rng, BOTH, RUN_LINES) if scenario != "none" else None
    cleanup_kills = (
        [Kill(rng.choice(BOTH), after=rng.uniform(0.3, 1.2)) for _ in range(rng.randint(1, 2))]
        if scenario == "kill-run-and-cleanup"
        else []
    )
    return rehearse(
        f"#{n} {scenario}",
        state=folder / f"run{n}" / "state",
        books=db,
        env=env,
        kill=kill,
        cleanup_kills=cleanup_kills,
        settle_deadline=30,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print every bad run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="rehearsal-faults-"))
    started = time.perf_counter()
    records: list[RunRecord] = []
    with standalone_simulator(folder / "sim", ["hold:POST /refund=0.3x1000"]) as sim:
        for n in range(args.runs):
            record = one(n, rng, folder, sim.cli_env(), sim.db)
            records.append(record)
            mark = "✗" if record.problems() else "✓"
            print(f"{mark} {record.label:28} {record.run_id} {record.seconds:5.1f}s", flush=True)
            if args.verbose and record.problems():
                print(record.report(), flush=True)
    wall = time.perf_counter() - started

    kills = Counter(k for r in records for k in r.kills)
    cleanup_kills = Counter(
        a.kill.split()[0] for r in records for a in r.attempts if a.command == "cleanup" and a.kill
    )
    double = [r for r in records if r.books.double_charges]
    stranded = [r for r in records if r.books.outstanding]
    subs_left = [r for r in records if r.books.active_subscriptions]
    disagree = [r for r in records if r.disagreements]
    unsettled = [r for r in records if not r.settled]
    rows = [
        ("runs", str(len(records))),
        (
            "kills of runs (SIGKILL / SIGTERM)",
            f"{kills['SIGKILL'] - cleanup_kills['SIGKILL']}"
            f" / {kills['SIGTERM'] - cleanup_kills['SIGTERM']}",
        ),
        (
            "kills of cleanups (SIGKILL / SIGTERM)",
            f"{cleanup_kills['SIGKILL']} / {cleanup_kills['SIGTERM']}",
        ),
        ("runs with a double charge", str(len(double))),
        ("runs leaving money at the provider", str(len(stranded))),
        ("stranded amount (minor units)", str(sum(r.books.outstanding for r in stranded))),
        ("runs leaving an active subscription", str(len(subs_left))),
        ("status --json ≠ the books", str(len(disagree))),
        ("cleanup never exited 0", str(len(unsettled))),
        ("wall time", f"{wall:.0f} s ({wall / max(1, len(records)):.1f} s a run)"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nfault suite, seed {args.seed}\n")
    print(f"| {'figure':{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:{width}} | {value} |")
    kinds = Counter(d.split()[2] for r in disagree for d in r.disagreements)
    if kinds:
        print("\ndisagreements by field: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))


if __name__ == "__main__":
    main()
