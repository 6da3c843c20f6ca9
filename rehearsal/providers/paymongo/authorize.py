"""Showing the operator a 3-D Secure redirect: the URL, and a QR code to open it on a phone.

PayMongo blocks non-3-D Secure card payments in live mode, and its 3-D Secure test cards
need the redirect page too (https://developers.paymongo.com/docs/card-integration-test-cases).
The adapter then polls the intent until it leaves `awaiting_next_action`. This writes to
stderr, so it reaches the terminal whichever view draws on stdout. The URL is the
customer's page, not a credential: it carries no key.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO


def render(url: str, what: str) -> str:
    import segno  # only when a payment needs it

    qr = io.StringIO()
    segno.make(url, error="l").terminal(out=qr, compact=True, border=2)
    return (
        f"\n3-D Secure: {what} waits for the cardholder to authorize it.\n"
        f"Open this URL in a browser (or scan the code) and authorize:\n{url}\n"
        f"{qr.getvalue()}"
        "Waiting for the authorization (the run carries on by itself)...\n"
    )


def prompt_operator(url: str, what: str, out: TextIO | None = None) -> None:
    stream = out or sys.stderr
    stream.write(render(url, what))
    stream.flush()
