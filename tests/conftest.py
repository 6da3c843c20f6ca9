"""Shared fixtures: a real simulator and receiver on 127.0.0.1, a real SQLite state file."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rehearsal.ledger.db import StateDB
from rehearsal.providers import signatures
from rehearsal.providers.base import ApiCall, Callbacks
from rehearsal.providers.mintcash import contract
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.simulator.server import Simulator

WEBHOOK_SECRET = "whsec_test_fixture_secret_not_real_0123456789"

# Every CLI subprocess the tests start (`python -m rehearsal ...`) must run this source
# tree, not a copy installed into the venv: README's install is not editable, so without
# this a change to rehearsal/ could leave the end-to-end tests green. Subprocesses inherit
# os.environ (tests pass {**os.environ, ...}); tests/test_source_tree.py guards it.
SOURCE_ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH", "")) if p
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """The MintCash simulator, embedded, with its books in a temporary SQLite file."""
    simulator = Simulator(tmp_path / "books.sqlite", time_scale=0.01)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim_url(sim: Simulator) -> str:
    return f"http://127.0.0.1:{sim.port}"


@pytest.fixture
def mintcash_calls() -> list[ApiCall]:
    """Every ApiCall the `mintcash` adapter reports to its observer."""
    return []


@pytest.fixture
def mintcash(sim: Simulator, sim_url: str, mintcash_calls: list[ApiCall]) -> Iterator[MintCash]:
    """The MintCash adapter pointed at the simulator, in test mode."""
    adapter = MintCash(
        observer=Callbacks(on_call=mintcash_calls.append),
        api_base=sim_url,
        secret_key=sim.keys.test_secret,
        webhook_secrets=[sim.keys.webhook_secret],
        environment="test",
        backoff=0.01,
    )
    yield adapter
    adapter.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateDB]:
    db = StateDB(tmp_path / "state" / "rehearsal.sqlite")
    yield db
    db.close()


def event_body(
    event_type: str = "payment.succeeded",
    *,
    event_id: str = "evt_fixture_1",
    environment: str = "test",
    obj: dict[str, Any] | None = None,
) -> bytes:
    """A MintCash event body as the contract describes it."""
    obj = obj or {
        "id": "pay_fixture",
        "object": "payment",
        "amount": 500,
        "currency": "USD",
        "status": "succeeded",
        "amountRefunded": 0,
        "refunds": [],
        "environment": environment,
    }
    payload = {
        "eventId": event_id,
        "type": event_type,
        "environment": environment,
        "createdAt": "2026-11-23T10:00:00.000Z",
        "data": {"object": obj},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(
    body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    return {
        contract.SIGNATURE_HEADER: signatures.sign(secret, body, t),
        "Content-Type": "application/json",
    }
