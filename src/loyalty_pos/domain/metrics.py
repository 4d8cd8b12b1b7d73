"""Program metrics for a period (DESIGN.md §10), computed from journal events.

Definitions (written down because every program defines them a little differently):

- issued = points earned at checkouts − points reversed by refunds + positive adjustments;
  redeemed = points paid at checkouts − points given back by refunds.
- engagement % = checkouts with a card / all checkouts.
- redemption rate % = redeemed / issued.
- m = average amount paid (money) per checkout with a card; a = checkouts per purchasing member in
  the period; t = average member lifetime (first to last purchase, inclusive) in periods;
  LTV = m × a × t.
- a member is *active* on a day when they bought something in the ``active_days`` before it;
  retention % = (E − N) / S × 100 with S active at the start, E active at the end, N enrolled in
  the period; churn % = 100 − retention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .money import from_minor, quantize


def _pct(part: Decimal | int, whole: Decimal | int) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def period_report(
    events: Iterable[Mapping[str, Any]],
    start: datetime,
    end: datetime,
    *,
    currency: str,
    balances: Mapping[str, int],
    points_per_unit: int,
    rejected: int = 0,
    active_days: int = 90,
) -> dict[str, Any]:
    """Figures for ``start <= occurred_at < end``; ``balances`` are members' points now."""
    issued = redeemed = adjusted = 0
    all_checkouts = card_checkouts = 0
    paid_minor = 0
    per_member: dict[str, int] = {}
    first_buy: dict[str, datetime] = {}
    last_buy: dict[str, datetime] = {}
    enrolled: set[str] = set()
    for event in events:
        at = datetime.fromisoformat(str(event["occurred_at"]))
        kind = event.get("type")
        member = event.get("member_id")
        if kind == "checkout" and member and at < end:
            first_buy.setdefault(member, at)
            last_buy[member] = at
        if not start <= at < end:
            continue
        if kind == "checkout":
            all_checkouts += 1
            issued += int(event.get("points_earned") or 0)
            redeemed += int(event.get("points_redeemed") or 0)
            if member:
                card_checkouts += 1
                paid_minor += int(event.get("due_minor") or 0)
                per_member[member] = per_member.get(member, 0) + 1
        elif kind == "refund":
            issued -= int(event.get("points_reversed") or 0)
            redeemed -= int(event.get("points_restored") or 0)
        elif kind == "adjust":
            points = int(event.get("points") or 0)
            if points > 0:
                issued += points
            else:
                adjusted += points
        elif kind == "enroll" and member:
            enrolled.add(member)

    def active_on(day: datetime) -> set[str]:
        since = day - timedelta(days=active_days)
        return {m for m, last in last_buy.items() if since <= last < day} | {
            m for m, first in first_buy.items() if since <= first < day
        }

    period_days = max((end - start).days, 1)
    m = from_minor(paid_minor // card_checkouts, currency) if card_checkouts else Decimal(0)
    a = Decimal(card_checkouts) / len(per_member) if per_member else Decimal(0)
    lifetimes = [((last_buy[x] - first_buy[x]).days + 1) / period_days for x in first_buy]
    t = Decimal(str(round(sum(lifetimes) / len(lifetimes), 3))) if lifetimes else Decimal(0)
    s_active, e_active = active_on(start), active_on(end)
    retention = _pct(len(e_active) - len(enrolled & e_active), len(s_active))
    outstanding = sum(balances.values())
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "issued": issued,
        "redeemed": redeemed,
        "adjusted": adjusted,
        "outstanding_points": outstanding,
        "outstanding_value": str(
            quantize(Decimal(outstanding) / points_per_unit, currency) if points_per_unit else 0
        ),
        "checkouts": all_checkouts,
        "checkouts_with_card": card_checkouts,
        "engagement_pct": _pct(card_checkouts, all_checkouts),
        "redemption_rate_pct": _pct(redeemed, issued),
        "average_check": str(m),
        "repeat_purchases": str(a.quantize(Decimal("0.01"))),
        "average_lifetime_periods": str(t),
        "ltv": str(quantize(m * a * t, currency)),
        "members_active_start": len(s_active),
        "members_active_end": len(e_active),
        "members_new": len(enrolled),
        "retention_pct": retention,
        "churn_pct": str(Decimal(100) - Decimal(retention)) if retention is not None else None,
        "negative_balances": sorted(k for k, v in balances.items() if v < 0),
        "rejected_events": rejected,
    }
