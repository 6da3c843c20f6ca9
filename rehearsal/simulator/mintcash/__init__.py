"""The simulator's MintCash dialect, written from the MintCash runbook (seed 002)."""
