"""MintCash: the provider of the go-live runbook (seed 002). See docs/providers/mintcash.md."""
