"""The store's end-of-day report: DESIGN.md §10 figures for a period, from this terminal's journal."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from .checkout import Terminal
from .domain.errors import Refused
from .domain.metrics import period_report

#: The years a time or a day given by a person (a report's day, a CLI ``--at``) may fall in: wider
#: than any sale or report a store makes, narrow enough that a window or an expiry counted from it
#: is still a date.
YEARS = range(1970, 3000)


def parse_day(text: str, what: str) -> date:
    """A report day typed as ``YYYY-MM-DD``; Refused, naming ``what``, otherwise."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{what} {text!r} is not a date YYYY-MM-DD") from None
    if day.year not in YEARS:
        raise Refused(f"{what} {text!r} is not between {YEARS[0]} and {YEARS[-1]}")
    return day


def member_balances(t: Terminal, on: date) -> dict[str, int]:
    rows = t.store.query(
        "SELECT m.member_id, COALESCE((SELECT SUM(json_extract(l.value, '$.points')) "
        "FROM json_each(m.lots) l WHERE json_extract(l.value, '$.expires_at') IS NULL "
        "OR json_extract(l.value, '$.expires_at') > ?), 0) - m.debt AS balance FROM members m",
        (on.isoformat(),),
    )
    return {r["member_id"]: r["balance"] for r in rows}


def day_report(t: Terminal, start: date, end: date | None = None) -> dict[str, Any]:
    """Figures for the store-local days ``start`` to ``end`` (inclusive; default: that one day)."""
    tz = t.now().tzinfo
    begin = datetime.combine(start, time(), tz)
    finish = datetime.combine((end or start) + timedelta(days=1), time(), tz)
    program = t.program
    report = period_report(
        t.store.events(),
        begin,
        finish,
        currency=program.currency,
        balances=member_balances(t, finish.date()),
        points_per_unit=program.redeem.points_per_unit,
        rejected=len(t.store.rejected()),
    )
    return {"terminal_id": t.config.terminal_id, "program": program.id, **report}


LABELS = [
    ("checkouts", "Checkouts"),
    ("checkouts_with_card", "  with a loyalty card"),
    ("engagement_pct", "Engagement %"),
    ("issued", "Points issued"),
    ("redeemed", "Points redeemed"),
    ("adjusted", "Points adjusted by managers (net)"),
    ("redemption_rate_pct", "Redemption rate %"),
    ("outstanding_points", "Outstanding points (liability)"),
    ("outstanding_value", "  worth"),
    ("outstanding_positive_balances", "  members' points"),
    ("outstanding_debt", "  less members' debt"),
    ("average_check", "Average check (m)"),
    ("repeat_purchases", "Purchases per member (a)"),
    ("average_lifetime_days", "Member lifetime in days"),
    ("average_lifetime_periods", "  in periods (t)"),
    ("ltv", "LTV = m x a x t"),
    ("members_new", "New members"),
    ("retention_pct", "Retention %"),
    ("churn_pct", "Churn %"),
    ("rejected_events", "Events rejected by the ledger"),
]


def report_text(report: dict[str, Any], width: int = 48) -> str:
    lines = [
        f"End of day - terminal {report['terminal_id']}",
        f"{report['from'][:10]} to {report['to'][:10]} (exclusive)",
        "-" * width,
    ]
    for key, label in LABELS:
        value = report.get(key)
        lines.append(f"{label:<34}{'-' if value is None else value:>{width - 34}}")
    negatives = report.get("negative_balances") or []
    lines.append(f"{'Members with a negative balance':<34}{len(negatives):>{width - 34}}")
    lines.extend(f"  {m}" for m in negatives[:20])
    return "\n".join(lines)
