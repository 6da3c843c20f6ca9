"""Provider registry: names to the packages that declare them, imported only when used.

Each package holds a `DECLARATION` (rehearsal/providers/declaration.py): the variables it
reads, the mode of each key prefix, where its adapter lives. A provider whose package
declares no key modes is refused before anything opens it: a guard that cannot tell a
test key from a live one would fail open. What an adapter can do beyond the Provider
protocol is read from its declaration, through the typed accessors at the end (never a
`hasattr` or `isinstance` probe of the adapter).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, cast

from rehearsal.errors import SafetyRefusal, UsageError

if TYPE_CHECKING:
    from rehearsal.providers.base import (
        Authorize,
        EventFeed,
        Provider,
        ProviderObserver,
        WebhookRegistrar,
    )
    from rehearsal.providers.config import TargetConfig
    from rehearsal.providers.declaration import ProviderDeclaration

# name -> the package whose DECLARATION describes it. Importing a package imports its
# contract and declaration only, never its adapter or httpx.
REGISTRY: dict[str, str] = {
    "mintcash": "rehearsal.providers.mintcash",
    "paymongo": "rehearsal.providers.paymongo",
    "stripe": "rehearsal.providers.stripe",
}


def names() -> list[str]:
    return sorted(REGISTRY)


def require(name: str) -> None:
    """Refuse an unknown provider name with the list of known ones."""
    if name not in REGISTRY:
        raise UsageError(
            f"unknown provider {name!r}", hint=f"known providers: {', '.join(names())}"
        )


def declaration_of(name: str) -> ProviderDeclaration:
    """The provider's declaration; refused (SafetyRefusal) if it is missing or leaves a key
    mode undeclared."""
    from rehearsal.providers.declaration import ProviderDeclaration

    require(name)
    declared = getattr(import_module(REGISTRY[name]), "DECLARATION", None)
    hint = "each provider package declares a test and a live prefix for every key it reads"
    if not isinstance(declared, ProviderDeclaration) or declared.name != name:
        raise SafetyRefusal(
            f"provider {name!r} has no declaration of its key modes; refusing to open it",
            hint=hint,
        )
    if gaps := declared.missing_key_modes():
        raise SafetyRefusal(
            f"provider {name!r} does not declare its key modes ({'; '.join(gaps)}); "
            "refusing to open it",
            hint=hint,
        )
    return declared


def create(name: str, config: TargetConfig) -> Provider:
    """The adapter, observed by no one (a one-off call: `rehearsal tunnel`)."""
    module_name, factory = declaration_of(name).adapter.split(":")
    provider: Provider = getattr(import_module(module_name), factory)(config)
    return provider


def make(
    config: TargetConfig,
    *,
    observer: ProviderObserver | None = None,
    authorize: Authorize | None = None,
) -> Provider:
    """The adapter for `config.provider`, built with the observer of the run it serves
    (told of every call: rehearsal/providers/base.py) and, where a payment may need a
    cardholder at a browser (3-D Secure), how the page is shown (None: the adapter's own
    default). Both are fixed at construction, never assigned afterwards."""
    module_name, factory = declaration_of(config.provider).adapter.split(":")
    built = getattr(import_module(module_name), factory)
    provider: Provider = built(config, observer=observer, authorize=authorize)
    return provider


def env_names(provider: str) -> tuple[str, str, str]:
    """The provider's (API base, secret key, webhook secret) variables, as it declares them."""
    return declaration_of(provider).variables


# --- capabilities, as declared ---------------------------------------------------------------


def capabilities(provider: Provider) -> ProviderDeclaration:
    """What `provider` declares it can do (its package's DECLARATION)."""
    return declaration_of(provider.name)


def event_feed(provider: Provider) -> EventFeed | None:
    """The provider as an events API, where it declares one (events_api); else None."""
    return cast("EventFeed", provider) if capabilities(provider).events_api else None


def webhook_registrar(provider: Provider) -> WebhookRegistrar | None:
    """The provider as a registrar of its own webhooks, where its declaration says its
    webhook secret comes from registering one; else None."""
    declared = capabilities(provider).webhook_secret_from_registration
    return cast("WebhookRegistrar", provider) if declared else None
