"""Instants as the ledger stores them (integer microseconds since the epoch, UTC) and as people
type them (ISO dates or date-times), kept in one place so the store and the reports agree."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from loyalty_pos.domain.errors import Refused
from loyalty_pos.domain.zones import MachineZone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Instants typed by people are refused from here on (a window counted from one stays a date).
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(when: datetime) -> int:
    return (when - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str, what: str, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (that day's midnight on this machine's clock; with ``end_of_day`` the next
    day's, so the day counts) or an ISO date-time (on this machine's clock when it has no
    offset). The machine's clock is the store's, as for the expiry run's day: a report of a
    day is the store's day, the one its tills' reports count."""
    text = text.strip()
    day_only = len(text) == 10
    try:
        if day_only:
            day = date.fromisoformat(text)
            if end_of_day and day < date.max:
                day += timedelta(days=1)
            when = datetime.combine(day, time())
        else:
            when = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(
            f"{what} {text[:40]!r} is not a date (YYYY-MM-DD) or an ISO date-time"
        ) from None
    if when.tzinfo is None:
        # a day from the ends of the calendar is refused before it meets the clock; 1 January
        # 1970 east of Greenwich, before the epoch by the zone's offset, starts at the epoch
        if not EPOCH <= when.replace(tzinfo=UTC) < LATEST:
            raise Refused(f"{what} {text[:40]!r} is out of range (1970 to 8999)")
        # the machine's zone with its clock changes, so the period's days (a member's days in
        # it) are counted as the store's across a change, not in the offset of its first day
        when = max(when.replace(tzinfo=MachineZone()), EPOCH)
    if not EPOCH <= when < LATEST:
        raise Refused(f"{what} {text[:40]!r} is out of range (1970 to 8999)")
    return when
