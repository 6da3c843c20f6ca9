"""Wall time of `rehearsal run` on the built-in simulator, and of `rehearsal --help`.

Each is a fresh process, as a user runs it. The baseline is `python -c pass`, run in the
same loop, so the ratios hold on a busy machine too. Prints medians.

    python bench/bench_run.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.decode()[-500:]}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="rehearsal-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTCASH_")}
    env.update(REHEARSAL_STATE_DIR=state, NO_COLOR="1")
    py = sys.executable
    cases = {
        "python -c pass (baseline)": [py, "-c", "pass"],
        "rehearsal --help": [py, "-m", "rehearsal", "--help"],
        "rehearsal run (whole loop, simulator)": [py, "-m", "rehearsal", "run", "--quiet"],
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):  # interleaved, so drift hits every case alike
        for name, cmd in cases.items():
            samples[name].append(timed(cmd, env))
    base = statistics.median(samples["python -c pass (baseline)"])
    print(f"{'case':42} {'median ms':>10} {'min ms':>8} {'x baseline':>11}   (n={args.runs})")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:42} {med:10.1f} {min(values):8.1f} {med / base:11.1f}")


if __name__ == "__main__":
    main()
