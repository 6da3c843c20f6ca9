"""MintCash: the provider of the go-live runbook (seed 002). See docs/providers/mintcash.md.

Its declaration: what target.py needs before the adapter (and httpx) is imported.
"""

from rehearsal.providers.declaration import KeyVariable, ProviderDeclaration
from rehearsal.providers.mintcash.contract import EVENT_TYPES, SECRET_KEY_PREFIX

DECLARATION = ProviderDeclaration(
    name="mintcash",
    adapter="rehearsal.providers.mintcash.adapter:from_config",
    secret_key=KeyVariable("MINTCASH_SECRET_KEY", SECRET_KEY_PREFIX),
    api_base_variable="MINTCASH_API_BASE",
    # Registered by hand with the account manager, so the secret comes from the environment.
    webhook_secret_variable="MINTCASH_WEBHOOK_SECRET",
    events=EVENT_TYPES,  # MintCash's names are the rehearsal's
    test_clocks=True,
)
