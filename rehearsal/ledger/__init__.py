"""The ledger: the state database (db, schema, connection, runs, deliveries, compensations),
its typed rows and states, group commit, the run lock, the settle engine (settle, lookup,
waits, registrations) and where a run's money stands (totals).
"""
