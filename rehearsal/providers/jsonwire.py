"""JSON as the adapters send it and as providers answer it, named once.

What an adapter sends it builds itself, so it is typed whole (`JSONObject`: a request body
or query of JSON values). What a provider answers is `Body`: a JSON object as it arrived,
read with `.get` and turned into typed values (ProviderObject, NormalizedEvent,
WebhookState) only by each provider's contract and parse functions, which refuse a body
of the wrong shape; nothing past those functions sees a Body. Nothing here imports httpx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

JSONValue: TypeAlias = (
    "str | int | float | bool | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)
JSONObject: TypeAlias = "Mapping[str, JSONValue]"  # a body or query we send
# A JSON object a provider answered, before its contract's parse functions read it.
Body: TypeAlias = Mapping[str, Any]
