"""What a target is configured with, read from the environment per each provider's
declaration: the API base, the keys, the webhook secrets (several during a rotation) and
the HTTP timeout. Secrets are read here and handed to the adapter; they are never printed,
stored or put in a message: messages name the variable, never its value.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rehearsal.errors import SafetyRefusal, UsageError

if TYPE_CHECKING:
    from rehearsal.providers.declaration import ProviderDeclaration


HTTP_TIMEOUT_ENV = "REHEARSAL_HTTP_TIMEOUT"
DEFAULT_HTTP_TIMEOUT = 15.0  # seconds, per HTTP call to the provider


@dataclass(frozen=True)
class TargetConfig:
    provider: str
    api_base: str
    secret_key: str = field(repr=False)
    webhook_secrets: list[str] = field(repr=False)
    environment: Literal["test", "live"]
    backoff: float = 0.25
    http_timeout: float = DEFAULT_HTTP_TIMEOUT


def http_timeout_from_env() -> float:
    """REHEARSAL_HTTP_TIMEOUT: seconds each HTTP call to a remote or standalone provider may
    take (default 15). A finite number greater than 0; anything else is a usage error."""
    raw = os.environ.get(HTTP_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_HTTP_TIMEOUT
    expected = "a number of seconds greater than 0, such as 15 or 2.5"
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(
            f"{HTTP_TIMEOUT_ENV} is not a number", hint=f"expected {expected}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(
            f"{HTTP_TIMEOUT_ENV} must be finite and greater than 0", hint=f"expected {expected}"
        )
    return value


def parse_webhook_secrets(variable: str, value: str) -> list[str]:
    """A webhook secret variable's comma-separated entries (several during a rotation),
    each trimmed. An unset variable is no secret; an empty entry (`whsec_a,`, as a CI
    template with an unset variable writes) is refused: it would be an empty HMAC key,
    which anyone can sign with. Messages give the position, never a secret."""
    if not value:
        return []
    entries = [entry.strip() for entry in value.split(",")]
    hint = (
        f"set {variable} to the webhook secret, or to several separated by commas while "
        "rotating; remove the stray comma or fill in the missing secret"
    )
    if not any(entries):
        raise UsageError(
            f"{variable} is set but holds no secret (only commas or spaces)", hint=hint
        )
    for position, entry in enumerate(entries, start=1):
        if not entry:
            raise UsageError(
                f"{variable} has an empty entry at position {position} of {len(entries)}",
                hint=hint,
            )
    return entries


def check_key_modes(declared: ProviderDeclaration, environment: str) -> None:
    """Every key the provider declares, where set, must be of this mode: an unknown prefix
    is a usage error (exit 2), a key of the other mode a safety refusal (exit 4). Messages
    name the variable, never the key."""
    for key in declared.keys:
        value = os.environ.get(key.variable, "")
        if not value and key is not declared.secret_key:
            continue  # an optional key, not set
        key_env = key.mode_of(value)
        if key_env is None:
            raise UsageError(
                f"{key.variable} has an unknown prefix", hint=f"expected {key.expected()}"
            )
        if key_env != environment:
            raise SafetyRefusal(
                f"{key.variable} is a {key_env} key, in {environment} mode",
                hint="test keys only in test mode; live keys only with --live",
            )
