"""Fixtures for the end-to-end tests: a standalone `rehearsal simulator` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def run_standalone(tmp_path: Path, provider: str = "mintcash") -> Iterator[dict[str, str]]:
    """`rehearsal simulator` as its own process; yields the environment its banner prints
    (the provider's API base and keys), plus LIVE_KEY. Ends it with SIGTERM (exit 0)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rehearsal",
            "simulator",
            "--provider",
            provider,
            "--port",
            "0",
            "--db",
            str(tmp_path / "books.sqlite"),
            "--time-scale",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    env: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:  # the banner ends with the books line
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value
        if line.startswith("# live-mode key"):
            env["LIVE_KEY"] = line.rsplit(" ", 1)[1].strip()
        if line.startswith("# books:"):
            break
    # The banner prints once the server listens, with the port it got.
    base = env[f"{provider.upper()}_API_BASE"]
    httpx.get(f"{base}/_sim/info", timeout=5).raise_for_status()
    yield env
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A standalone MintCash simulator."""
    yield from run_standalone(tmp_path, "mintcash")
