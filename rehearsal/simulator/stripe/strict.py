"""Stripe refuses a parameter it does not know: 400 `invalid_request_error`, code
`parameter_unknown`, `param` the name in bracket notation, message "Received unknown
parameter: <name>" (docs/providers/stripe.md says where that comes from).

What each route knows is `params.ALLOWED`, generated from stripe-python's request types by
scripts/derive_stripe_params.py (the simulator never imports stripe). Top-level names and
one level of their hashes are checked; deeper levels and free hashes (`metadata`) are not.
"""

from __future__ import annotations

from starlette.requests import Request

from rehearsal.simulator.books import Row
from rehearsal.simulator.stripe.params import ALLOWED
from rehearsal.simulator.stripe.wire import StripeError, read_params

FREE = "[*]"


def route_key(request: Request) -> str | None:
    """`METHOD /path/{id}` of the route that matched, as `params.ALLOWED` names it."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return f"{request.method} {path}" if isinstance(path, str) else None


async def read_known_params(request: Request) -> Row:
    """The request's parameters (`wire.read_params`), refused if the route does not know
    one. The dialect reads them before an idempotency key is claimed: nothing is saved."""
    params = await read_params(request)
    refuse_unknown(request, params)
    return params


def refuse_unknown(request: Request, params: Row) -> None:
    """Raise Stripe's `parameter_unknown` for the first parameter the route does not know.
    A route missing from `params.ALLOWED` (the simulator's own) is not checked."""
    key = route_key(request)
    allowed = ALLOWED.get(key) if key else None
    if allowed is None:
        return
    for name, value in params.items():
        _check(allowed, name, value, name)


def unknown(name: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )


def _check(allowed: frozenset[str], path: str, value: object, shown: str) -> None:
    """`path` is the value's place in `allowed` (`[]` for a list's items), `shown` its
    name as sent (with the items' indexes)."""
    if path not in allowed:
        raise unknown(shown)
    if path + FREE in allowed:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check(allowed, f"{path}[{k}]", v, f"{shown}[{k}]")
    elif isinstance(value, list):
        if path + "[]" not in allowed:
            raise unknown(f"{shown}[0]")
        for i, item in enumerate(value):
            _check(allowed, path + "[]", item, f"{shown}[{i}]")
