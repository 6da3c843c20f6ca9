"""The one exception hierarchy, each class with its exit code.

A user sees `message` (what went wrong) and `hint` (what to do); the CLI maps the class to
the exit code. Messages never carry secrets: callers pass ids, paths and field names only.

    RehearsalError
    ├── AssertionFailed   1  a transition did not happen as the plan expects
    ├── UsageError        2  bad command line or environment
    │   └── PlanError     2  a plan file that does not validate (file, line, field)
    ├── ProviderError     3  the provider or the network failed us
    ├── SafetyRefusal     4  a guard refused to move money
    └── Interrupted     130  Ctrl-C, SIGTERM or SIGHUP
"""

from __future__ import annotations


class RehearsalError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class AssertionFailed(RehearsalError):
    exit_code = 1


class UsageError(RehearsalError):
    exit_code = 2


class PlanError(UsageError):
    def __init__(self, path: str, problems: list[tuple[int | None, str, str]]) -> None:
        """`problems` holds (line, field path, what was expected)."""
        self.path = path
        self.problems = problems
        lines = []
        for line, field, expected in problems:
            where = f"{path}:{line}" if line else path
            lines.append(f"{where}: {field}: {expected}" if field else f"{where}: {expected}")
        super().__init__("invalid plan\n" + "\n".join(lines))


class ProviderError(RehearsalError):
    exit_code = 3

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code
        self.request_id = request_id
        # Set by a multi-call flow when it fails after it made something (PayMongo's
        # subscribe refused at its first invoice's attach: the subscription exists).
        self.made: str | None = None


class SafetyRefusal(RehearsalError):
    exit_code = 4


class Interrupted(RehearsalError):
    exit_code = 130
