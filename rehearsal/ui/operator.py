"""The operator at the terminal: what a run tells them, asks of them, and shows them to open.

One object, made by the CLI and handed to whatever needs a person: arming a live run, a
manual checkpoint, a card's 3-D Secure page (any provider's: `authorizer`). It draws
nothing itself. A surface does:
the view that owns the screen once the run is under way (the live table pauses while a
prompt is shown, so a question is never drawn over), a plain console before that. It
never decides anything; its callers do. It carries no secret: what it shows is a summary,
a question, or a customer's URL.
"""

from __future__ import annotations

import io
import sys
from typing import Protocol, TextIO

from rehearsal.providers.base import Authorize  # (page URL, what it is): a payment waits
from rehearsal.streams import quiet


class Surface(Protocol):
    """Where the operator reads and answers: a console, or the run's view."""

    def show(self, text: str) -> None: ...

    def ask(self, question: str) -> str: ...


class TextOut(Protocol):
    """Where plain lines go: a text stream, or anything that takes text as one (a matrix's
    prefixed lines)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class ConsoleSurface:
    """Plain lines on stdout, answers from stdin: before a view owns the screen."""

    def __init__(self, out: TextOut | None = None) -> None:
        self.out = out

    def show(self, text: str) -> None:
        print(text, file=quiet(self.out or sys.stdout), flush=True)

    def ask(self, question: str) -> str:
        out = quiet(self.out or sys.stdout)  # nobody reading: the answer is still awaited
        out.write(question)
        out.flush()
        line = sys.stdin.readline()
        if not line:  # the terminal closed: no answer is not a yes
            raise EOFError("no answer: the terminal closed")
        return line.rstrip("\r\n")


class Operator:
    """The person at the terminal, if there is one (`present`)."""

    def __init__(self, *, present: bool | None = None, surface: Surface | None = None) -> None:
        if present is None:
            present = sys.stdin.isatty() and sys.stdout.isatty()
        self.present = present
        self.surface: Surface = surface or ConsoleSurface()

    def attach(self, surface: Surface) -> None:
        """From now on `surface` (the run's view) shows what the operator reads."""
        self.surface = surface

    def say(self, text: str) -> None:
        self.surface.show(text)

    def ask(self, question: str) -> str:
        return self.surface.ask(question).strip()

    def confirm(self, question: str) -> bool:
        """Yes or no; asked again until the answer is one of them."""
        while True:
            answer = self.ask(f"{question} [y/n]: ").lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.say("Please answer y or n.")

    def show_url(self, url: str, message: str) -> None:
        """`message`, the URL, and a QR code of it to open on a phone."""
        self.say(f"{message}\n{url}\n{qr_code(url)}")

    def authorizer(self) -> Authorize:
        """An adapter's `on_authorize`: a 3-D Secure page shown through this service."""

        def show(url: str, what: str) -> None:
            self.show_url(url, authorization_message(what))

        return show


def authorization_message(what: str) -> str:
    return (
        f"3-D Secure: {what} waits for the cardholder to authorize it.\n"
        "Open this URL in a browser (or scan the code) and authorize; the run carries on "
        "by itself once it is authorized:"
    )


def show_authorization(url: str, what: str, out: TextIO | None = None) -> None:
    """An adapter's default `on_authorize` outside a run: to stderr, which reaches the
    terminal whichever view draws on stdout. The URL is the customer's page: no key."""
    stream = quiet(out or sys.stderr)
    stream.write(f"\n{authorization_message(what)}\n{url}\n{qr_code(url)}")
    stream.flush()


def qr_code(url: str) -> str:
    import segno  # only when a URL is shown

    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True, border=2)
    return out.getvalue()
