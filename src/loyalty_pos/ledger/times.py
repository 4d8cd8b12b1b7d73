"""Instants as the ledger stores them (integer microseconds since the epoch, UTC) and as people
type them (ISO dates or date-times), kept in one place so the store and the reports agree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from loyalty_pos.domain.errors import Refused

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
    """``YYYY-MM-DD`` (midnight UTC; with ``end_of_day`` the next midnight, so the day counts) or
    an ISO date-time (UTC when it has no offset)."""
    text = text.strip()
    day_only = len(text) == 10
    try:
        if day_only:
            day = date.fromisoformat(text)
            when = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            when = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(
            f"{what} {text[:40]!r} is not a date (YYYY-MM-DD) or an ISO date-time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not EPOCH <= when < LATEST:
        raise Refused(f"{what} {text[:40]!r} is out of range (1970 to 8999)")
    return when + timedelta(days=1) if day_only and end_of_day else when
