"""Reports of a run, rendered from the state database (so any stored run can be rendered)."""
