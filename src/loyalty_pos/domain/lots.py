"""Points lots and expiry (DESIGN.md §6).

Every earning makes a lot; spending takes from the lots that expire first; a lot stops being
spendable on its ``expires_at`` date. Points taken back beyond what the lots hold (a refund after
the points were spent) become ``debt``: the balance goes negative and new earnings pay it off first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta


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
            "earned_at": self.earned_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
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

    def earn(self, new_lots: list[Lot] | tuple[Lot, ...]) -> Account:
        """Add lots; debt is paid off first, from the lots that expire first."""
        debt = self.debt
        added: list[Lot] = []
        for lot in sorted(new_lots, key=_expiry_order):
            pay = min(debt, lot.points)
            debt -= pay
            if lot.points - pay:
                added.append(replace(lot, points=lot.points - pay))
        return Account(self._merge(list(self.lots) + added), debt)

    def take(self, points: int, on: date, allow_debt: bool) -> Account:
        """Take ``points`` from the live lots, first-to-expire first. Shortfall becomes debt if allowed."""
        if points <= 0:
            return self
        remaining = points
        taken: dict[int, int] = {}
        ordered = sorted(
            (i for i, lot in enumerate(self.lots) if lot.live_on(on) and lot.points),
            key=lambda i: _expiry_order(self.lots[i]),
        )
        for i in ordered:
            if not remaining:
                break
            part = min(remaining, self.lots[i].points)
            taken[i] = part
            remaining -= part
        if remaining and not allow_debt:
            raise ValueError("not enough points")
        lots = [
            replace(lot, points=lot.points - taken.get(i, 0)) for i, lot in enumerate(self.lots)
        ]
        return Account(tuple(lot for lot in lots if lot.points), self.debt + remaining)

    def expire(self, on: date) -> tuple[Account, list[Lot]]:
        """Drop lapsed lots; returns the new account and the lots that lapsed (for expire events)."""
        lapsed = [lot for lot in self.lots if not lot.live_on(on)]
        return Account(tuple(lot for lot in self.lots if lot.live_on(on)), self.debt), lapsed

    @staticmethod
    def _merge(lots: list[Lot]) -> tuple[Lot, ...]:
        """Lots earned the same day with the same expiry are one lot: they behave identically."""
        merged: dict[tuple[date, date | None], int] = {}
        for lot in lots:
            key = (lot.earned_at, lot.expires_at)
            merged[key] = merged.get(key, 0) + lot.points
        return tuple(sorted((Lot(p, e, x) for (e, x), p in merged.items() if p), key=_expiry_order))
