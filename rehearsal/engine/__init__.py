"""The engine: the step loop and verdicts (runner), each step kind's handler (actions/), the
confirmation of a transition (confirm, checks), crash failpoints and live-mode guards."""
