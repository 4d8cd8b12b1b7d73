"""How each event changes a member's points account: one function, used by the terminal's cache,
by ``verify`` (replaying the journal) and by the central ledger, so all three agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .lots import Account, Lot

#: Event types that change a member's points.
POINT_EVENTS = frozenset({"checkout", "refund", "adjust", "expire"})


def tier_spend_minor(event: Mapping[str, Any]) -> int:
    """What the event adds to its member's tier spend, in minor units: a sale's money due, less a
    refund's money back; nothing for an event without a member."""
    if event.get("type") == "checkout" and event.get("member_id"):
        return int(event.get("due_minor") or 0)
    if event.get("type") == "refund" and event.get("member_id"):
        return -int(event.get("refund_minor") or 0)
    return 0


def event_day(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["occurred_at"]))


def apply_event(account: Account, event: Mapping[str, Any]) -> Account:
    """The account after ``event``. Points taken beyond the balance become debt (never lost)."""
    kind = event.get("type")
    on = event_day(event).date()
    new_lots = [Lot.from_json(lot) for lot in event.get("lots") or []]
    if kind == "checkout":
        return account.take(int(event.get("points_redeemed") or 0), on, allow_debt=True).earn(
            new_lots
        )
    if kind == "refund":
        return account.take(int(event.get("points_reversed") or 0), on, allow_debt=True).earn(
            new_lots
        )
    if kind == "adjust":
        points = int(event.get("points") or 0)
        if points >= 0:
            return account.earn(new_lots)
        return account.take(-points, on, allow_debt=True)
    if kind == "expire":
        return account.expire(on)[0]
    return account
