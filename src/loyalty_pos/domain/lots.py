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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any


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
    """A member's points: live and lapsed lots plus any debt. Pure value; every change returns a new one.

    ``owed`` and ``covered`` remember what a refund took back in place of points already spent
    (the sale that earned them is returned after another sale paid with them): ``owed``, those
    points under the dates of the lot they were taken back for; ``covered``, the member's other
    points that made up for them (taken instead, or earnings that paid the debt since), under
    their own dates. When the sale that spent them is returned too, its points of those dates
    come back and settle what is owed of them first: the debt left falls by that much and the
    points that covered it come back to the member. Without this, the first refund's debt would
    be paid twice (once by the member's other points, once by the returned ones), and points
    returned after their lot lapsed would leave the debt standing.

    Neither counts in the balance; ``covered`` never holds more than ``owed``.
    """

    lots: tuple[Lot, ...] = ()
    debt: int = 0
    owed: tuple[Lot, ...] = ()
    covered: tuple[Lot, ...] = ()

    def owed_json(self) -> dict[str, list[dict[str, object]]] | None:
        """``owed`` and ``covered`` as stored beside the lots; None when there are none."""
        if not self.owed and not self.covered:
            return None
        return {
            "owed": [lot.to_json() for lot in self.owed],
            "covered": [lot.to_json() for lot in self.covered],
        }

    def with_owed_json(self, stored: Mapping[str, Any] | None) -> Account:
        """This account with the ``owed`` and ``covered`` of ``owed_json`` (None: none)."""
        if not stored:
            return self
        return replace(
            self,
            owed=tuple(Lot.from_json(lot) for lot in stored.get("owed") or ()),
            covered=tuple(Lot.from_json(lot) for lot in stored.get("covered") or ()),
        )

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
        paid: list[Lot] = []
        for lot in sorted(new_lots, key=_expiry_order):
            pay = min(debt, lot.points)
            debt -= pay
            if not pay:
                if lot.points:
                    added.append(lot)
                continue
            if lot.points - pay:
                added.append(Lot(lot.points - pay, lot.earned_at, lot.expires_at))
            paid.append(Lot(pay, lot.earned_at, lot.expires_at))
        if not self.owed or not paid:
            return Account(merged([*self.lots, *added]), debt, self.owed, self.covered)
        owed, covered = _netted(self.owed, [*self.covered, *paid])
        return Account(merged([*self.lots, *added]), debt, owed, covered)

    def take(self, points: int, on: date, allow_debt: bool, prefer: Sequence[Lot] = ()) -> Account:
        """Take ``points`` from the live lots, first-to-expire first. Shortfall becomes debt if allowed.

        ``prefer`` names lots to take from before any other (a refund takes back the points from
        the lots its sale earned): up to each one's points, from the lot of the same earning day
        and expiry, as far as it still holds them. That lot may have lapsed since: the points it
        still holds lapsed unused, and a refund takes them from there rather than from the
        member's other points (only what the member spent of them comes from those, and is
        remembered as ``owed``).
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
        missing: list[Lot] = []  # the parts of the preferred lots already spent
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
            if want:
                missing.append(Lot(want, wanted.earned_at, wanted.expires_at))
        instead = sum(lot.points for lot in missing) if missing else 0  # others' or debt
        stand_ins: list[Lot] = []
        for i in ordered:
            if not remaining:
                break
            part = min(remaining, self.lots[i].points - taken.get(i, 0))
            if not part:
                continue
            taken[i] = taken.get(i, 0) + part
            remaining -= part
            if instead:
                lot = self.lots[i]
                stand_ins.append(Lot(min(part, instead), lot.earned_at, lot.expires_at))
                instead -= stand_ins[-1].points
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
        owed, covered = self.owed, self.covered
        if missing:
            owed, covered = _netted([*owed, *missing], [*covered, *stand_ins])
        kept = tuple(lot for lot in lots if lot.points)
        return Account(kept, self.debt + remaining, owed, covered), spent

    def restore(self, lots: Sequence[Lot], on: date) -> Account:
        """Give back lots a sale spent, with the dates they had. Points of the dates of lots a
        refund took back after they were spent settle what is ``owed`` of them first, lapsed or
        not: the debt left falls by that much, and past it the points that ``covered`` it come
        back (with their own dates). The others still live on ``on`` pay any debt first, as
        earnings do; those that lapsed meanwhile come back lapsed: an expired point is gone (it
        pays no debt, and the ledger's next expiry run writes it off)."""
        account, rest = self._settle(lots) if self.owed else (self, lots)
        live = account.earn([lot for lot in rest if lot.live_on(on)])
        lapsed = [lot for lot in rest if lot.points and not lot.live_on(on)]
        if not lapsed:
            return live
        return replace(live, lots=merged([*live.lots, *lapsed]))

    def _settle(self, lots: Sequence[Lot]) -> tuple[Account, Sequence[Lot]]:
        """``restore``'s first step: the account once ``lots`` settled what is ``owed`` of their
        dates, and what is left of them to give back. Never more than the debt and the covering
        points together, so the account gains exactly the points given back."""
        owed = points_by_dates(self.owed)
        room = self.debt + sum(lot.points for lot in self.covered)
        rest: list[Lot] = []
        settled = 0
        for lot in lots:
            key = (lot.earned_at, lot.expires_at)
            part = min(lot.points, owed.get(key, 0), room - settled)
            if part:
                owed[key] -= part
                settled += part
            if lot.points - part:
                rest.append(Lot(lot.points - part, lot.earned_at, lot.expires_at))
        if not settled:
            return self, lots
        paid = min(settled, self.debt)
        back = settled - paid
        held = sum(lot.points for lot in self.covered)
        released = latest_first(self.covered, 0, back)
        still = latest_first(self.covered, back, held - back)
        left, covered = _netted([Lot(n, *key) for key, n in owed.items()], still)
        return Account(merged([*self.lots, *released]), self.debt - paid, left, covered), rest

    def paid_instead(self, recorded: Sequence[Lot], taken: Sequence[Lot]) -> Account:
        """This account remembering that a sale paid with the ``taken`` points where its till
        recorded the ``recorded`` ones (the till had not seen another till's sale of those points
        yet): what the till's refund of it gives back with the recorded dates then brings back the
        points really taken, with their own dates (``owed``, ``covered``, as a refund's points
        taken back in place of spent ones). Points recorded beyond those taken (an overspend,
        taken as debt) are ``owed`` alone: the earnings that pay that debt cover them."""
        claimed, actual = points_by_dates(recorded), points_by_dates(taken)
        owed = [Lot(n - actual.get(k, 0), *k) for k, n in claimed.items() if n > actual.get(k, 0)]
        if not owed:
            return self
        extra = [Lot(n - claimed.get(k, 0), *k) for k, n in actual.items() if n > claimed.get(k, 0)]
        left, covered = _netted([*self.owed, *owed], [*self.covered, *extra])
        return replace(self, owed=left, covered=covered)

    def expire(self, on: date) -> tuple[Account, list[Lot]]:
        """Drop lapsed lots; returns the new account and the lots that lapsed (for expire events)."""
        lapsed = [lot for lot in self.lots if not lot.live_on(on)]
        return replace(self, lots=tuple(lot for lot in self.lots if lot.live_on(on))), lapsed


def _netted(owed: Sequence[Lot], covered: Sequence[Lot]) -> tuple[tuple[Lot, ...], tuple[Lot, ...]]:
    """``Account.owed`` and ``Account.covered`` kept small: points of the same dates in both
    cancel out (points that covered a debt were themselves taken back later: what covered them
    covers the first debt), and ``covered`` keeps at most as many points as are ``owed``, the
    latest-expiring. Neither changes the balance any later refund leaves."""
    owed_by, covered_by = points_by_dates(owed), points_by_dates(covered)
    for key in owed_by.keys() & covered_by.keys():
        both = min(owed_by[key], covered_by[key])
        owed_by[key] -= both
        covered_by[key] -= both
    left = merged(Lot(n, *key) for key, n in owed_by.items())
    held = (Lot(n, *key) for key, n in covered_by.items() if n)
    return left, merged(latest_first(tuple(held), 0, sum(lot.points for lot in left)))


def points_by_dates(lots: Iterable[Lot]) -> dict[tuple[date, date | None], int]:
    """The points of ``lots`` by earning day and expiry (lots of the same both behave as one)."""
    points: dict[tuple[date, date | None], int] = {}
    for lot in lots:
        key = (lot.earned_at, lot.expires_at)
        points[key] = points.get(key, 0) + lot.points
    return points


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
