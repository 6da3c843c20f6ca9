"""Amounts shown as money: minor units by each currency's ISO 4217 exponent."""

from __future__ import annotations

import pytest

from rehearsal.amounts import exponent, format_amount


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (500, "USD", "USD 5.00"),  # two decimals: cents
        (20000, "PHP", "PHP 200.00"),  # centavos
        (5, "USD", "USD 0.05"),
        (0, "USD", "USD 0.00"),
        (123456789, "USD", "USD 1,234,567.89"),
        (500, "JPY", "JPY 500"),  # no minor unit: the amount is whole yen
        (1000, "KRW", "KRW 1,000"),
        (5000, "KWD", "KWD 5.000"),  # three decimals: fils
        (1234, "BHD", "BHD 1.234"),
        (-250, "EUR", "EUR -2.50"),
        (500, "usd", "USD 5.00"),
    ],
)
def test_minor_units_read_as_money(amount: int, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


def test_exponents_follow_iso_4217() -> None:
    assert [exponent(c) for c in ("USD", "PHP", "JPY", "KWD", "CLF", "XYZ")] == [2, 2, 0, 3, 4, 2]
