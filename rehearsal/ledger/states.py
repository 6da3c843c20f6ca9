"""The ledger's vocabulary: step states, money-call outcomes, compensation and webhook
registration states, run verdicts and a live run's standing, as enums mypy can check instead
of string literals spread over modules.

A step's *state* is the rehearsal's verdict on it; a money call's *outcome* is what we know
about the call itself. They are kept apart on purpose: a step can fail while its call's
outcome is still unknown (the answer was lost after the provider did the work), and that
unknown must survive until the settle engine resolves it against the provider's API.
They are StrEnums, so rows store and compare as plain strings.
"""

from __future__ import annotations

from enum import StrEnum

from rehearsal.providers.base import KeyedKind

# A step's confirmed_by when it was skipped as its plan expects (a refund documented as
# unavailable in test mode): written by the engine, read by the reports.
EXPECTED_UNAVAILABLE = "expected-unavailable"


class StepState(StrEnum):
    PENDING = "pending"
    CALLING = "calling"  # its money call was written as an intent and may be in flight
    AWAITING = "awaiting"  # answered; waiting for the webhook and the API's word
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class CallOutcome(StrEnum):
    """What we know of a step's money call, whatever the step's verdict."""

    INTENT = "intent"  # written before the call; no answer recorded: it may have landed
    ANSWERED = "answered"  # the provider's object is recorded (or adopted by its key)
    REFUSED = "refused"  # the provider answered that it made nothing (a 4xx)
    NEVER_MADE = "never-made"  # a lookup by key found nothing after the call could land
    MOOT = "moot"  # a lost refund whose payment is fully refunded: the books are settled


class CompensationState(StrEnum):
    INTENT = "intent"  # written before the refund or cancel was sent
    DONE = "done"  # confirmed through the API
    FAILED = "failed"
    UNAVAILABLE = "unavailable"  # refused as the provider documents (PayMongo test refunds)


class RunVerdict(StrEnum):
    PASSED = "passed"  # every step passed and nothing is left at the provider
    UNSETTLED = "unsettled"  # every step passed, but money or a subscription is left
    FAILED = "failed"  # an assertion failed
    ERROR = "error"  # a provider, usage or safety error
    INTERRUPTED = "interrupted"
    INTERNAL_ERROR = "internal-error"  # a bug of ours: compensated, logged
    PAUSED = "paused"  # not stored: a run paused by `step` has no verdict yet
    CLEANED_UP = "cleaned-up"  # a paused or crashed run that cleanup settled


class RegistrationState(StrEnum):
    """A webhook registration made through a provider's API."""

    LOOKING = "looking"  # listing the provider's webhooks: nothing changed yet
    INTENT = "intent"  # written before the creating call
    ADOPTING = "adopting"  # an existing webhook, its prior state recorded before changing it
    REGISTERED = "registered"
    REMOVED = "removed"  # removed, or given back as it was (or it never landed)


class RunLiveness(StrEnum):
    """A run with no verdict, as its lock shows it (a paused one: RunVerdict.PAUSED)."""

    RUNNING = "running"  # a live process holds its lock
    DIED = "died"  # no process holds it and a step was left in flight


# Money calls whose outcome must be settled: they create what a lookup by key can find.
KEYED_ACTIONS: dict[str, KeyedKind] = {
    "charge": "payment",
    "refund": "refund",
    "subscribe": "subscription",
}

INTERNAL_ERROR_EXIT = 70  # sysexits EX_SOFTWARE: a bug of ours, not the provider's or yours
