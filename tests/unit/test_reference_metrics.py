"""The reference of the report's figures (``reference_metrics``) on histories counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from . import reference_metrics as ref


def test_the_reference_counts_a_day_as_a_person_would_by_hand() -> None:
    """The reference itself, on a day told by hand: two sales with a card (one new member), one
    without, a refund; so that the differential tests compare against figures that are right."""
    day = date(2026, 3, 10)

    def at(hour: int) -> datetime:
        return datetime.combine(day, time(hour), UTC)

    told: list[ref.Event] = [
        ref.Enrol(at(8) - timedelta(days=30), "M1"),
        ref.Enrol(at(9), "M2"),
        ref.Sale(at(10), "M1", "R1", 1019, 103, 500),
        ref.Sale(at(11), "M2", "R2", 2000, 20, 0),
        ref.Sale(at(12), None, "R3", 300, 0, 0),
        ref.Refund(at(13), "M1", "R1", 939, 103, 461),
    ]
    f = ref.report(told, day, day, UTC, points_per_unit=100)
    assert (f.issued, f.redeemed, f.checkouts, f.checkouts_with_card) == (20, 39, 3, 2)
    assert f.engagement_pct == Fraction(6667, 100)
    assert f.redemption_rate_pct == 195 and f.redemption_rate_note is None
    # m = (10.19 + 20.00) / 2 = 15.095 -> 15.10 (half to even); a = 1; t = (31 + 1) / 2 days
    assert (f.average_check_minor, f.repeat_purchases, f.average_lifetime_days) == (1510, 1, 16)
    assert f.average_lifetime_periods == 16 and f.ltv_minor == 1510 * 16
    assert (f.active_start, f.active_end, f.new, f.kept) == ({"M1"}, {"M1", "M2"}, {"M2"}, {"M1"})
    assert f.retention_pct == 100 and f.churn_pct == 0


def test_the_reference_expires_a_lot_on_the_last_day_it_could_be_spent() -> None:
    """A cashback lot of 249 points ending on 25 March, 100 of them spent: the 149 left lapse in
    the 24th's report, none in the 25th's, and the liability at the 24th's end is without them."""
    zone = ZoneInfo("Europe/Berlin")
    bought = datetime(2026, 1, 24, 10, tzinfo=UTC)
    told: list[ref.Event] = [
        ref.Sale(
            bought,
            "M1",
            "R1",
            2495,
            249,
            0,
            (ref.Lot(249, date(2026, 1, 24), date(2026, 3, 25)),),
        ),
        ref.Sale(bought + timedelta(days=10), "M1", "R2", 219, 0, 100),
    ]
    day = ref.report(told, date(2026, 3, 24), date(2026, 3, 24), zone, points_per_unit=100)
    assert day.expired == 149 and day.outstanding_points == 0
    after = ref.report(told, date(2026, 3, 25), date(2026, 3, 25), zone, points_per_unit=100)
    assert after.expired == 0 and after.outstanding_points == 0
    before = ref.report(told, date(2026, 3, 23), date(2026, 3, 23), zone, points_per_unit=100)
    assert before.expired == 0 and before.outstanding_points == 149
    assert before.outstanding_value_minor == 149
