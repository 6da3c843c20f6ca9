"""Stripe's request bodies and query strings: form encoding with bracket notation.

Stripe's API takes `application/x-www-form-urlencoded` bodies, nested fields written
`metadata[rehearsal_run]=…`, list items `items[0][price]=…` (https://docs.stripe.com/api,
"Request body"; stripe-python `stripe/_encode.py` and `_api_requestor.py` encode lists with
their index, as here). Booleans are `true`/`false`; None leaves a field out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from rehearsal.providers.jsonwire import JSONObject


def encode(params: JSONObject) -> dict[str, str]:
    """`{"a": {"b": 1}, "c": [True]}` -> `{"a[b]": "1", "c[0]": "true"}`."""
    out: dict[str, str] = {}
    for key, value in params.items():
        _flatten(str(key), value, out)
    return out


def query(path: str, params: JSONObject) -> str:
    """`path?…` with `params` encoded as Stripe's list calls take them."""
    flat = encode(params)
    return f"{path}?{urlencode(flat)}" if flat else path


def _flatten(key: str, value: object, out: dict[str, str]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub, item in value.items():
            _flatten(f"{key}[{sub}]", item, out)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index, item in enumerate(value):
            _flatten(f"{key}[{index}]", item, out)
    elif isinstance(value, bool):
        out[key] = "true" if value else "false"
    else:
        out[key] = str(value)
