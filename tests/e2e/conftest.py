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


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rehearsal",
            "simulator",
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
    httpx.get(f"{env['MINTCASH_API_BASE']}/_sim/info", timeout=5).raise_for_status()
    yield env
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
