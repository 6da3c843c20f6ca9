"""Completing a 3-D Secure redirect: by an operator, or on PayMongo's test page by itself.

PayMongo blocks non-3-D Secure card payments in live mode, its 3-D Secure test cards need
the redirect page too (https://developers.paymongo.com/docs/card-integration-test-cases),
and a subscription's first payment "will require card payment authentication"
(https://developers.paymongo.com/docs/statuses-subscription). The adapter then polls the
intent until it leaves `awaiting_next_action`.

Live mode: a person authorizes, shown the URL and a QR code by the core's operator service
(rehearsal/ui/operator.py `Operator.authorizer`, `show_authorization`), as for any provider.

Test mode: PayMongo's test page offers two buttons, "Authorize Test Payment" and "Fail Test
Payment" (https://developers.paymongo.com/docs/subscriptions-test-cases). `press_test_button`
opens the page and submits the form of the button with that label, as a browser would. The
simulator's page is such a form. That PayMongo's own test page is a plain HTML form is
ASSUMED (docs/providers/paymongo.md): where no such button is found, the caller falls back
to the operator. The URL is the customer's page, not a credential: it carries no key, and
no key is sent to it.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

AUTHORIZE_BUTTON = "Authorize Test Payment"  # PayMongo's label on its test page


# --- the test page, without a person ------------------------------------------------------


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str | None, str | None]] = field(default_factory=list)


class _Forms(HTMLParser):
    """A page's forms: their hidden and text fields, and their submit buttons' labels."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._button: tuple[str | None, str | None] | None = None
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            method = (a.get("method") or "get").lower()
            self.forms.append(_Form(a.get("action") or "", method))
        elif not self.forms:
            return
        elif tag == "button" and (a.get("type") or "submit").lower() == "submit":
            self._button, self._label = (a.get("name"), a.get("value")), []
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            name, value = a.get("name"), a.get("value")
            if kind == "submit":
                self.forms[-1].buttons.append((value or "", name, value))
            elif name and kind not in ("checkbox", "radio", "file", "button", "reset"):
                self.forms[-1].fields[name] = value or ""

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value = self._button
            self.forms[-1].buttons.append(("".join(self._label), name, value))
            self._button = None


def press_test_button(
    url: str, label: str = AUTHORIZE_BUTTON, *, timeout: float | httpx.Timeout = 15.0
) -> int | None:
    """Open `url` and submit the form whose button reads `label`, as a browser would.
    The answer's HTTP status; None when the page has no such button (or is no web page)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None
    wanted = " ".join(label.split()).casefold()
    with httpx.Client(timeout=timeout, follow_redirects=True) as browser:
        page = browser.get(url)
        if page.status_code >= 400 or "html" not in page.headers.get("content-type", ""):
            return None
        parser = _Forms()
        parser.feed(page.text)
        for form in parser.forms:
            for text, name, value in form.buttons:
                if " ".join(text.split()).casefold() != wanted:
                    continue
                data = dict(form.fields)
                if name:
                    data[name] = value or ""
                target = urllib.parse.urljoin(str(page.url), form.action)
                if form.method == "post":
                    return browser.post(target, data=data).status_code
                return browser.get(target, params=data).status_code
    return None
