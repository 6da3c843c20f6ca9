"""Every parameter the Stripe adapter sends during the built-in Stripe plans is one that
Stripe's pinned version accepts, judged by Stripe's own published request types: the
`stripe/params/*` TypedDicts of stripe-python 16.1.0 (`2026-10-28.endive`), walked to any
depth (scripts/derive_stripe_params.py `paths`), never by our simulator.

The plans run through the CLI against a simulator in this process whose app is wrapped in
a recorder: every request it receives is kept as it arrived, refused or not, with the route
that matched it. A name the library does not know fails with its route."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe

from rehearsal.providers.base import KeyLookupUnsupported
from rehearsal.providers.keys import step_key
from rehearsal.simulator.server import Simulator
from scripts import derive_stripe_params as derive
from tests.e2e.faultlib import cli
from tests.stripe_adapter_support import adapter_for

PLANS = Path(__file__).resolve().parents[1] / "plans"
# (plan, options): every built-in Stripe plan, and the loop with the events API as the
# delivery path (GET /v1/events)
RUNS = [("stripe.yaml",), ("stripe-cards.yaml",), ("stripe.yaml", "--tunnel", "events-api")]
_SEGMENT = re.compile(r"\[([^\]]*)\]")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


@dataclass
class Recorder:
    """ASGI middleware: (method, route, raw query, raw body) of every HTTP request."""

    app: ASGI
    seen: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def recording() -> Message:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        try:
            await self.app(scope, recording, send)
        finally:
            route = str(getattr(scope.get("route"), "path", scope["path"]))
            query = scope.get("query_string", b"").decode()
            self.seen.append((scope["method"], route, query, body.decode()))


@cache
def known(route: str) -> frozenset[str]:
    return frozenset(derive.paths(derive.params_class(derive.ROUTES[route])))


def unknown_names(route: str, raw: str) -> list[str]:
    """The names in a form or query that the route's params type does not know."""
    allowed, bad = known(route), []
    for name, _ in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = name.partition("[")
        path = head
        ok = path in allowed
        for segment in _SEGMENT.findall("[" + rest) if rest else []:
            if not ok or path + derive.FREE in allowed:
                break
            path += "[]" if segment == "" or segment.isdigit() else f"[{segment}]"
            ok = path in allowed
        if not ok:
            bad.append(name)
    return bad


def nonconforming(seen: list[tuple[str, str, str, str]]) -> list[str]:
    """`METHOD /route: name` for each name the route's params type does not know, once."""
    problems: list[str] = []
    for method, route, query, body in seen:
        if route.startswith("/_sim/"):
            continue  # the simulator's own routes, not Stripe's
        key = f"{method} {route}"
        if key not in derive.ROUTES:
            problems.append(f"{key}: no stripe params type is mapped for this route")
            continue
        problems += [f"{key}: {name}" for name in unknown_names(key, query + "&" + body)]
    return sorted(set(problems))


def test_the_judge_knows_endive_and_refuses_what_it_removed() -> None:
    assert stripe.VERSION == "16.1.0" and stripe.api_version == "2026-10-28.endive"
    create = "POST /v1/payment_intents"
    assert unknown_names(create, "amount=1&metadata[a]=b&expand[0]=latest_charge") == []
    assert unknown_names(create, "automatic_payment_methods[allow_redirects]=never") == []
    assert unknown_names(create, "payment_method_types[0]=card") == ["payment_method_types[0]"]
    assert unknown_names(create, "automatic_payment_methods[bogus]=1") == [
        "automatic_payment_methods[bogus]"
    ]
    subscribe = "POST /v1/subscriptions"
    assert unknown_names(subscribe, "items[0][price]=p&items[0][metadata][k]=v") == []
    assert unknown_names(subscribe, "items[0][prize]=p") == ["items[0][prize]"]
    assert unknown_names("GET /v1/refunds", "created[gte]=1&limit=3") == []


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Simulator, Recorder]]:
    sim = Simulator(tmp_path / "stripe.sqlite", dialect="stripe", time_scale=0.01)
    recorder = Recorder(sim.app)
    sim.app = recorder  # type: ignore[assignment]
    sim.start()
    yield sim, recorder
    sim.stop()


def test_every_parameter_of_the_built_in_stripe_plans_is_one_stripe_knows(
    tmp_path: Path, recorded: tuple[Simulator, Recorder]
) -> None:
    sim, recorder = recorded
    env = {
        "STRIPE_API_BASE": f"http://127.0.0.1:{sim.port}",
        "STRIPE_SECRET_KEY": sim.keys.test_secret,
        "STRIPE_WEBHOOK_SECRET": sim.keys.webhook_secret,
    }
    outs = []
    for plan, *args in RUNS:
        ran = cli("run", str(PLANS / plan), *args, state=tmp_path / "_".join(plan), env=env)
        outs.append((plan, ran.returncode, ran.stdout + ran.stderr))
    beyond_the_plans(sim)
    assert nonconforming(recorder.seen) == []
    for plan, code, out in outs:
        assert code == 0, f"{plan}:\n{out}"
    routes = {f"{m} {r}" for m, r, _, _ in recorder.seen}
    reached = {"POST /v1/payment_intents", "POST /v1/refunds", "POST /v1/subscriptions"}
    reached |= {"GET /v1/events", "POST /v1/webhook_endpoints", "GET /v1/webhook_endpoints"}
    assert reached <= routes  # the runs did reach the money, events and webhook routes


def beyond_the_plans(sim: Simulator) -> None:
    """What a run against real Stripe sends and a run on the simulator does not (the
    simulator's webhooks are registered through its `/_sim` routes): the webhook endpoint's
    life, and the lookups of a call whose answer was lost."""
    adapter = adapter_for(sim)
    try:
        url = "https://example.com/hooks/rehearsal"
        assert adapter.existing_webhook(url) is None
        endpoint = adapter.register_webhook(url, ["payment.succeeded", "payment.failed"])
        prior = adapter.existing_webhook(url)
        adapter.register_webhook(url, ["payment.succeeded"], existing=prior)
        assert adapter.find_webhook(url) == endpoint
        adapter.restore_webhook(endpoint, prior)
        adapter.remove_webhook(endpoint)
        lost = step_key("20261208-031800-" + "a" * 20, "lost")
        assert adapter.find_by_idempotency_key("payment", lost) is None
        assert adapter.find_by_idempotency_key("refund", lost) is None
        with contextlib.suppress(KeyLookupUnsupported):  # no test clock of that name
            adapter.find_by_idempotency_key("subscription", lost)
    finally:
        adapter.close()
