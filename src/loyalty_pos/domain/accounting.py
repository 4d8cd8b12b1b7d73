"""How each event changes a member's points account: one function, used by the terminal's cache,
by ``verify`` (replaying the journal) and by the central ledger, so all three agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from .lots import Account, Lot

#: A moment as a store keeps it: a datetime, UTC ISO text of one fixed form, or microseconds.
Moment = TypeVar("Moment", datetime, str, int)

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


def spend_moment(own: Moment, sale: Moment | None) -> Moment:
    """When an event's tier spend counts in the rolling window: at its own moment, except a
    refund's, which counts at its sale's (``sale``, None when the sale is not found), so that a
    sale and its refunds enter and leave the window together and returning a sale that has left
    it changes nothing in it. Never later than the refund itself (a refund is not recorded
    before its sale; one stamped so by a clock gone wrong counts from its own moment)."""
    return own if sale is None else min(own, sale)


def event_day(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["occurred_at"]))


def after_refund(
    account: Account,
    on: date,
    points_reversed: int,
    reversed_lots: Sequence[Lot],
    restored: Sequence[Lot],
) -> Account:
    """The account after a refund on ``on``: the points it takes back come first from the lots
    its sale earned (``reversed_lots``, as far as they still hold them: points that lapsed
    unused are taken from the lapsed lot, not from the member's other points), then
    first-to-expire, then as debt; the points it gives back come with the dates the sale spent them with (``restored``).
    A refund recorded by an earlier release names no lots it takes back from (first-to-expire),
    and gives back one new lot."""
    return account.take(points_reversed, on, allow_debt=True, prefer=reversed_lots).restore(
        restored, on
    )


def after_checkout(
    account: Account, on: date, points_redeemed: int, lots: Sequence[Lot]
) -> Account:
    """The account after a sale on ``on``: the points it paid taken first-to-expire (beyond the
    balance, as debt), then the lots it earned added (paying any debt first). ``apply_event``
    of a checkout event; the sale itself calls it with the values it writes into its event,
    rather than reading them back out of the event's JSON."""
    return account.take(points_redeemed, on, allow_debt=True).earn(lots)


def _lots(event: Mapping[str, Any], key: str) -> list[Lot]:
    return [Lot.from_json(lot) for lot in event.get(key) or []]


def punch_after(punch: Mapping[str, int], event: Mapping[str, Any]) -> dict[str, int]:
    """A member's punch counters after ``event``: a checkout's change to them (``punch_after``
    less ``punch_before``), a refund's ``punch_delta``; other events leave them."""
    out = dict(punch)
    if event.get("type") == "checkout":
        before = event.get("punch_before") or {}
        for sku, after in (event.get("punch_after") or {}).items():
            out[sku] = out.get(sku, 0) + after - before.get(sku, 0)
    elif event.get("type") == "refund":
        for sku, delta in (event.get("punch_delta") or {}).items():
            out[sku] = out.get(sku, 0) + delta
    return out


def apply_event(account: Account, event: Mapping[str, Any]) -> Account:
    """The account after ``event``. Points taken beyond the balance become debt (never lost)."""
    kind = event.get("type")
    on = event_day(event).date()
    new_lots = _lots(event, "lots")
    if kind == "checkout":
        return after_checkout(account, on, int(event.get("points_redeemed") or 0), new_lots)
    if kind == "refund":
        reversed_lots = _lots(event, "reversed_lots")
        return after_refund(
            account, on, int(event.get("points_reversed") or 0), reversed_lots, new_lots
        )
    if kind == "adjust":
        points = int(event.get("points") or 0)
        if points >= 0:
            return account.earn(new_lots)
        return account.take(-points, on, allow_debt=True)
    if kind == "expire":
        return account.expire(on)[0]
    return account
