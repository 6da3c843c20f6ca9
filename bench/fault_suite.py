"""The fault suite at scale (issue 11): the figures its closing note needs.

Runs N rehearsals against standalone simulators, each with a seeded scenario drawn from
every fault class the issue lists:

- kill-run              SIGKILL or SIGTERM of the run at a random moment (refunds held
                        0.3 s, so a kill may land while one is in flight);
- kill-run-and-cleanup  the run SIGKILLed, then one or two of its cleanups killed too
                        (SIGKILL or SIGTERM; the refund hold stays on for them);
- fail-after            the last retry of a money POST (/payments, /subscriptions or
                        /refund) fails after the work: every answer lost, the money moved;
- hold                  a money POST held 2.5 s on each attempt against a 1 s client timeout
                        (landing window 3.5 s): each attempt times out, then lands;
- rate-5xx              a seeded 30% rate of 503s on every POST, before the work;
- rate-after-5xx        a seeded 30% rate of 500s on every POST, after the work;
- sim-restart           the simulator SIGKILLed at a seeded moment of the run and restarted
                        on the same port and books a moment later (a few runs: it is slow);
- paymongo              a few runs on the PayMongo dialect (its own simulator): a kill, a
                        lost charge or subscription answer (no lookup by key: settled by
                        `cleanup --replay`), or a 30% rate of 500s after the work.

A run's faults are set on the shared simulator (`PUT /_sim/faults`) before it and cleared
once it has ended, so its cleanup is not itself faulted unless the scenario says so. Each
run is settled with `rehearsal cleanup` until it exits 0 and judged by the simulator's
books, not by our ledger, and by `status --json` against the books. Prints a table (runs,
kills by kind, double charges, stranded amounts, disagreements, wall time) and the same
figures per scenario.

    python bench/fault_suite.py [--runs 100] [--seed 1] [--verbose] [--only N,M]

Each run's scenario depends on --seed, --runs and its number only: `--only 17` replays
run #17 of the same invocation (against fresh simulators).
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.faultlib import (
    REPO,
    BooksMoney,
    Kill,
    RunRecord,
    Spawned,
    StandaloneSimulator,
    books_money,
    random_kill,
    rehearse,
    standalone_simulator,
)

# A default MintCash run prints about 39 lines (--plain), a PayMongo run about 52: a kill
# after line 1..N lands anywhere from before the charge to the last compensation.
RUN_LINES = {"mintcash": 36, "paymongo": 48}
BOTH = (signal.SIGKILL, signal.SIGTERM)
REFUND_HOLD = ["hold:POST /refund=0.3x1000"]
MONEY_POSTS = ["/payments", "/subscriptions", "/refund"]
# The client gives up on each attempt after 1 s; the provider lands it after 2.5 s; the
# cleanup waits for the last send + 1 s + 3.5 s before it believes a "not found".
HOLD_ENV = {"REHEARSAL_HTTP_TIMEOUT": "1", "REHEARSAL_LANDING_WINDOW": "3.5"}
PAYMONGO_PLAN = str(REPO / "plans" / "paymongo.yaml")
PAYMONGO_LOST = {
    "charge": "fail-after:POST /v1/payment_intents/*/attachx4",
    "subscribe": "fail-after:POST /v1/subscriptionsx4",
}

# How often each class is drawn (the schedule gives every class at least one run when
# there are enough runs).
WEIGHTS = {
    "kill-run": 3.0,
    "kill-run-and-cleanup": 2.0,
    "fail-after": 3.0,
    "hold": 2.0,
    "rate-5xx": 2.0,
    "rate-after-5xx": 2.0,
    "sim-restart": 0.7,
    "paymongo kill-run": 0.4,
    "paymongo lost-charge": 0.4,
    "paymongo lost-subscribe": 0.25,
    "paymongo rate-after-5xx": 0.25,
}


@dataclass
class Scenario:
    """One run's faults, all drawn from its own seeded RNG."""

    group: str  # the row of the per-scenario table
    label: str  # what exactly, for the run's line and its report
    provider: str = "mintcash"
    run_faults: list[str] = field(default_factory=list)
    cleanup_faults: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    kill: Kill | None = None
    cleanup_kills: list[Kill] = field(default_factory=list)
    outage: tuple[int, float] | None = None  # the simulator dies after line N, for S s
    settle_deadline: float = 30.0

    @property
    def run_args(self) -> tuple[str, ...]:
        if self.provider == "paymongo":
            return ("run", PAYMONGO_PLAN, "--plain")
        return ("run", "--plain")


def schedule(runs: int, rng: random.Random) -> list[str]:
    """`runs` scenario classes in a seeded order, in proportion to WEIGHTS."""
    names = list(WEIGHTS)
    total = sum(WEIGHTS.values())
    exact = {k: runs * w / total for k, w in WEIGHTS.items()}
    counts = {k: int(v) for k, v in exact.items()}
    if runs >= len(names):
        counts = {k: max(1, c) for k, c in counts.items()}
    while sum(counts.values()) < runs:
        counts[max(names, key=lambda k: exact[k] - counts[k])] += 1
    while sum(counts.values()) > runs:
        counts[max((k for k in names if counts[k] > 1), key=lambda k: counts[k] - exact[k])] -= 1
    plan = [k for k in names for _ in range(counts[k])]
    rng.shuffle(plan)
    return plan


def scenario(group: str, rng: random.Random) -> Scenario:
    lines = RUN_LINES["mintcash"]
    if group == "kill-run":
        kill = random_kill(rng, BOTH, lines)
        return Scenario(group, f"{group} {kill.describe()}", run_faults=REFUND_HOLD, kill=kill)
    if group == "kill-run-and-cleanup":
        # SIGKILL: a SIGTERMed run finishes its compensation and may exit 0, leaving no
        # cleanup to kill.
        kill = random_kill(rng, (signal.SIGKILL,), lines)
        cleanup_kills = [
            Kill(rng.choice(BOTH), after=rng.uniform(0.3, 1.2)) for _ in range(rng.randint(1, 2))
        ]
        return Scenario(
            group,
            f"{group} {kill.describe()}; cleanups: "
            + ", ".join(k.describe() for k in cleanup_kills),
            run_faults=REFUND_HOLD,
            cleanup_faults=REFUND_HOLD,
            kill=kill,
            cleanup_kills=cleanup_kills,
        )
    if group == "fail-after":
        spec = f"fail-after:POST {rng.choice(MONEY_POSTS)}x4"
        return Scenario(group, spec, run_faults=[spec])
    if group == "hold":
        spec = f"hold:POST {rng.choice(MONEY_POSTS)}=2.5x4"
        return Scenario(group, spec, run_faults=[spec], env=HOLD_ENV, settle_deadline=45)
    if group in ("rate-5xx", "rate-after-5xx"):
        kind = "rate" if group == "rate-5xx" else "rate-after"
        specs = [f"seed:{rng.randrange(1, 1_000_000)}", f"{kind}:POST /*=0.3"]
        return Scenario(group, " ".join(specs), run_faults=specs)
    if group == "sim-restart":
        outage = (rng.randint(3, lines - 4), rng.uniform(0.2, 1.0))
        return Scenario(
            group, f"simulator SIGKILL after line {outage[0]}, down {outage[1]:.2f}s", outage=outage
        )
    if group == "paymongo kill-run":
        kill = random_kill(rng, BOTH, RUN_LINES["paymongo"])
        return Scenario(group, f"{group} {kill.describe()}", "paymongo", kill=kill)
    if group.startswith("paymongo lost-"):
        spec = PAYMONGO_LOST[group.removeprefix("paymongo lost-")]
        return Scenario(group, f"paymongo {spec}", "paymongo", run_faults=[spec])
    if group == "paymongo rate-after-5xx":
        specs = [f"seed:{rng.randrange(1, 1_000_000)}", "rate-after:POST /*=0.3"]
        return Scenario(group, "paymongo " + " ".join(specs), "paymongo", run_faults=specs)
    raise ValueError(group)


def outage_at(sim: StandaloneSimulator, line: int, down: float) -> Callable[[Spawned], None]:
    """Kill the simulator once the run printed `line` lines; restart it `down` s later."""

    def outage(run: Spawned) -> None:
        end = time.monotonic() + 30
        while run.proc.poll() is None and len(run.lines()) < line:
            if time.monotonic() > end:
                return  # the run printed nothing for 30 s: it is judged as it stands
            time.sleep(0.005)
        sim.kill()
        time.sleep(down)  # the outage itself
        sim.restart()

    return outage


def one(n: int, plan: Scenario, folder: Path, sim: StandaloneSimulator) -> RunRecord:
    sim.set_faults(plan.run_faults)
    try:
        return rehearse(
            f"#{n} {plan.label}",
            state=folder / f"run{n}" / "state",
            books=sim.db,
            env={**sim.cli_env(), **plan.env},
            run_args=plan.run_args,
            kill=plan.kill,
            cleanup_kills=plan.cleanup_kills,
            settle_deadline=plan.settle_deadline,
            during=outage_at(sim, *plan.outage) if plan.outage else None,
            between=lambda: sim.set_faults(plan.cleanup_faults),
        )
    finally:
        sim.set_faults([])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print every bad run")
    parser.add_argument("--only", default="", help="run only these run numbers (e.g. 3,17)")
    args = parser.parse_args()
    groups = schedule(args.runs, random.Random(args.seed))
    only = {int(x) for x in args.only.split(",") if x.strip()}
    numbers = [n for n in range(args.runs) if not only or n in only]
    plans = {n: scenario(groups[n], random.Random(f"{args.seed}:{n}")) for n in numbers}
    folder = Path(tempfile.mkdtemp(prefix="rehearsal-faults-"))
    started = time.perf_counter()
    records: list[tuple[Scenario, RunRecord]] = []
    sims: dict[str, StandaloneSimulator] = {}
    with ExitStack() as stack:
        for n in numbers:
            plan = plans[n]
            if plan.provider not in sims:
                sims[plan.provider] = stack.enter_context(
                    standalone_simulator(folder / f"sim-{plan.provider}", provider=plan.provider)
                )
            record = one(n, plan, folder, sims[plan.provider])
            records.append((plan, record))
            mark = "✗" if record.problems() else "✓"
            print(
                f"{mark} {record.label[:60]:60} {record.run_id} {record.seconds:5.1f}s", flush=True
            )
            if record.problems():
                if args.verbose:
                    print(record.report(), flush=True)
                print(
                    f"    reproduce: python bench/fault_suite.py --runs {args.runs} "
                    f"--seed {args.seed} --only {n} --verbose",
                    flush=True,
                )
        whole = {p: books_money(s.db, None) for p, s in sims.items()}
        restarts = sum(s.starts - 1 for s in sims.values())
    wall = time.perf_counter() - started
    print_table(args.seed, records, whole, restarts, wall)


def print_table(
    seed: int,
    records: list[tuple[Scenario, RunRecord]],
    whole: dict[str, BooksMoney],
    restarts: int,
    wall: float,
) -> None:
    runs = [r for _, r in records]
    kills = Counter(k for r in runs for k in r.kills)
    cleanup_kills = Counter(
        a.kill.split()[0]
        for r in runs
        for a in r.attempts
        if a.command.startswith("cleanup") and a.kill
    )
    replays = [r for r in runs if any(a.command == "cleanup --replay" for a in r.attempts)]
    double = [r for r in runs if r.books.double_charges]
    stranded = [r for r in runs if r.books.stranded]
    subs_left = [r for r in runs if r.books.active_subscriptions]
    disagree = [r for r in runs if r.disagreements]
    unsettled = [r for r in runs if not r.settled]
    bad = [r for r in runs if r.problems()]
    whole_stranded = sum(m.stranded for m in whole.values())
    rows = [
        ("runs", str(len(runs))),
        (
            "kills of runs (SIGKILL / SIGTERM)",
            f"{kills['SIGKILL'] - cleanup_kills['SIGKILL']}"
            f" / {kills['SIGTERM'] - cleanup_kills['SIGTERM']}",
        ),
        (
            "kills of cleanups (SIGKILL / SIGTERM)",
            f"{cleanup_kills['SIGKILL']} / {cleanup_kills['SIGTERM']}",
        ),
        ("simulator kills and restarts", str(restarts)),
        (
            "runs the fault made fail (run exit ≠ 0)",
            str(sum(r.attempts[0].exit != 0 for r in runs)),
        ),
        ("runs settled with cleanup --replay", str(len(replays))),
        ("runs with a double charge", str(len(double))),
        ("runs leaving money at the provider", str(len(stranded))),
        ("stranded amount (minor units)", str(sum(r.books.stranded for r in stranded))),
        (
            "PayMongo test money it refuses to refund",
            str(sum(r.books.not_refundable_in_test for r in runs)),
        ),
        ("runs leaving an active subscription", str(len(subs_left))),
        ("status --json ≠ the books", str(len(disagree))),
        ("cleanup never exited 0", str(len(unsettled))),
        ("runs with any problem", str(len(bad))),
        ("whole books: stranded (runs with no id too)", str(whole_stranded)),
        ("wall time", f"{wall:.0f} s ({wall / max(1, len(runs)):.1f} s a run)"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nfault suite, seed {seed}\n")
    print(f"| {'figure':{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:{width}} | {value} |")

    heads = (
        "scenario",
        "runs",
        "run exit≠0",
        "double charges",
        "stranded amount",
        "status≠books",
        "cleanup never 0",
        "s a run",
    )
    table: list[tuple[str, ...]] = []
    for group in dict.fromkeys(sorted(p.group for p, _ in records)):
        mine = [r for p, r in records if p.group == group]
        table.append(
            (
                group,
                str(len(mine)),
                str(sum(r.attempts[0].exit != 0 for r in mine)),
                str(sum(bool(r.books.double_charges) for r in mine)),
                str(sum(r.books.stranded for r in mine)),
                str(sum(bool(r.disagreements) for r in mine)),
                str(sum(not r.settled for r in mine)),
                f"{sum(r.seconds for r in mine) / len(mine):.1f}",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(heads)]
    print("\nper scenario\n")
    print("| " + " | ".join(f"{h:{w}}" for h, w in zip(heads, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(f"{c:{w}}" for c, w in zip(row, widths, strict=True)) + " |")

    kinds = Counter(d.split()[2] for r in disagree for d in r.disagreements)
    if kinds:
        print("\ndisagreements by field: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    if bad:
        print("\nbad runs: " + ", ".join(f"{r.label[:60]} ({r.run_id})" for r in bad))


if __name__ == "__main__":
    main()
