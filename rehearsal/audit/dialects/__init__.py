"""The audit as each provider: one module per provider, found by its name in the registry."""
