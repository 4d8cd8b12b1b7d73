"""Money and points: Decimal at the edges, integer minor units in storage and on the wire.

Never float. Points are plain ``int``; all point rounding is floor unless a rule says otherwise.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal, InvalidOperation

from .errors import Refused

#: Minor-unit exponent of the currencies this terminal knows (ISO 4217).
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "BRL": 2,
    "MXN": 2,
    "ZAR": 2,
    "INR": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "KWD": 3,
    "BHD": 3,
}


#: The largest amount recorded anywhere, in minor units: a price, a line, a basket's total, a
#: refund (100,000,000,000.00 in a currency of two decimals). The ledger refuses events over it,
#: and every sum of such amounts stays far inside SQLite's 64-bit integers.
MAX_MINOR = 10**13


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise Refused(f"unknown currency {currency!r}") from None


@functools.cache
def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount (``0.01`` for EUR); computed once per currency."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str, rounding: str = ROUND_DOWN) -> Decimal:
    """``amount`` at the currency's minor unit; by default rounded toward zero (never over-award)."""
    return amount.quantize(minor_unit(currency), rounding=rounding)


def floor_to_minor(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_FLOOR)


def to_minor(amount: Decimal, currency: str) -> int:
    q = amount.scaleb(exponent(currency))
    if q != q.to_integral_value():
        said = str(amount) if len(str(amount)) <= 32 else _cut(str(amount))
        raise Refused(f"{said} has more decimals than {currency} allows")
    return int(q)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency)).quantize(minor_unit(currency))


#: An amount as people write it: ASCII digits, an optional sign and decimal point. ``Decimal``
#: itself also reads ``1e2``, ``1_000``, ``NaN`` and other scripts' digits, which in a price
#: column are a spreadsheet's conversion or a typing slip, not an amount.
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _cut(text: str, limit: int = 32) -> str:
    """``text`` quoted for a message: whole when short, else its start and its length (a paste
    of thousands of digits filled the till's window, its keys' hint pushed off the screen)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def parse_money(text: str, currency: str, what: str = "amount") -> Decimal:
    """Parse a decimal string such as ``"60.00"``; refuses exponents, NaN, inf, too many decimals."""
    plain = str(text).strip()
    said = _cut(str(text))
    if not _AMOUNT.fullmatch(plain):
        raise Refused(f"{what} {said} is not a number: write it like 4.99")
    try:
        value = Decimal(plain)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise Refused(f"{what} {said} is not a number") from None
    if over_max(value, currency):
        raise Refused(f"{what} {said} is more than the largest amount {largest(currency)}")
    to_minor(value, currency)
    return value.quantize(minor_unit(currency))


def parse_typed_amount(text: str, currency: str) -> Decimal:
    """An amount typed at the till, above 0: a plain decimal, with a decimal comma taken as a
    point (``4,99``). A separator followed by three digits in a currency with fewer decimals
    (``1,000``, ``1.000``) is refused: it may separate thousands, and reading it as 1.00 would
    sell for a thousandth of the price."""
    plain = str(text).strip()
    if plain.count(",") == 1 and "." not in plain:
        plain = plain.replace(",", ".")
    head, point, decimals = plain.partition(".")
    places = exponent(currency)
    # "1,000" or "4.999": a first group of 1-3 digits, then 3 (0.001 is no thousands group).
    thousands = head.isascii() and head.isdigit() and len(head) <= 3 and head[0] != "0"
    if point and thousands and len(decimals) == 3 and decimals.isdigit() and places < 3:
        raise Refused(
            f"The amount {text.strip()} could be {head}{decimals} (with a thousands separator) "
            f"or {head}.{decimals}: type it without a separator ({head}{decimals}) or with "
            f"{places} decimals."
        )
    amount = parse_money(plain, currency, "The amount")
    if amount <= 0:
        raise Refused(f"A free-amount line needs an amount above 0 (got {text.strip()}).")
    return amount


def over_max(amount: Decimal, currency: str) -> bool:
    """Whether ``amount`` is beyond ``MAX_MINOR`` either way."""
    return abs(amount).scaleb(exponent(currency)) > MAX_MINOR


def largest(currency: str) -> str:
    """``MAX_MINOR`` as people read it: ``100,000,000,000.00 EUR``."""
    return f"{from_minor(MAX_MINOR, currency):,} {currency}"


def floor_points(value: Decimal) -> int:
    return math.floor(value)


def format_money(amount: Decimal, currency: str) -> str:
    return f"{quantize(amount, currency)}"
