"""What an adapter may quote from a provider's error body: one short line, whatever came.

A provider's error body is outside input: a string where an object was documented, a list,
null, HTML from a proxy, megabytes. Adapters quote only scalars from it, through
`one_line`, so an odd body still becomes a one-line ProviderError and never another
exception type (issue 11, item 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

MESSAGE_LIMIT = 200
CODE_LIMIT = 60


def one_line(value: object, limit: int = MESSAGE_LIMIT) -> str:
    """A scalar as one printable line of at most `limit` characters; "" for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_or_none(response: httpx.Response) -> object:
    """The body as JSON, or None when it is not JSON (or too deeply nested to parse)."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
