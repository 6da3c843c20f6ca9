"""The built-in simulator: a real local HTTP server that speaks each provider's API, keeps
books in SQLite and sends signed webhooks. Written from the providers' documentation; it
imports nothing of `rehearsal.providers` (tests/test_architecture.py).
"""
