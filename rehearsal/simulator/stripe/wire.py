"""What the Stripe dialect's routes share: form bodies in bracket notation, Stripe's error
shape, Bearer authentication, parameter coercion, list pages and `expand[]`.

Written from Stripe's documentation and its Python library, never from our adapter:
requests are `application/x-www-form-urlencoded` with nested keys (`metadata[k]=v`,
`items[0][price]=p`, `expand[]=x`) as stripe-python's `_api_encode` writes them
(stripe/stripe-python:stripe/_encode.py); errors are `{"error": {type, code, message, param,
decline_code, ...}}` with the statuses of https://docs.stripe.com/api/errors; lists are
`{"object": "list", "data", "has_more", "url"}` paged by `starting_after`/`ending_before`
and `limit` 1..100 (https://docs.stripe.com/api/pagination).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from rehearsal.simulator.books import Books, Row

# (request, environment, params) -> (status, body). Params are the decoded form or query.
Handler = Callable[[Request, str, Row], tuple[int, Row]]
MAX_BODY = 256 * 1024
_SEGMENT = re.compile(r"\[([^\]]*)\]")


class StripeError(Exception):
    """A refusal in Stripe's shape. `extra` adds members such as `payment_intent`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: Row | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.code, self.param, self.decline_code = code, param, decline_code
        self.extra = extra or {}

    def body(self) -> Row:
        error: Row = {"type": self.kind, "message": self.message}
        for name in ("code", "param", "decline_code"):
            if getattr(self, name) is not None:
                error[name] = getattr(self, name)
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        return {"error": {**error, **self.extra}}


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's answer for an unknown id: 404 `resource_missing`."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def new_request_id() -> str:
    return "req_" + secrets.token_urlsafe(10).replace("-", "x").replace("_", "y")


def authenticate(books: Books, request: Request) -> str:
    """The environment ("test" or "live") of the request's secret key. Stripe takes the key
    as a Bearer token (what stripe-python sends) or as Basic auth's user name (curl -u)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    key = ""
    if scheme == "Bearer":
        key = value.strip()
    elif scheme == "Basic":
        try:
            key = base64.b64decode(value, validate=True).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    env = books.environment_for_key(key)
    if env is None:  # the key itself is never echoed, not even masked
        raise StripeError(401, "Invalid API Key provided.", code="api_key_invalid")
    return env


# --- form decoding ---------------------------------------------------------------------------


def decode_form(raw: str) -> Row:
    """`a[b][0][c]=v&e[]=x` -> {"a": {"b": [{"c": "v"}]}, "e": ["x"]}. Values stay strings;
    indexed arrays become lists in index order; `[]` appends."""
    root: Row = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head, *_SEGMENT.findall("[" + rest)] if rest else [head]
        _put(root, path, value, key)
    decoded: Row = _listify(root)
    return decoded


def _put(node: Row, path: list[str], value: str, key: str) -> None:
    *parents, last = path
    for i, name in enumerate(parents):
        appends = path[i + 1] == ""
        child = node.setdefault(name, [] if appends else {}) if name else None
        if appends and isinstance(child, list) and i + 2 == len(path):
            child.append(value)
            return
        if appends or not isinstance(child, dict):
            raise StripeError(400, f"Invalid parameter: {key}", param=key)
        node = child
    if not last:
        raise StripeError(400, f"Invalid parameter: {key}", param=key)
    node[last] = value


def _listify(node: Any) -> Any:
    if isinstance(node, list):
        return [_listify(v) for v in node]
    if not isinstance(node, dict):
        return node
    fixed = {k: _listify(v) for k, v in node.items()}
    if fixed and all(k.isdigit() for k in fixed):
        return [fixed[k] for k in sorted(fixed, key=int)]
    return fixed


async def read_params(request: Request) -> Row:
    """The query string, merged with a form body on POST (Stripe reads both)."""
    params = decode_form(request.url.query)
    if request.method == "POST":
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise StripeError(413, "The request body is too large.")
        try:
            params.update(decode_form(raw.decode()))
        except UnicodeDecodeError:
            raise StripeError(400, "The request body is not valid form data.") from None
    return params


# --- coercion ------------------------------------------------------------------------------


def as_int(params: Row, name: str, *, required: bool = False, minimum: int = 0) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise StripeError(
                400, f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise StripeError(400, f"Invalid integer: {value}", param=name) from None
    if number < minimum:
        raise StripeError(400, f"Invalid {name}: must be at least {minimum}", param=name)
    return number


def as_str(params: Row, name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise StripeError(
                400, f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
        return None
    if not isinstance(value, str):
        raise StripeError(400, f"Invalid string: {name}", param=name)
    return value


def as_bool(params: Row, name: str) -> bool:
    value = params.get(name)
    if value in (None, "", "false"):
        return False
    if value == "true":
        return True
    raise StripeError(400, f"Invalid boolean: {value}", param=name)


def metadata(params: Row, old: Row | None = None) -> Row:
    """Stripe's metadata: string keys and values; an empty value unsets its key."""
    merged = dict(old or {})
    given = params.get("metadata")
    if given in (None, ""):
        return merged
    if not isinstance(given, dict):
        raise StripeError(400, "Invalid metadata: must be a hash", param="metadata")
    for k, v in given.items():
        if not isinstance(v, str):
            raise StripeError(400, f"Invalid metadata[{k}]", param=f"metadata[{k}]")
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    if len(merged) > 50:
        raise StripeError(400, "Metadata can have at most 50 keys.", param="metadata")
    return merged


def expand_paths(params: Row) -> list[str]:
    value = params.get("expand") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StripeError(400, "Invalid expand: must be an array of strings", param="expand")
    return list(value)


def expand(obj: Row, paths: list[str], lookup: Callable[[str], Row | None]) -> Row:
    """Replace the ids at `paths` (dotted, `data.` for a list's items) with their objects."""
    for path in paths:
        _expand_one(obj, path.split("."), lookup)
    return obj


def _expand_one(obj: object, parts: list[str], lookup: Callable[[str], Row | None]) -> None:
    if not isinstance(obj, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    value = obj.get(head)
    if head == "data" and isinstance(value, list):
        for item in value:
            _expand_one(item, rest, lookup)
        return
    if isinstance(value, str) and (found := lookup(value)) is not None:
        obj[head] = value = found
    _expand_one(value, rest, lookup)


def page(rows: list[Row], params: Row, url: str) -> Row:
    """One page of `rows` (newest first) after `starting_after` or before `ending_before`."""
    limit = as_int(params, "limit") or 10
    if not 1 <= limit <= 100:
        raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
    ids = [r["id"] for r in rows]
    after, before = as_str(params, "starting_after"), as_str(params, "ending_before")
    if after is not None:
        if after not in ids:
            raise missing("object", after, "starting_after")
        rows = rows[ids.index(after) + 1 :]
        return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}
    if before is not None:
        if before not in ids:
            raise missing("object", before, "ending_before")
        rows = rows[: ids.index(before)]
        chosen = rows[-limit:]
        return {"object": "list", "data": chosen, "has_more": len(rows) > limit, "url": url}
    return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}


def public(value: Any) -> Any:
    """`value` without the simulator's own members (names starting with `_`)."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
