"""Amounts as a person reads them: integers in a currency's minor units shown as money.

Providers, plans, the ledger and the JSON report all count in minor units (500 USD is
5.00 dollars); only what a person reads is formatted. The exponent is ISO 4217's: two
decimals unless the currency is listed below. A table, not a library: the list of
zero- and three-decimal currencies changes rarely, and a dependency for twenty-odd codes
weighs more than it saves (babel knows the exponents, but brings CLDR locale data the CLI
has no other use for).
"""

from __future__ import annotations

# ISO 4217 currencies with no minor unit (the amount is already whole units).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# ISO 4217 currencies with three decimals (fils, baisa, millime).
THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])
FOUR_DECIMAL = frozenset({"CLF", "UYW"})


def exponent(currency: str) -> int:
    """How many decimals `currency`'s minor unit has (ISO 4217); 2 when not listed."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in FOUR_DECIMAL:
        return 4
    return 2


def format_amount(amount: int, currency: str) -> str:
    """`format_amount(500, "USD")` → "USD 5.00"; `format_amount(500, "JPY")` → "JPY 500"."""
    code = currency.upper()
    places = exponent(code)
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**places)
    text = f"{whole:,}" + (f".{minor:0{places}d}" if places else "")
    return f"{code} {sign}{text}"
