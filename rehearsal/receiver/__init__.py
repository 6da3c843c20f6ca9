"""The webhook receiver: the endpoint, the one judge of a delivery (classify, shared with the
router and `rehearsal tunnel`), the hub the engine waits on, the router for many runs, batch
commits and the events feed. It imports nothing of the engine.
"""
