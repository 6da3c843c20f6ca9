"""Plans: the rehearsal as data (models, loading with lines, matrices), validated before anything
runs.
"""
