"""The report figures' definitions (domain.metrics), shared by the till's report and the ledger's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from loyalty_pos.domain.metrics import (
    Liability,
    average_lifetime_days,
    in_periods,
    liability,
    lifetime_days,
    period_days,
    period_report,
    points_value,
    redemption_rate_pct,
    retention_pct,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_liability_nets_debt_against_points_and_shows_both_apart() -> None:
    owed = liability([1200, -300, 0, 50, -1])
    assert owed == Liability(points=1250, debt=301)
    assert owed.outstanding == 949


@given(st.lists(st.integers(-(10**12), 10**12)))
def test_the_outstanding_points_are_the_sum_of_the_balances(balances: list[int]) -> None:
    owed = liability(balances)
    assert owed.outstanding == sum(balances) and owed.points >= 0 and owed.debt >= 0


def test_the_money_value_of_points_is_rounded_toward_zero() -> None:
    assert points_value(12_345, 100, "EUR") == Decimal("123.45")
    assert points_value(7, 10, "EUR") == Decimal("0.70")
    assert points_value(-15, 1000, "EUR") == Decimal("-0.01")
    assert points_value(999, 100, "JPY") == Decimal("9")


def test_a_member_who_enrolled_and_bought_on_one_day_has_a_lifetime_of_one_day() -> None:
    at = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert lifetime_days(at, at, UTC) == 1
    assert lifetime_days(datetime(2026, 1, 10, 23, tzinfo=UTC), at, UTC) == 60
    # A purchase recorded before the enrolment (a clock set wrong) counts as the same day.
    assert lifetime_days(at, datetime(2026, 3, 1, tzinfo=UTC), UTC) == 1
    # Days are the store's: 23:30 UTC on 9 March is already 10 March in Berlin.
    late = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert lifetime_days(late, at, UTC) == 2
    assert lifetime_days(late, at, BERLIN) == 1


def test_t_in_periods_is_the_average_lifetime_over_the_calendar_days_of_the_period() -> None:
    march = datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN)
    assert period_days(*march) == 31  # the clock change on 29 March makes no short month
    clock_change = datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN)
    assert period_days(*clock_change) == 1
    assert average_lifetime_days([70, 1]) == Decimal("35.5")
    assert average_lifetime_days([]) is None
    assert in_periods(Decimal(62), *march) == 2
    assert in_periods(None, *march) is None


def test_the_period_counts_its_refunds_and_the_money_paid_back() -> None:
    """A store owner reads refunds on their own line: before, a refund only showed as points
    issued and redeemed going down."""
    day = datetime(2026, 11, 23, tzinfo=UTC)

    def at(hour: int) -> str:
        return day.replace(hour=hour).isoformat()

    events = [
        {
            "type": "checkout",
            "occurred_at": at(9),
            "member_id": "M1",
            "due_minor": 1019,
            "points_earned": 103,
            "points_redeemed": 500,
        },
        {
            "type": "refund",
            "occurred_at": at(10),
            "member_id": "M1",
            "refund_minor": 939,
            "points_reversed": 103,
            "points_restored": 461,
        },
        {
            "type": "refund",
            "occurred_at": at(11),
            "member_id": None,
            "refund_minor": 80,
            "points_reversed": 0,
            "points_restored": 0,
        },
        {
            "type": "refund",
            "occurred_at": "2026-11-24T09:00:00+00:00",
            "member_id": None,
            "refund_minor": 500,
            "points_reversed": 0,
            "points_restored": 0,
        },  # the next day
    ]
    report = period_report(
        events, day, datetime(2026, 11, 24, tzinfo=UTC), currency="EUR", points_per_unit=100
    )
    assert (report["refunds"], report["refunded"]) == (2, "10.19")
    assert (report["issued"], report["redeemed"]) == (0, 39)


def test_the_redemption_rate_of_a_period_that_issued_no_points_or_fewer_than_none_is_not_a_figure() -> (
    None
):
    """QA: refunds of September's sales on a day with few sales made "points issued -227" and
    "redemption rate -3553.74%"; the rate is left out (`-`) when nothing was issued net."""
    assert redemption_rate_pct(8067, -227) is None
    assert redemption_rate_pct(0, 0) is None
    assert redemption_rate_pct(500, 400) == 125  # returns: over 100 % stays a figure
    assert redemption_rate_pct(0, 400) == 0


@given(
    start=st.sets(st.integers(0, 30)),
    end=st.sets(st.integers(0, 30)),
    new=st.sets(st.integers(31, 40)),
)
def test_retention_counts_the_members_kept_from_the_start_and_stays_within_0_and_100(
    start: set[int], end: set[int], new: set[int]
) -> None:
    """QA: one member active at the start, four at the end (three back after months away):
    retention 400 %, churn -300 %. E - N is the members of S still active."""
    ids = {str(i) for i in start}, {str(i) for i in end | new}, {str(i) for i in new}
    rate = retention_pct(*ids)
    if not start:
        assert rate is None
    else:
        assert rate is not None and 0 <= rate <= 100
        assert abs(rate * len(start) - 100 * len(start & end)) < Decimal("1e-20")
    assert retention_pct({"a"}, {"a", "b", "c", "d"}, set()) == 100
    assert retention_pct({"a", "b"}, {"b", "c", "n"}, {"n"}) == 50
