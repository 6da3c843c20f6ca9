"""Derive `rehearsal/simulator/stripe/params.py`, the request parameters the Stripe dialect
accepts per route, from stripe-python's published request types (`stripe/params/*`).

    .venv/bin/python scripts/derive_stripe_params.py          # rewrite the file
    .venv/bin/python scripts/derive_stripe_params.py --check  # exit 1 if it is stale

Only the routes the dialect serves (ROUTES). A route's parameters are bracket paths:
`amount`, `automatic_payment_methods[enabled]`, `expand[]` (a list's items), `items[][price]`,
and `metadata[*]` (any key: a free hash, or a level deeper than DEPTH). The simulator must
not import stripe (a dev dependency only), hence a generated file; the conformance test
(tests/test_stripe_request_params.py) walks the same types to any depth with `paths`.
"""

from __future__ import annotations

import importlib
import sys
import types
import typing
from pathlib import Path

import stripe
import typing_extensions
from stripe._request_options import RequestOptions

OUT = Path(__file__).resolve().parents[1] / "rehearsal" / "simulator" / "stripe" / "params.py"
DEPTH = 2  # the top-level names and one level of their hashes; deeper is free in the file
FREE = "[*]"

# "METHOD /path" as the dialect's routes spell it -> the params class in stripe.params.
ROUTES: dict[str, str] = {
    "POST /v1/payment_intents": "PaymentIntentCreateParams",
    "GET /v1/payment_intents": "PaymentIntentListParams",
    "GET /v1/payment_intents/{id}": "PaymentIntentRetrieveParams",
    "POST /v1/payment_intents/{id}/confirm": "PaymentIntentConfirmParams",
    "POST /v1/payment_intents/{id}/cancel": "PaymentIntentCancelParams",
    "GET /v1/payment_methods/{id}": "PaymentMethodRetrieveParams",
    "POST /v1/payment_methods/{id}/attach": "PaymentMethodAttachParams",
    "GET /v1/charges": "ChargeListParams",
    "GET /v1/charges/{id}": "ChargeRetrieveParams",
    "POST /v1/refunds": "RefundCreateParams",
    "GET /v1/refunds": "RefundListParams",
    "GET /v1/refunds/{id}": "RefundRetrieveParams",
    "POST /v1/customers": "CustomerCreateParams",
    "GET /v1/customers": "CustomerListParams",
    "GET /v1/customers/{id}": "CustomerRetrieveParams",
    "POST /v1/customers/{id}": "CustomerUpdateParams",
    "DELETE /v1/customers/{id}": "CustomerDeleteParams",
    "POST /v1/products": "ProductCreateParams",
    "GET /v1/products/{id}": "ProductRetrieveParams",
    "POST /v1/prices": "PriceCreateParams",
    "GET /v1/prices/{id}": "PriceRetrieveParams",
    "POST /v1/subscriptions": "SubscriptionCreateParams",
    "GET /v1/subscriptions": "SubscriptionListParams",
    "GET /v1/subscriptions/{id}": "SubscriptionRetrieveParams",
    "DELETE /v1/subscriptions/{id}": "SubscriptionCancelParams",
    "GET /v1/invoices": "InvoiceListParams",
    "GET /v1/invoices/{id}": "InvoiceRetrieveParams",
    "POST /v1/test_helpers/test_clocks": "test_helpers.TestClockCreateParams",
    "GET /v1/test_helpers/test_clocks": "test_helpers.TestClockListParams",
    "GET /v1/test_helpers/test_clocks/{id}": "test_helpers.TestClockRetrieveParams",
    "DELETE /v1/test_helpers/test_clocks/{id}": "test_helpers.TestClockDeleteParams",
    "POST /v1/test_helpers/test_clocks/{id}/advance": "test_helpers.TestClockAdvanceParams",
    "POST /v1/webhook_endpoints": "WebhookEndpointCreateParams",
    "GET /v1/webhook_endpoints": "WebhookEndpointListParams",
    "GET /v1/webhook_endpoints/{id}": "WebhookEndpointRetrieveParams",
    "POST /v1/webhook_endpoints/{id}": "WebhookEndpointUpdateParams",
    "DELETE /v1/webhook_endpoints/{id}": "WebhookEndpointDeleteParams",
    "GET /v1/events": "EventListParams",
    "GET /v1/events/{id}": "EventRetrieveParams",
}

_OPTIONS = set(RequestOptions.__annotations__)  # api_key, idempotency_key...: not params


def params_class(name: str) -> type:
    module, _, cls = name.rpartition(".")
    package = "stripe.params" + (f".{module}" if module else "")
    found: type = getattr(importlib.import_module(package), cls)
    return found


def _hints(cls: type) -> dict[str, object]:
    module = sys.modules[cls.__module__]
    # RequestOptions's own names, imported only under TYPE_CHECKING in its module
    localns = {"StripeContext": object, "Mapping": typing.Mapping}
    hints = typing.get_type_hints(cls, vars(module), localns)
    return {k: v for k, v in hints.items() if k not in _OPTIONS}


def _walk(tp: object, path: str, depth: int | None, seen: tuple[type, ...], out: set[str]) -> None:
    """Add the paths under `path` (already added) for type `tp`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            _walk(arg, path, depth, seen, out)
    elif origin in (list, typing.List):  # noqa: UP006 (what the library writes)
        out.add(path + "[]")
        for arg in typing.get_args(tp):
            _walk(arg, path + "[]", depth, seen, out)
    elif origin in (dict, typing.Dict):  # noqa: UP006
        out.add(path + FREE)
    elif isinstance(tp, type) and typing_extensions.is_typeddict(tp):
        if (depth is not None and depth <= 0) or tp in seen:
            out.add(path + FREE)
            return
        for name, sub in _hints(tp).items():
            out.add(f"{path}[{name}]")
            _walk(sub, f"{path}[{name}]", None if depth is None else depth - 1, (*seen, tp), out)


def paths(cls: type, depth: int | None = None) -> set[str]:
    """Every parameter path of a params class: to any depth, or `depth` levels of hashes."""
    out: set[str] = set()
    for name, tp in _hints(cls).items():
        out.add(name)
        _walk(tp, name, None if depth is None else depth - 1, (cls,), out)
    return out


def render() -> str:
    lines = [
        '"""The request parameters the Stripe dialect accepts, per route. GENERATED by',
        "scripts/derive_stripe_params.py from stripe-python's `stripe/params/*` request types:",
        "do not edit by hand; tests/test_stripe_request_params.py checks it is up to date.",
        "",
        f"Source: the PyPI package `stripe` {stripe.VERSION}, API version {stripe.api_version}.",
        "Paths in bracket notation: `a[b]` a hash's key, `a[]` a list's items, `a[*]` any key",
        f"(a free hash, or deeper than the {DEPTH} levels kept here).",
        '"""',
        "",
        "# ruff: noqa: E501",
        "",
        f'SOURCE = "stripe=={stripe.VERSION}"',
        f'API_VERSION = "{stripe.api_version}"',
        "",
        "# fmt: off",
        "ALLOWED: dict[str, frozenset[str]] = {",
    ]
    for route, name in ROUTES.items():
        names = ", ".join(f'"{p}"' for p in sorted(paths(params_class(name), DEPTH)))
        lines.append(f'    "{route}": frozenset([{names}]),')
    lines += ["}", "# fmt: on"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run scripts/derive_stripe_params.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
