"""PayMongo's published test cards, as the simulator knows them: each number's brand, its
3-D Secure behaviour and its documented outcome.

Written from PayMongo's testing pages, not from the adapter's list of card names:
https://developers.paymongo.com/docs/payment-acceptance-testing (the current table),
https://developers.paymongo.com/docs/testing (the older page: more successful cards, the 3-D
Secure cards and one card per decline sub code), and the subscription test cases
(https://developers.paymongo.com/docs/subscriptions-test-cases). docs/providers/paymongo.md
lists them with their sources and the assumptions. Test mode accepts these numbers only.
"""

from __future__ import annotations

from dataclasses import dataclass

# When a 3-D Secure card is declined: before the cardholder is asked (at attach), or after
# the cardholder authorized on the 3-D Secure page. Either way "a payment with a failed
# status will still be created".
BEFORE_AUTHENTICATION = "before_authentication"
AFTER_AUTHENTICATION = "after_authentication"


@dataclass(frozen=True)
class Card:
    number: str
    authentication: str  # "none", "required" or "optional": what PayMongo says of its 3-D Secure
    failure_code: str | None = None  # the failed payment's sub_code; None: the payment succeeds
    declined: str | None = None  # BEFORE_/AFTER_AUTHENTICATION for a declined 3-D Secure card
    recurring_fails: bool = False  # a subscription activates, its renewals fail

    @property
    def brand(self) -> str:
        return "visa" if self.number.startswith("4") else "mastercard"

    @property
    def three_ds(self) -> str:
        """What attaching it does in test mode: "required" sends the cardholder to the 3-D
        Secure page; anything else charges at once. A card declined before authentication
        never reaches the page."""
        return "none" if self.declined == BEFORE_AUTHENTICATION else self.authentication


def _ok(number: str, authentication: str = "none", *, recurring_fails: bool = False) -> Card:
    return Card(number, authentication, recurring_fails=recurring_fails)


def _declined(number: str, sub_code: str) -> Card:
    return Card(number, "none", sub_code)


TEST_CARDS: tuple[Card, ...] = (
    # Successful payments without 3-D Secure (both pages).
    _ok("4343434343434345"),
    _ok("4571736000000075"),  # Visa debit
    _ok("4009930000001421"),  # Visa credit, PH
    _ok("4404520000001439"),  # Visa debit, PH
    _ok("5555444444444457"),
    _ok("5123000000000002"),
    _ok("5455590000000009"),  # Mastercard debit
    _ok("5339080000000003"),  # Mastercard prepaid
    _ok("5240050000001440"),  # Mastercard credit, PH
    _ok("5577510000001446"),  # Mastercard debit, PH
    # 3-D Secure.
    _ok("4120000000000007", "required"),
    # "3DS supported but optional"; in a subscription it activates and its renewals fail.
    _ok("5123000000000001", "optional", recurring_fails=True),
    Card("4230000000000004", "required", "generic_decline", BEFORE_AUTHENTICATION),
    Card("5234000000000106", "required", "generic_decline", AFTER_AUTHENTICATION),
    # Declines, one per sub code.
    _declined("4200000000000018", "card_expired"),
    _declined("4300000000000017", "cvc_invalid"),
    _declined("4400000000000016", "generic_decline"),
    _declined("4028220000001457", "generic_decline"),  # credit, PH
    _declined("4111111111111111", "generic_decline"),
    _declined("4500000000000015", "fraudulent"),
    _declined("5100000000000198", "insufficient_funds"),
    _declined("5240460000001466", "insufficient_funds"),  # credit, PH
    _declined("5200000000000197", "processor_blocked"),
    _declined("5300000000000196", "lost_card"),
    _declined("5483530000001462", "lost_card"),  # credit, PH
    _declined("5400000000000195", "stolen_card"),
    _declined("5500000000000194", "processor_unavailable"),
    _declined("4600000000000014", "blocked"),
)
TEST_CARD_BY_NUMBER: dict[str, Card] = {card.number: card for card in TEST_CARDS}


def full_year(year: int) -> int:
    """A card's expiry year as four digits: PayMongo's own payment method example answers
    `"exp_year": 24` (https://developers.paymongo.com/reference/the-payment-method-object),
    so a two-digit year is 20YY."""
    return 2000 + year if 0 <= year < 100 else year
