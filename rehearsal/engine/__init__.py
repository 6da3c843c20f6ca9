"""The engine: the step loop, each step kind's handler, verdicts and live-mode guards."""
