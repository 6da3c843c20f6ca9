"""Showing the operator a 3-D Secure redirect: the URL, and a QR code to open it on a phone.

PayMongo blocks non-3-D Secure card payments in live mode, and its 3-D Secure test cards
need the redirect page too (https://developers.paymongo.com/docs/card-integration-test-cases).
The adapter then polls the intent until it leaves `awaiting_next_action`. In a run, the
operator service shows it (the view pauses its live table for it); elsewhere it goes to
stderr, so it reaches the terminal whichever view draws on stdout. The URL is the
customer's page, not a credential: it carries no key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rehearsal.operator import Operator


def message(what: str) -> str:
    return (
        f"3-D Secure: {what} waits for the cardholder to authorize it.\n"
        "Open this URL in a browser (or scan the code) and authorize; the run carries on "
        "by itself once it is authorized:"
    )


def render(url: str, what: str) -> str:
    from rehearsal.operator import qr_code

    return f"\n{message(what)}\n{url}\n{qr_code(url)}"


def prompt_operator(url: str, what: str, out: TextIO | None = None) -> None:
    stream = out or sys.stderr
    stream.write(render(url, what))
    stream.flush()


def through(operator: Operator) -> Callable[[str, str], None]:
    """The adapter's `on_authorize`, shown by the run's operator service."""

    def show(url: str, what: str) -> None:
        operator.show_url(url, message(what))

    return show
