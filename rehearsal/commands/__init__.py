"""One module per CLI command; each function builds the objects and returns an exit code."""
