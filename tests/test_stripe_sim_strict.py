"""The Stripe dialect refuses a parameter Stripe does not know, as Stripe does: 400
`invalid_request_error`, `parameter_unknown`, `param` the name. What each route knows is
`rehearsal/simulator/stripe/params.py`, derived from stripe-python's request types by
scripts/derive_stripe_params.py; it must be what the installed library derives today."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe
from starlette.routing import Route

from rehearsal.simulator.server import Simulator
from rehearsal.simulator.stripe import params
from scripts import derive_stripe_params as derive
from tests.stripe_sim_support import st, st_sim  # noqa: F401

PAYMENT = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa"}
NO_REDIRECTS = {
    "confirm": "true",
    "automatic_payment_methods[enabled]": "true",
    "automatic_payment_methods[allow_redirects]": "never",
}


def raw(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sim.keys.test_secret}", **kwargs.pop("headers", {})}
    url = f"http://127.0.0.1:{sim.port}{path}"
    return httpx.request(method, url, headers=headers, **kwargs)


def assert_unknown(answer: httpx.Response, name: str) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "parameter_unknown"
    assert error["param"] == name
    assert error["message"] == f"Received unknown parameter: {name}"
    assert error["doc_url"] == "https://stripe.com/docs/error-codes/parameter-unknown"
    assert answer.headers["Request-Id"].startswith("req_")


def test_the_params_file_is_what_the_installed_stripe_library_derives() -> None:
    assert derive.OUT.read_text() == derive.render(), "run scripts/derive_stripe_params.py"
    assert f"stripe=={stripe.VERSION}" == params.SOURCE
    assert params.API_VERSION == stripe.api_version == "2026-10-28.endive"


def test_every_route_the_dialect_serves_has_its_parameters(st_sim: Simulator) -> None:  # noqa: F811
    served = {
        f"{method} {route.path}"
        for route in st_sim.app.routes
        if isinstance(route, Route) and route.path.startswith("/v1/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served == set(params.ALLOWED) == set(derive.ROUTES)


def test_an_unknown_parameter_is_refused_on_a_post_and_on_a_get(st_sim: Simulator) -> None:  # noqa: F811
    answer = raw(st_sim, "POST", "/v1/payment_intents", data={**PAYMENT, "bogus_param": "1"})
    assert_unknown(answer, "bogus_param")
    assert_unknown(raw(st_sim, "GET", "/v1/refunds", params={"bogus_param": "1"}), "bogus_param")
    assert_unknown(raw(st_sim, "GET", "/v1/events?limit=3&bogus_param=1"), "bogus_param")
    # a parameter endive retired is unknown like any other
    retired = {**PAYMENT, **NO_REDIRECTS, "payment_method_types[0]": "card"}
    answer = raw(st_sim, "POST", "/v1/payment_intents", data=retired)
    assert_unknown(answer, "payment_method_types")
    assert st_sim.books.summary()["payments"] == []  # nothing charged


def test_nested_keys_are_checked_and_free_hashes_are_not(st_sim: Simulator) -> None:  # noqa: F811
    nested = {**PAYMENT, **NO_REDIRECTS, "automatic_payment_methods[bogus]": "1"}
    answer = raw(st_sim, "POST", "/v1/payment_intents", data=nested)
    assert_unknown(answer, "automatic_payment_methods[bogus]")
    items = {"customer": "cus_x", "items[0][price]": "price_x", "items[0][bogus]": "1"}
    assert_unknown(raw(st_sim, "POST", "/v1/subscriptions", data=items), "items[0][bogus]")
    free = {**PAYMENT, **NO_REDIRECTS, "metadata[anything_at_all]": "v", "expand[0]": "customer"}
    answer = raw(st_sim, "POST", "/v1/payment_intents", data=free)
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata"] == {"anything_at_all": "v"}


def test_a_refused_parameter_saves_nothing_under_its_idempotency_key(
    st_sim: Simulator,  # noqa: F811
) -> None:
    key = {"Idempotency-Key": "rehearsal-strict-1"}
    bad = raw(
        st_sim,
        "POST",
        "/v1/payment_intents",
        data={**PAYMENT, **NO_REDIRECTS, "x": "1"},
        headers=key,
    )
    assert_unknown(bad, "x")
    good = raw(st_sim, "POST", "/v1/payment_intents", data={**PAYMENT, **NO_REDIRECTS}, headers=key)
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers


def test_stripes_own_client_raises_invalid_request_error_with_the_param(
    st: stripe.StripeClient,  # noqa: F811
) -> None:
    create: Any = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "bogus_param": 1,
    }
    with pytest.raises(stripe.InvalidRequestError) as caught:
        st.v1.payment_intents.create(params=create)
    assert caught.value.http_status == 400
    assert caught.value.code == "parameter_unknown"
    assert caught.value.param == "bogus_param"
    assert caught.value.user_message is None or "bogus_param" in str(caught.value)
    with pytest.raises(stripe.InvalidRequestError) as listed:
        st.v1.refunds.list(params={"bogus_param": "1"})  # type: ignore[arg-type]
    assert listed.value.param == "bogus_param"
    del create["bogus_param"]
    assert st.v1.payment_intents.create(params=create).status == "succeeded"
