"""PayMongo's charge flow: a card resolved to a Payment Method, a Payment Intent made and the
method attached (each POST with its own derived Idempotency-Key, `<key>.intent`,
`<key>.method`, `<key>.attach`), and 3-D Secure seen through: the test page's button pressed
without a person in test mode, or the operator shown the redirect URL (`authorize`), then
the intent polled until it leaves `awaiting_next_action`, within a deadline. Used by the
one-off charge and by a subscription's first invoice (rehearsal/providers/paymongo/adapter.py).
Never sends a test card in live mode; never reports the redirect URL (its token authorizes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date

from rehearsal.errors import ProviderError, UsageError
from rehearsal.providers.base import ApiCall, Environment, ProviderObject, reports_objects
from rehearsal.providers.jsonwire import Body, JSONValue
from rehearsal.providers.paymongo import contract as c
from rehearsal.providers.paymongo.webhooks import PayMongoWebhooks

RETURN_URL = "https://example.com/rehearsal/3ds-complete"  # the customer's browser only


class PayMongoCharges(PayMongoWebhooks):
    """Cards and payment intents; the adapter's constructor sets these attributes."""

    environment: Environment
    _authorize: Callable[[str, str], None] | None
    authorize_timeout: float
    poll_interval: float

    # --- cards ------------------------------------------------------------------------------

    def resolve_card(self, card: str) -> str:
        if card in c.TEST_CARDS:
            if self.environment == "live":
                raise UsageError(
                    f"test card {card!r} in live mode",
                    hint="live mode needs a real card: card: env:VARIABLE holding a PayMongo "
                    "payment method id (pm_…) made with your public key",
                )
            return f"test:{card}"
        if card.startswith("pm_"):
            return card
        raise UsageError(
            f"unknown card {card!r} for PayMongo",
            hint=f"test cards: {', '.join(c.TEST_CARDS)}; or env:VARIABLE with a pm_ id",
        )

    def _payment_method(self, key: str, card: str) -> str:
        if not card.startswith("test:"):
            return card
        test = c.TEST_CARDS[card.removeprefix("test:")]
        body = c.envelope(
            {
                "type": "card",
                "details": {
                    "card_number": test.number,
                    "exp_month": 12,
                    "exp_year": date.today().year + 3,
                    "cvc": "123",
                },
                "billing": {"name": "Rehearsal Run", "email": "rehearsal@example.com"},
            }
        )
        pm_id, _, _ = c.resource(self._post(c.PAYMENT_METHODS, body, f"{key}.method"))
        return pm_id

    # --- money ------------------------------------------------------------------------------

    @reports_objects
    def create_payment(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        description: str | None = None,
    ) -> ProviderObject:
        attributes: dict[str, JSONValue] = {
            "amount": amount,
            "currency": currency,
            "payment_method_allowed": ["card"],
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "description": description or "rehearsal charge",
            "metadata": {"rehearsal_key": idempotency_key},
        }
        intent = self._post(c.PAYMENT_INTENTS, c.envelope(attributes), f"{idempotency_key}.intent")
        intent_id, _, _ = c.resource(intent)
        return self._pay_intent(idempotency_key, intent_id, card)

    def _pay_intent(
        self, key: str, intent_id: str, card: str, *, automatic: bool = False, what: str = ""
    ) -> ProviderObject:
        """Attach the card to an intent, see 3-D Secure through, and return its payment.
        `automatic`: press "Authorize Test Payment" on the test page before asking a person."""
        pm_id = self._payment_method(key, card)
        body = c.envelope({"payment_method": pm_id, "return_url": RETURN_URL})
        attached = self._post(c.ATTACH.format(id=intent_id), body, f"{key}.attach")
        _, _, a = c.resource(attached)
        if a.get("status") in (c.THREE_DS_STATUS, "processing"):
            a = self._await_intent(intent_id, a, automatic, what or f"payment intent {intent_id}")
        return self._intent_payment(intent_id, a)

    def _await_intent(
        self, intent_id: str, a: Body, automatic: bool = False, what: str = ""
    ) -> Body:
        if a.get("status") == c.THREE_DS_STATUS:
            url = ((a.get("next_action") or {}).get("redirect") or {}).get("url")
            if not url:
                raise ProviderError(f"PayMongo intent {intent_id} awaits an action with no URL")
            if automatic and self._authorize_on_test_page(str(url)):
                _, _, a = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
            elif automatic and self._intent_status(intent_id) != c.THREE_DS_STATUS:
                pass  # authorized before (a resumed run re-sent the attach): nothing to do
            elif self._authorize is None:
                raise UsageError(
                    f"PayMongo intent {intent_id} needs 3-D Secure authorization by an operator",
                    hint="run in a terminal, where the URL is shown to open in a browser",
                )
            else:
                self._authorize(url, what or f"payment intent {intent_id}")
        deadline = time.monotonic() + self.authorize_timeout
        while a.get("status") in (c.THREE_DS_STATUS, "processing"):
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"PayMongo intent {intent_id} was not authorized within "
                    f"{self.authorize_timeout:g}s (status {a.get('status')!r})",
                    hint="open the URL shown and authorize, then resume the run",
                )
            time.sleep(self.poll_interval)  # the poll interval, not a wait for a condition
            _, _, a = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
        return a

    def _intent_status(self, intent_id: str) -> object:
        _, _, a = c.resource(self._get(c.PAYMENT_INTENT.format(id=intent_id)))
        return a.get("status")

    def _authorize_on_test_page(self, url: str) -> bool:
        """Test mode: press "Authorize Test Payment" on the redirect page, without a person.
        Reported like an API call (never the URL: its token authorizes the payment)."""
        import httpx  # the test page is PayMongo's, over https

        from rehearsal.providers.paymongo.authorize import AUTHORIZE_BUTTON, press_test_button

        started = time.perf_counter()
        try:
            status = press_test_button(url, AUTHORIZE_BUTTON, timeout=self._http_timeout)
        except httpx.HTTPError:
            status = None
        if self.observer is not None:
            elapsed = (time.perf_counter() - started) * 1000
            label = f"3-D Secure test page: {AUTHORIZE_BUTTON}"
            self.observer.called(ApiCall("POST", label, status, None, elapsed))
        return status is not None and 200 <= status < 300

    def _intent_payment(self, intent_id: str, a: Body) -> ProviderObject:
        payments = [p for p in a.get("payments") or [] if isinstance(p, Mapping)]
        if not payments:
            error = a.get("last_payment_error") or {}
            code = error.get("sub_code") or error.get("code") if isinstance(error, Mapping) else ""
            raise ProviderError(
                f"PayMongo intent {intent_id} is {a.get('status')!r} with no payment"
                + (f" ({code})" if code else ""),
                code=str(code) or None,
            )
        payment = payments[-1]
        return c.parse_payment(str(payment["id"]), payment["attributes"])
