"""The webhook receiver: the endpoint, the router for many runs, batch commits and the events
feed.
"""
