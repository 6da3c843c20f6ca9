"""The ledger: the state database, its typed rows and states, group commit, the run lock and
settling.
"""
