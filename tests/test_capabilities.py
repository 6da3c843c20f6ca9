"""Each provider's declared capabilities (rehearsal/providers/declaration.py) say what its
adapter really does: the run reads the declaration, never probes the adapter, so a
declaration that lied would silently skip an events API or a webhook registration. (What
a flow made before it finished and the operator's 3-D Secure page reach the run through
the observer and the authorizer the adapter is built with: no capability to declare.)"""

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
    assert declared.test_clocks == adapter.can_advance_clock  # in test mode


def test_the_accessors_follow_the_declaration(adapter: Provider) -> None:
    declared = providers.capabilities(adapter)
    assert (providers.event_feed(adapter) is not None) == declared.events_api
    assert (providers.webhook_registrar(adapter) is not None) == (
        declared.webhook_secret_from_registration
    )
