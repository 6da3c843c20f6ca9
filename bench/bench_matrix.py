"""Issue 15's matrix figure: `rehearsal run --repeat N --parallel P` (the default loop on
the embedded simulator) against one rehearsal, and against N minimal scripts making the same
calls through the adapter (a few processes at a time). Prints wall time, peak memory (RSS of
the matrix process), and the ledger's check: every run passed, zero events lost (each run
has every step confirmed by webhook+api) and zero misrouted (no accepted delivery about an
object that is not its run's).

    .venv/bin/python bench/bench_matrix.py --rehearsals 200 --parallel 16 --floor-procs 4
    .venv/bin/python bench/bench_matrix.py --skip-floor --runs 3   # the matrix alone, median
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The floor: one process making the loop's calls with the adapter and nothing else (no
# ledger, receiver, runner, reports), against a standalone simulator. Same calls, no waits.
FLOOR = """
import os, sys
from rehearsal import providers
from rehearsal.providers.config import TargetConfig
cfg = TargetConfig("mintcash", os.environ["MINTCASH_API_BASE"], os.environ["MINTCASH_SECRET_KEY"],
                   [os.environ["MINTCASH_WEBHOOK_SECRET"]], "test")
p = providers.create("mintcash", cfg)
k = sys.argv[1]
card = p.resolve_card("visa")
pay = p.create_payment(idempotency_key=k + "c", amount=500, currency="USD", card=card)
p.refund(idempotency_key=k + "r", payment_id=pay.id, amount=None, reason=None)
sub = p.subscribe(idempotency_key=k + "s", amount=300, currency="USD", card=card,
                  interval="month")
p.cancel(subscription_id=sub.id)
p.close()
"""


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MINTCASH_", "REHEARSAL_"))}
    return {**e, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def timed(cmd: list[str], environ: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=environ, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - t0, done.returncode, done.stdout + done.stderr


def check(state: Path) -> tuple[int, int, int, int]:
    with sqlite3.connect(state / "rehearsal.sqlite") as db:
        runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        passed = db.execute("SELECT COUNT(*) FROM runs WHERE verdict = 'passed'").fetchone()[0]
        lost = db.execute(
            "SELECT COUNT(*) FROM steps WHERE confirmed_by IS NOT 'webhook+api'"
        ).fetchone()[0]
        wrong = db.execute(
            "SELECT COUNT(*) FROM deliveries d WHERE verdict = 'accepted' AND NOT EXISTS "
            "(SELECT 1 FROM observations o WHERE o.run_id = d.run_id AND o.object_id = "
            "d.object_id) AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = d.run_id "
            "AND s.object_id = d.object_id)"
        ).fetchone()[0]
    return runs, passed, lost, wrong


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rehearsals", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--floor-procs", type=int, default=4)
    ap.add_argument("--runs", type=int, default=1, help="matrices in a row; the median is used")
    ap.add_argument(
        "--skip-floor", action="store_true", help="the matrix alone (iterating); no floor"
    )
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        one_state = Path(tmp) / "one"
        one, rc, out = timed(
            [py, "-m", "rehearsal", "run", "--plain", "--state-dir", str(one_state)], env()
        )
        assert rc == 0, out
        walls: list[float] = []
        for n in range(a.runs):
            state = Path(tmp) / f"matrix-{n}"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, rc, out = timed(
                [py, "-m", "rehearsal", "run", "--repeat", str(a.rehearsals), "--parallel",
                 str(a.parallel), "--state-dir", str(state)], env(),
            )  # fmt: skip
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            runs, passed, lost, wrong = check(state)
            walls.append(wall)
            # CPU of the matrix process and its simulator child (a waited-for grandchild
            # counts too): under a shared machine's load, steadier than the wall time.
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            load = os.getloadavg()[0]
            print(f"matrix {a.rehearsals} x --parallel {a.parallel}:  {wall:6.2f} s  exit {rc}  "
                  f"peak RSS {max(after.ru_maxrss, before.ru_maxrss) / 1024:.0f} MiB  "
                  f"cpu user {user:.2f} s sys {system:.2f} s  (load {load:.2f})")  # fmt: skip
            print(f"  runs {runs}, passed {passed}, steps not confirmed by webhook {lost}, "
                  f"misrouted deliveries {wrong}")  # fmt: skip
        wall = statistics.median(walls)
        floor = None if a.skip_floor else floor_time(Path(tmp), a.rehearsals, a.floor_procs)
    print(f"one rehearsal (process):        {one:6.2f} s")
    if a.runs > 1:
        print(f"matrix median of {a.runs}:          {wall:6.2f} s")
    print(
        f"  per rehearsal {wall / a.rehearsals * 1000:.0f} ms; x one rehearsal "
        f"{wall / one:.1f}; vs {a.rehearsals} x one {wall / (one * a.rehearsals):.3f}"
    )
    if floor is not None:
        print(f"floor: {a.rehearsals} minimal scripts, {a.floor_procs} at a time: {floor:6.2f} s; "
              f"matrix / floor = {wall / floor:.2f}")  # fmt: skip


def floor_time(tmp: Path, count: int, procs: int) -> float:
    sim = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "simulator", "--provider", "mintcash", "--port", "0",
         "--db", str(tmp / "floor.sqlite"), "--time-scale", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(), cwd=ROOT,
    )  # fmt: skip
    environ = env()
    assert sim.stdout is not None
    for line in sim.stdout:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            environ[name] = value
        if line.startswith("# books:"):
            break
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(procs) as pool:
            codes = list(
                pool.map(
                    lambda i: subprocess.run(
                        [sys.executable, "-c", FLOOR, f"floor-{i}-"],
                        env=environ,
                        capture_output=True,
                        text=True,
                    ),
                    range(count),
                )
            )
        elapsed = time.perf_counter() - t0
        failed = [c.stderr[-400:] for c in codes if c.returncode != 0]
        assert not failed, failed[0]
        return elapsed
    finally:
        sim.terminate()
        sim.wait(timeout=10)


if __name__ == "__main__":
    main()
