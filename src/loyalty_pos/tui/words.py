"""Plain words and short formats for what the cashier reads: limits, money, points, dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from loyalty_pos.domain.events import MAX_POINTS
from loyalty_pos.domain.money import format_money
from loyalty_pos.domain.program import Program
from loyalty_pos.domain.quote import RedeemCap


def cap_reason(cap: RedeemCap, program: Program) -> str:
    """Why the points payment cannot be larger, as a sentence fragment for the points window."""
    rules = program.redeem
    cur = program.currency
    reasons = {
        "min_cash": f"at least {rules.min_cash} {cur} must be paid in money",
        "max_share": f"points may pay at most {rules.max_share * 100:.0f}% of the total",
        "balance": "that is all the points the member has",
        "max_points": f"one sale may pay at most {MAX_POINTS:,} points",
        "offline_cap": (
            "the terminal is offline: a member may pay at most "
            f"{program.offline.max_redeem_points_per_member_per_day} points a day here"
        ),
        "frozen": "the member is frozen: points cannot be paid",
        "provisional": "the card was enrolled here and the ledger has not seen it yet: it can pay "
        "once a sync has taken it there",
        "negative_balance": "the balance is negative: points cannot be paid",
        "no_member": "no member card: scan or type the card first (F2)",
        "min_points": f"the balance is below the smallest points payment ({rules.min_points})",
    }
    return reasons.get(cap.rule, cap.rule)


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
