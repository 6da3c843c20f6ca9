"""A run's session: the target, the simulator child and control client, and many rehearsals at
once.
"""
