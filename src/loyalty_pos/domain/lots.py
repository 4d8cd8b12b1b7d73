"""Points lots and expiry (DESIGN.md §6).

Every earning makes a lot; spending takes from the lots that expire first; a lot stops being
spendable on its ``expires_at`` date. Points taken back beyond what the lots hold (a refund after
the points were spent) become ``debt``: the balance goes negative and new earnings pay it off first.

A refund undoes a sale lot by lot: it takes back the points from the lots the sale earned and gives
back the points the sale spent with the dates they had, so buying with expiring points and
returning the goods never renews them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta


@functools.lru_cache(maxsize=1024)
def iso_day(day: date) -> str:
    """``day.isoformat()``, remembered. ``date.isoformat`` formats through printf, several times
    slower than this look-up; a sale writes about ten dates (its lots', its member's lots', the
    tier window's), and they are nearly always the same few: today and the expiry dates."""
    return day.isoformat()


@dataclass(frozen=True, slots=True)
class Lot:
    """Points earned together.

    Attributes:
        points: points still in the lot (never negative).
        earned_at: store-local date of the earning.
        expires_at: first date on which the lot is no longer spendable; None = never.
    """

    points: int
    earned_at: date
    expires_at: date | None

    def live_on(self, day: date) -> bool:
        return self.expires_at is None or day < self.expires_at

    def to_json(self) -> dict[str, object]:
        return {
            "points": self.points,
            "earned_at": iso_day(self.earned_at),
            "expires_at": iso_day(self.expires_at) if self.expires_at else None,
        }

    @staticmethod
    def from_json(d: dict[str, object]) -> Lot:
        expires = d.get("expires_at")
        return Lot(
            int(d["points"]),  # type: ignore[call-overload]
            date.fromisoformat(str(d["earned_at"])),
            date.fromisoformat(str(expires)) if expires else None,
        )


def _expiry_order(lot: Lot) -> tuple[date, date]:
    return (lot.expires_at or date.max, lot.earned_at)


def expiry_date(earned: datetime | date, days: int) -> date | None:
    day = earned.date() if isinstance(earned, datetime) else earned
    return day + timedelta(days=days) if days > 0 else None


@dataclass(frozen=True, slots=True)
class Account:
    """A member's points: live and lapsed lots plus any debt. Pure value; every change returns a new one."""

    lots: tuple[Lot, ...] = ()
    debt: int = 0

    def balance(self, on: date) -> int:
        """Spendable balance on ``on``: live lots less debt (negative when in debt)."""
        return sum(lot.points for lot in self.lots if lot.live_on(on)) - self.debt

    def live_lots(self, on: date) -> list[Lot]:
        return sorted(
            (lot for lot in self.lots if lot.live_on(on) and lot.points), key=_expiry_order
        )

    def next_expiring(self, on: date) -> Lot | None:
        dated = [lot for lot in self.live_lots(on) if lot.expires_at is not None]
        return dated[0] if dated else None

    def earn(self, new_lots: Sequence[Lot]) -> Account:
        """Add lots; debt is paid off first, from the lots that expire first."""
        debt = self.debt
        added: list[Lot] = []
        for lot in sorted(new_lots, key=_expiry_order):
            pay = min(debt, lot.points)
            debt -= pay
            if not pay:
                if lot.points:
                    added.append(lot)
            elif lot.points - pay:
                added.append(Lot(lot.points - pay, lot.earned_at, lot.expires_at))
        return Account(merged([*self.lots, *added]), debt)

    def take(self, points: int, on: date, allow_debt: bool, prefer: Sequence[Lot] = ()) -> Account:
        """Take ``points`` from the live lots, first-to-expire first. Shortfall becomes debt if allowed.

        ``prefer`` names lots to take from before any other (a refund takes back the points from
        the lots its sale earned): up to each one's points, from the lot of the same earning day
        and expiry, as far as it still holds them. That lot may have lapsed since: the points it
        still holds lapsed unused, and a refund takes them from there rather than from the
        member's other points (only what the member spent of them comes from those).
        """
        return self.spend(points, on, allow_debt, prefer)[0]

    def spend(
        self, points: int, on: date, allow_debt: bool, prefer: Sequence[Lot] = ()
    ) -> tuple[Account, tuple[Lot, ...]]:
        """``take``, also returning the points taken from each lot, first-to-expire (what a sale
        records as the lots it spent, so that its refund can give them back as they were)."""
        if points <= 0:
            return self, ()
        remaining = points
        taken: dict[int, int] = {}
        ordered = sorted(
            (i for i, lot in enumerate(self.lots) if lot.live_on(on) and lot.points),
            key=lambda i: _expiry_order(self.lots[i]),
        )
        held = [i for i, lot in enumerate(self.lots) if lot.points] if prefer else ordered
        for wanted in prefer:
            want = min(wanted.points, remaining)
            for i in held:
                if not want:
                    break
                lot = self.lots[i]
                if lot.earned_at != wanted.earned_at or lot.expires_at != wanted.expires_at:
                    continue
                part = min(want, lot.points - taken.get(i, 0))
                taken[i] = taken.get(i, 0) + part
                want -= part
                remaining -= part
        for i in ordered:
            if not remaining:
                break
            part = min(remaining, self.lots[i].points - taken.get(i, 0))
            taken[i] = taken.get(i, 0) + part
            remaining -= part
        if remaining and not allow_debt:
            raise ValueError("not enough points")
        lots = [
            Lot(lot.points - taken[i], lot.earned_at, lot.expires_at) if i in taken else lot
            for i, lot in enumerate(self.lots)
        ]
        spent = tuple(
            Lot(taken[i], self.lots[i].earned_at, self.lots[i].expires_at)
            for i in sorted(taken, key=lambda i: _expiry_order(self.lots[i]))
            if taken[i]
        )
        return Account(tuple(lot for lot in lots if lot.points), self.debt + remaining), spent

    def restore(self, lots: Sequence[Lot], on: date) -> Account:
        """Give back lots a sale spent, with the dates they had. Those still live on ``on`` pay
        any debt first, as earnings do; those that lapsed meanwhile come back lapsed: an expired
        point is gone (it pays no debt, and the ledger's next expiry run writes it off)."""
        account = self.earn([lot for lot in lots if lot.live_on(on)])
        lapsed = [lot for lot in lots if lot.points and not lot.live_on(on)]
        if not lapsed:
            return account
        return Account(merged(list(account.lots) + lapsed), account.debt)

    def expire(self, on: date) -> tuple[Account, list[Lot]]:
        """Drop lapsed lots; returns the new account and the lots that lapsed (for expire events)."""
        lapsed = [lot for lot in self.lots if not lot.live_on(on)]
        return Account(tuple(lot for lot in self.lots if lot.live_on(on)), self.debt), lapsed


def merged(lots: Iterable[Lot]) -> tuple[Lot, ...]:
    """Lots earned the same day with the same expiry as one lot (they behave identically), first
    to expire first; empty ones left out."""
    points: dict[tuple[date, date | None], int] = {}
    for lot in lots:
        key = (lot.earned_at, lot.expires_at)
        points[key] = points.get(key, 0) + lot.points
    return tuple(sorted((Lot(p, e, x) for (e, x), p in points.items() if p), key=_expiry_order))


def latest_first(lots: Sequence[Lot], moved: int, points: int) -> tuple[Lot, ...]:
    """The ``points`` of ``lots`` that follow the first ``moved``, counting latest-expiring first:
    the part of a sale's lots one refund moves when the sale's earlier refunds moved ``moved``
    points of them. Refunds that add up to the whole sale move exactly ``lots``; fewer than
    ``points`` when ``lots`` do not hold them.

    For the points a sale spent, this is what the smaller sale would have left unspent (spending
    takes the first-to-expire points); for the points it earned, it never leaves a returned
    sale's points with a longer life than they had.
    """
    out: list[Lot] = []
    start, end = moved, moved + points
    position = 0
    for lot in sorted(lots, key=_expiry_order, reverse=True):
        part = min(position + lot.points, end) - max(position, start)
        if part > 0:
            out.append(replace(lot, points=part))
        position += lot.points
    return tuple(out)


def taken_back(
    sale: Sequence[Lot], taken: Sequence[Lot], kept: Sequence[Lot], points: int
) -> tuple[Lot, ...]:
    """The ``points`` one refund takes back, as parts of the lots the ``sale`` earned: from
    each lot first what the returned units earned in it (what it holds beyond the ``kept``
    lots, those the units still kept earn), then, for a point of rounding, the latest-expiring
    part left. ``taken``: what the sale's earlier refunds took back.

    Returning the book of a basket takes its cashback from the cashback lot and its base points
    from the year's lot, so the groceries kept keep their year (not the book's 60 days); and
    refunds that add up to the sale take back exactly its lots."""
    order = [(lot.earned_at, lot.expires_at) for lot in reversed(merged(sale))]
    left = {(lot.earned_at, lot.expires_at): lot.points for lot in merged(sale)}
    for lot in taken:
        key = (lot.earned_at, lot.expires_at)
        if key in left:
            left[key] = max(left[key] - lot.points, 0)
    still = {(lot.earned_at, lot.expires_at): lot.points for lot in merged(kept)}
    out = dict.fromkeys(order, 0)
    wanted = points
    for returned_only in (True, False):
        for key in order:
            room = left[key] - out[key]
            if returned_only:
                room = min(room, left[key] - still.get(key, 0))
            part = max(min(room, wanted), 0)
            out[key] += part
            wanted -= part
    return tuple(Lot(out[key], *key) for key in order if out[key])


def at_most(lots: Sequence[Lot], most: int) -> tuple[Lot, ...]:
    """``lots`` as at most ``most`` lots (an event's list is bounded): past that, the
    earliest-expiring ones become one lot with the earliest expiry among them, which never gives a
    point a longer life than it had."""
    ordered = sorted(lots, key=_expiry_order)
    if len(ordered) <= max(most, 1):
        return tuple(ordered)
    head = ordered[: len(ordered) - most + 1]
    first = replace(head[0], points=sum(lot.points for lot in head))
    return (first, *ordered[len(head) :])
