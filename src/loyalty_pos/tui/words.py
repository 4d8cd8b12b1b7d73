"""Plain words and short formats for what the cashier reads: limits, money, points, dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from loyalty_pos.domain.money import format_money


def money(amount: Decimal | str | None, currency: str = "") -> str:
    if amount is None:
        return "-"
    value = Decimal(amount)
    text = format_money(value, currency) if currency else f"{value:.2f}"
    return f"{text} {currency}".strip()


def points(n: int | None) -> str:
    return "-" if n is None else f"{n} pts"


def day(d: date | datetime | None) -> str:
    return "-" if d is None else d.strftime("%Y-%m-%d")


def clock(d: datetime | None) -> str:
    return "never" if d is None else d.strftime("%H:%M")
