"""Provider registry: names to adapter factories, imported only when used."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from rehearsal.errors import UsageError

if TYPE_CHECKING:
    from rehearsal.providers.base import Provider
    from rehearsal.target import TargetConfig

# name -> "module:factory"; a factory takes a TargetConfig and returns a Provider.
REGISTRY: dict[str, str] = {
    "mintcash": "rehearsal.providers.mintcash.adapter:from_config",
    "paymongo": "rehearsal.providers.paymongo.adapter:from_config",
}


def names() -> list[str]:
    return sorted(REGISTRY)


def require(name: str) -> None:
    """Refuse an unknown provider name with the list of known ones."""
    if name not in REGISTRY:
        raise UsageError(
            f"unknown provider {name!r}", hint=f"known providers: {', '.join(names())}"
        )


def create(name: str, config: TargetConfig) -> Provider:
    require(name)
    module_name, factory = REGISTRY[name].split(":")
    provider: Provider = getattr(import_module(module_name), factory)(config)
    return provider
