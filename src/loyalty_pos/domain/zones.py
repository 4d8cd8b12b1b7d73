"""The machine's own time zone, for the store's days where no zone is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

#: The years a time or a day given by a person (a report's day, a CLI ``--at``) may fall in: wider
#: than any sale or report a store makes, narrow enough that a window or an expiry counted from it
#: is still a date. A time typed with an offset is checked in the store's time and in UTC too,
#: the two it is recorded in.
YEARS = range(1970, 3000)


class MachineZone(tzinfo):
    """The machine's own time zone, clock changes and all, as ``time.localtime`` has it: the
    store's time at a till without ``timezone``, and at the ledger. ``datetime.astimezone()``
    gives the offset of one moment only, and a report cut its days at the midnights of the
    offset its clock had when it was made (made in winter, a summer day ran from 01:00 to
    01:00)."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None if dt is None else dt.replace(tzinfo=None).astimezone().utcoffset()

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None if dt is None else dt.replace(tzinfo=None).astimezone().tzname()

    def fromutc(self, dt: datetime) -> datetime:
        local = dt.replace(tzinfo=UTC).astimezone()
        wall = local.replace(tzinfo=None)
        # the second time of the hour the clocks go back has the later offset
        fold = int(wall.astimezone().utcoffset() != local.utcoffset())
        return wall.replace(tzinfo=self, fold=fold)

    def __repr__(self) -> str:
        return "MachineZone()"
