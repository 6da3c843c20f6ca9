"""What the operator sees: terminal views, prompts and the next command to type."""
