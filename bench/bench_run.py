"""Wall time of one `rehearsal run` against a standalone simulator, and of `rehearsal --help`.

Each case is a fresh process, as a user runs it, interleaved so that drift on a busy machine
hits every case alike; figures are medians. A standalone simulator (`rehearsal simulator`)
runs for the whole bench. Baselines, measured in the same loop:

- `python -c pass` for `rehearsal --help` (start-up);
- bench/minimal_loop.py for `rehearsal run`: a minimal script making the same API calls and
  waiting for the same webhooks against the same simulator, with no ledger or checks.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.decode()[-800:]}")
    return elapsed * 1000


def simulator(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `rehearsal simulator` on a free port; its exported settings."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "simulator", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    exports: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:  # it prints its settings, then serves until stopped
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value
        if "MINTCASH_WEBHOOK_SECRET" in exports:
            return proc, exports
    sys.exit(f"the simulator did not start (exit {proc.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="rehearsal-bench-")
    # No MINTCASH_* of the caller's; bytecode cached as for an installed package (a
    # PYTHONDONTWRITEBYTECODE=1 shell would otherwise compile rehearsal at every start).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MINTCASH_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(REHEARSAL_STATE_DIR=state, NO_COLOR="1", PYTHONPATH=str(ROOT))
    sim, exports = simulator(env)
    env.update(exports)
    py = sys.executable
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "rehearsal --help": [py, "-m", "rehearsal", "--help"],
        "minimal script (same calls and waits)": [py, str(ROOT / "bench" / "minimal_loop.py")],
        "rehearsal run (standalone simulator)": [py, "-m", "rehearsal", "run", "--quiet"],
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for cmd in cases.values():  # once unmeasured: bytecode written, caches warm
            timed(cmd, env)
        for _ in range(args.runs):
            for name, cmd in cases.items():
                samples[name].append(timed(cmd, env))
    finally:
        sim.terminate()
        sim.wait(10)
    med = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{'case':40} {'median ms':>10} {'min ms':>8}   (n={args.runs}, interleaved)")
    for name, values in samples.items():
        print(f"{name:40} {med[name]:10.1f} {min(values):8.1f}")
    help_over = med["rehearsal --help"] - med["python -c pass"]
    print(f"rehearsal --help over bare python: +{help_over:.0f} ms (goal: under 150)")
    ratio = (
        med["rehearsal run (standalone simulator)"] / med["minimal script (same calls and waits)"]
    )
    print(f"rehearsal run / minimal script: x{ratio:.2f} (goal: within 1.5)")


if __name__ == "__main__":
    main()
