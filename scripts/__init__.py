"""Scripts kept in the repository (run from its root: `.venv/bin/python scripts/NAME.py`)."""
