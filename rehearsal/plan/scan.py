"""What must never be in a plan file: anything that looks like an API key, a webhook
secret or a card number (a Luhn-valid run of 13 to 19 digits), in any value or key of the
YAML. A finding names its line and field, never the value it found.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rehearsal.plan.model import Problem

if TYPE_CHECKING:
    import yaml

_SECRET_LIKE = re.compile(r"\b(?:sk|rk)_(?:test|live)_\w+|\bwhsec_\w+")
_PAN_IN_TEXT = re.compile(r"(?<![\d-])\d(?:[ \-]?\d){12,18}(?![\d-])")

SECRET = (
    "looks like an API key or webhook secret; secrets come from the environment, never from "
    "plan files"
)
CARD_NUMBER = (
    "card numbers never go in plan files; use a test-card name "
    "(visa, declined, insufficient_funds) or env:VARIABLE"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _has_card_number(text: str) -> bool:
    return any(_luhn(re.sub(r"\D", "", m.group())) for m in _PAN_IN_TEXT.finditer(text))


def secrets(node: yaml.Node, path: str = "") -> list[Problem]:
    """Anything under `node` that looks like a key, a webhook secret or a card number."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        value = str(node.value)
        if _SECRET_LIKE.search(value):
            return [(node.start_mark.line + 1, path, SECRET)]
        if _has_card_number(value):
            return [(node.start_mark.line + 1, path, CARD_NUMBER)]
        return []
    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key_problems = secrets(k, path or "(top level)")
            if key_problems:
                found += [(line, path, f"a key {msg}") for line, _, msg in key_problems]
                continue
            found += secrets(v, f"{path}.{k.value}" if path else str(k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found += secrets(v, f"{path}[{i}]")
    return found
