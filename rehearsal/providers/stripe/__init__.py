"""Stripe: the Provider protocol over Stripe's API (api.stripe.com/v1), test mode only.

Its declaration: what target.py needs before the adapter (and httpx) is imported.
"""

from rehearsal.providers.declaration import KeyVariable, LiveRefusal, ProviderDeclaration
from rehearsal.providers.stripe.contract import (
    API_BASE,
    EVENT_TYPES,
    NATIVE_EVENTS,
    RESTRICTED_KEY_PREFIX,
    SECRET_KEY_PREFIX,
)

DECLARATION = ProviderDeclaration(
    name="stripe",
    adapter="rehearsal.providers.stripe.adapter:from_config",
    secret_key=KeyVariable("STRIPE_SECRET_KEY", SECRET_KEY_PREFIX, also=RESTRICTED_KEY_PREFIX),
    api_base_variable="STRIPE_API_BASE",  # points at a standalone simulator
    default_api_base=API_BASE,
    webhook_secret_variable="STRIPE_WEBHOOK_SECRET",
    # Each run creates its webhook endpoint through the API and gets its secret back.
    webhook_secret_from_registration=True,
    # Lost answers are found through list calls and the metadata on every object
    # (providers/stripe/lookup.py); where no list can tell, the outcome stays unknown.
    key_lookup=True,
    events=EVENT_TYPES,
    native_events=NATIVE_EVENTS,
    live_refused=LiveRefusal(
        reason="Stripe's own terms: \"The Stripe Services Agreement prohibits testing in "
        'live mode using real payment method details" (https://stripe.com/testing)',
        instead="rehearse in a Stripe sandbox or test mode (sk_test_… key): "
        "https://docs.stripe.com/sandboxes",
    ),
    events_api=True,
    test_clocks=True,
)
