"""PayMongo: the Provider protocol over PayMongo's JSON:API (api.paymongo.com/v1).

Its declaration: what target.py needs before the adapter (and httpx) is imported.
"""

from rehearsal.providers.declaration import KeyVariable, ProviderDeclaration
from rehearsal.providers.paymongo.contract import (
    API_BASE,
    NORMALIZED_EVENT,
    PROVIDER_EVENTS,
    PUBLIC_KEY_PREFIX,
    SECRET_KEY_PREFIX,
)

DECLARATION = ProviderDeclaration(
    name="paymongo",
    adapter="rehearsal.providers.paymongo.adapter:from_config",
    secret_key=KeyVariable("PAYMONGO_SECRET_KEY", SECRET_KEY_PREFIX),
    # Not needed by the adapter, but a live public key beside a test secret key is a
    # mixed-up environment: checked when set.
    other_keys=(KeyVariable("PAYMONGO_PUBLIC_KEY", PUBLIC_KEY_PREFIX),),
    api_base_variable="PAYMONGO_API_BASE",  # points at a standalone simulator
    default_api_base=API_BASE,
    webhook_secret_variable="PAYMONGO_WEBHOOK_SECRET",
    # Each run registers its webhook through the API and gets the secret back.
    webhook_secret_from_registration=True,
    key_lookup=False,  # no lookup by Idempotency-Key: cleanup --replay learns an outcome
    events=tuple(PROVIDER_EVENTS),  # the transitions PayMongo's own events are mapped onto
    native_events={**NORMALIZED_EVENT, "subscription.updated": "subscription.cancelled"},
    test_clocks=True,
)
