"""Run ids carry 100 random bits; the idempotency keys derived from them fit every
provider's documented key length (PayMongo and Stripe: 255; MintCash: none)."""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

from rehearsal.engine.runner import RUN_ID_ALPHABET, RUN_ID_RANDOM_CHARS, new_run_id
from rehearsal.plan.model import _STEP_ID
from rehearsal.providers.paymongo import contract as paymongo
from rehearsal.providers.paymongo.adapter import PayMongo
from rehearsal.simulator.server import Simulator

RUN_ID = re.compile(r"^\d{8}-\d{6}-[a-z2-7]{20}$")
LONGEST_STEP = "s" * int(re.findall(r"\{0,(\d+)\}", _STEP_ID)[0]) + "s"  # the plan's limit


def test_a_run_id_is_a_timestamp_and_at_least_96_random_bits() -> None:
    ids = {new_run_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(RUN_ID.match(i) for i in ids), sorted(ids)[:3]
    assert len(set(RUN_ID_ALPHABET)) == 32
    assert RUN_ID_RANDOM_CHARS * math.log2(len(RUN_ID_ALPHABET)) >= 96
    # Every character of the alphabet turns up: the random part is not a narrower code.
    assert set("".join(i.rsplit("-", 1)[1] for i in ids)) == set(RUN_ID_ALPHABET)


def longest_keys() -> list[str]:
    """The longest keys the runner and cleanup derive (their formats in runner.py and
    cleanup.py), with the longest step id a plan allows and generous object ids."""
    run = new_run_id()
    payment_id = "pay_" + "x" * 60
    return [
        f"rh-{run}-{LONGEST_STEP}",
        f"rh-{run}-{LONGEST_STEP}-cleanup-{payment_id}-{10**15}",
    ]


# The PayMongo adapter derives one key per call of a step (`<key>.intent`, `<key>.method`,
# `<key>.invoice.method`, ...): room for the longest of those suffixes.
SUFFIX_ROOM = len(".subscription.invoice.method")


def test_the_longest_keys_fit_the_documented_limit() -> None:
    assert len(LONGEST_STEP) == 40
    for key in longest_keys():
        assert len(key) + SUFFIX_ROOM <= paymongo.MAX_IDEMPOTENCY_KEY, (len(key), key)


def test_paymongo_receives_the_key_itself_not_a_digest(tmp_path: Path) -> None:
    """Over 255 characters the PayMongo client would send a digest; ours never need it."""
    sim = Simulator(tmp_path / "paymongo.sqlite", dialect="paymongo", time_scale=0.01)
    base = sim.start()
    adapter = PayMongo(
        api_base=base,
        secret_key=sim.keys.test_secret,
        webhook_secrets=[],
        environment="test",
        backoff=0.01,
        poll_interval=0.02,
    )
    try:
        key = longest_keys()[0]
        adapter.create_payment(idempotency_key=key, amount=20000, currency="PHP", card="test:visa")
        over = "k" * (paymongo.MAX_IDEMPOTENCY_KEY + 1)
        adapter.create_payment(idempotency_key=over, amount=20000, currency="PHP", card="test:visa")
    finally:
        adapter.close()
        sim.stop()
    with sqlite3.connect(tmp_path / "paymongo.sqlite") as db:
        stored = {k for (k,) in db.execute("SELECT external_id FROM idempotency")}
    assert {f"{key}.method", f"{key}.intent"} <= stored  # sent as is
    assert all(len(k) <= paymongo.MAX_IDEMPOTENCY_KEY for k in stored)
    assert not any(k.startswith("kkk") for k in stored)  # over the limit: digested
