"""Each provider's declared capabilities (rehearsal/providers/declaration.py) say what its
adapter really does: the run reads the declaration, never probes the adapter, so a
declaration that lied would silently skip an events API, a webhook registration, the
operator's 3-D Secure page or a subscription made before its flow finished."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rehearsal import providers
from rehearsal.providers.base import EventFeed, Provider, WebhookRegistrar
from rehearsal.providers.config import TargetConfig


@pytest.fixture(params=providers.names())
def adapter(request: pytest.FixtureRequest) -> Iterator[Provider]:
    name = request.param
    declared = providers.declaration_of(name)
    key = declared.secret_key.prefixes["test"] + "capabilities"
    made = providers.create(
        name,
        TargetConfig(
            provider=name,
            api_base="http://127.0.0.1:9",  # never called
            secret_key=key,
            webhook_secrets=[],
            environment="test",
        ),
    )
    yield made
    made.close()


def test_the_declaration_says_what_the_adapter_does(adapter: Provider) -> None:
    declared = providers.capabilities(adapter)
    assert declared.events_api == isinstance(adapter, EventFeed)
    assert declared.webhook_secret_from_registration == isinstance(adapter, WebhookRegistrar)
    assert declared.operator_pages == hasattr(adapter, "on_authorize")
    assert declared.makes_before_finish == hasattr(adapter, "on_made")
    assert declared.test_clocks == adapter.can_advance_clock  # in test mode


def test_the_accessors_follow_the_declaration(adapter: Provider) -> None:
    declared = providers.capabilities(adapter)
    assert (providers.event_feed(adapter) is not None) == declared.events_api
    assert (providers.webhook_registrar(adapter) is not None) == (
        declared.webhook_secret_from_registration
    )
    assert (providers.operator_shown(adapter) is not None) == declared.operator_pages
    assert (providers.tells_made(adapter) is not None) == declared.makes_before_finish
