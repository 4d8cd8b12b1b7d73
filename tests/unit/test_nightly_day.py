"""Which store day the nightly job reports when it is not told."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from loyalty_pos.nightly import report_day


@pytest.mark.parametrize(
    ("now", "day"),
    [
        ("2026-11-24T02:30:00+01:00", date(2026, 11, 23)),  # the shipped timer: the day that ended
        ("2026-11-24T00:00:00+01:00", date(2026, 11, 23)),
        ("2026-11-24T11:59:59+01:00", date(2026, 11, 23)),
        ("2026-11-24T12:00:00+01:00", date(2026, 11, 24)),  # after closing: the day just done
        ("2026-11-24T23:30:00+01:00", date(2026, 11, 24)),
        ("2026-03-01T02:30:00+01:00", date(2026, 2, 28)),
    ],
)
def test_the_nightly_job_reports_the_day_that_ended_last(now: str, day: date) -> None:
    assert report_day(datetime.fromisoformat(now)) == day
