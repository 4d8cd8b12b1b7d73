"""The report figures' definitions (domain.metrics), shared by the till's report and the ledger's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
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
    ltv_figures,
    period_days,
    period_report,
    points_value,
    redemption_rate_note,
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
    # QA: the store's day of a clock change asked of the ledger with the offsets it begins and
    # ends in (00:00+02:00 to 00:00+01:00, 25 hours) is one day, not two (t was halved)
    summer, winter = timezone(timedelta(hours=2)), timezone(timedelta(hours=1))
    assert (
        period_days(datetime(2026, 10, 25, tzinfo=summer), datetime(2026, 10, 26, tzinfo=winter))
        == 1
    )
    assert (
        period_days(datetime(2026, 3, 29, tzinfo=winter), datetime(2026, 3, 30, tzinfo=summer)) == 1
    )
    assert (
        period_days(datetime(2026, 3, 1, tzinfo=winter), datetime(2026, 4, 1, tzinfo=summer)) == 31
    )
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
    assert redemption_rate_note(8067, -227) == "refunds took back more than was issued"
    assert redemption_rate_pct(0, 0) is None
    assert redemption_rate_note(0, 0) == "no points issued"
    assert redemption_rate_pct(500, 400) == 125  # returns: over 100 % stays a figure
    assert redemption_rate_pct(0, 400) == 0
    assert redemption_rate_note(500, 400) is redemption_rate_note(0, 400) is None


def test_a_redemption_rate_made_by_a_tiny_issue_is_not_a_figure_and_says_why() -> None:
    """QA: 2,000 points paid with points of earlier months on a day that issued 9 read
    "redemption rate 22222.22 %". Up to ten times the points issued (1,000 %) the rate is a
    figure; beyond, or below 0 (refunds gave back more than the sales took), it says why."""
    assert redemption_rate_pct(2000, 9) is None
    assert redemption_rate_note(2000, 9) == "few points issued"
    assert redemption_rate_pct(1000, 100) == 1000
    assert redemption_rate_pct(1001, 100) is None
    assert redemption_rate_pct(-300, 50) is None
    assert redemption_rate_note(-300, 50) == "refunds gave back more than was redeemed"


@given(
    paid=st.integers(0, 10**9),
    checkouts=st.integers(1, 500),
    buyers=st.integers(1, 500),
    days=st.integers(1, 5000),
    period=st.integers(1, 400),
)
def test_the_ltv_is_the_product_of_m_a_and_t_as_the_report_shows_them(
    paid: int, checkouts: int, buyers: int, days: int, period: int
) -> None:
    """QA: the report showed m 8.18, a 1.50, t 12.00 over an LTV of 147.36 (the product of the
    unrounded figures; 8.18 x 1.50 x 12.00 = 147.24), and m floored where a and t were rounded.
    A reader who multiplies the figures shown gets the LTV shown, to the cent."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=period)
    f = ltv_figures(paid, checkouts, buyers, Decimal(days) / 3, start, end)
    assert f.m_minor is not None and f.a is not None and f.t is not None
    assert f.ltv_minor is not None
    m = Decimal(f.m_minor) / 100
    assert abs(m - Decimal(paid) / checkouts / 100) <= Decimal("0.005")
    assert f.a == f.a.quantize(Decimal("0.01")) and f.t == f.t.quantize(Decimal("0.01"))
    assert Decimal(f.ltv_minor) / 100 == (m * f.a * f.t).quantize(
        Decimal("0.01"), "ROUND_HALF_EVEN"
    )


def test_the_ltv_figures_of_a_period_round_half_to_even_each_once() -> None:
    day = datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)
    # 10.00 + 1.19 + 13.37 over 3 checkouts = 818.67 minor, by 2 members, 12 days each
    f = ltv_figures(1000 + 119 + 1337, 3, 2, Decimal(12), *day)
    assert (f.m_minor, f.a, f.lifetime_days, f.t) == (819, Decimal("1.50"), 12, 12)
    assert f.ltv_minor == 14742  # 8.19 x 1.50 x 12.00
    assert ltv_figures(0, 0, 0, None, *day).ltv_minor is None


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


def test_the_end_of_day_text_says_why_a_day_has_no_redemption_rate_and_its_ltv_adds_up() -> None:
    """The store owner's day of the QA: Anna pays 2,000 points earned last month, Ben buys
    twice for 24 points: the rate reads n/a with the reason, and m x a x t as printed is the
    LTV printed."""
    from loyalty_pos.reports import report_text

    day = datetime(2026, 12, 2, tzinfo=UTC)

    def sale(member: str, hour: int, due: int, earned: int, redeemed: int = 0) -> dict:
        return {
            "type": "checkout",
            "occurred_at": day.replace(hour=hour).isoformat(),
            "member_id": member,
            "due_minor": due,
            "points_earned": earned,
            "points_redeemed": redeemed,
        }

    events = [
        {"type": "enroll", "occurred_at": "2026-11-21T09:00:00+00:00", "member_id": "A"},
        {"type": "enroll", "occurred_at": day.replace(hour=8).isoformat(), "member_id": "B"},
        sale("A", 10, 1000, 10, 2000),
        sale("B", 11, 119, 1),
        sale("B", 12, 1337, 13),
    ]
    report = period_report(
        events, day, day + timedelta(days=1), currency="EUR", points_per_unit=100
    )
    assert (report["issued"], report["redeemed"]) == (24, 2000)
    assert report["redemption_rate_pct"] is None
    assert report["redemption_rate_note"] == "few points issued"
    text = report_text({"terminal_id": "S1", **report})
    assert "Redemption rate %                            n/a\n  (few points issued)\n" in text
    figures = {line[:34].strip(): line[34:].strip() for line in text.splitlines()[3:]}
    m, a, t = (
        Decimal(figures[k])
        for k in ("Average check with a card (m)", "Purchases per member (a)", "in periods (t)")
    )
    assert (m, a, t) == (Decimal("8.19"), Decimal("1.50"), Decimal("6.50"))  # t: (12 + 1) / 2
    assert (
        Decimal(figures["LTV = m x a x t"])
        == (m * a * t).quantize(Decimal("0.01"))
        == Decimal("79.85")
    )


def test_the_end_of_day_text_shows_the_members_kept_that_retention_is_counted_on() -> None:
    """QA: a till's report read S 1, E 2, N 0 and retention 100 %: Ben, enrolled at the ledger,
    bought here for the first time, so he is active at the end without having been kept from
    the start. The members kept (K) are printed, and retention is K / S of the figures shown."""
    from loyalty_pos.reports import report_text

    day = datetime(2026, 12, 2, tzinfo=UTC)
    events = [
        {"type": "checkout", "occurred_at": "2026-11-10T10:00:00+00:00", "member_id": "A"},
        {"type": "checkout", "occurred_at": day.replace(hour=10).isoformat(), "member_id": "A"},
        {"type": "checkout", "occurred_at": day.replace(hour=11).isoformat(), "member_id": "B"},
    ]
    report = period_report(
        events, day, day + timedelta(days=1), currency="EUR", points_per_unit=100
    )
    figures = {
        line[:34].strip(): line[34:].strip()
        for line in report_text({"terminal_id": "S1", **report}).splitlines()[3:]
    }
    s, k, e, n = (
        int(figures[label])
        for label in (
            "Members active at the start (S)",
            "still active at the end (K)",
            "Members active at the end (E)",
            "New members enrolled here (N)",
        )
    )
    assert (s, k, e, n) == (1, 1, 2, 0)
    assert Decimal(figures["Retention % = K / S"]) == Decimal(100) * k / s


def test_a_period_without_card_checkouts_has_no_average_check_a_t_or_ltv() -> None:
    """QA: a day without sales showed an average check and an LTV of 0.00 at the till (sales of
    0.00) where the ledger said n/a. No sale to divide by is no figure, at both."""
    start = datetime(2001, 1, 1, tzinfo=UTC)
    cash_only = [{"type": "checkout", "occurred_at": "2001-01-01T10:00:00+00:00", "due_minor": 500}]
    for events in ([], cash_only):
        report = period_report(
            events, start, start + timedelta(days=1), currency="EUR", points_per_unit=100
        )
        for figure in ("average_check", "repeat_purchases", "average_lifetime_days"):
            assert report[figure] is None
        assert report["average_lifetime_periods"] is None and report["ltv"] is None
    assert report["engagement_pct"] == "0.00"  # one checkout, none with a card


def test_a_lifetime_runs_to_the_last_purchase_in_time_whatever_order_the_journal_has() -> None:
    """A till's clock set back (NTP, a clock put right; the clock's own moment is never
    refused) records a sale before the one before it. Ben bought at 00:30 on the 10th, then at
    23:00 on the 9th by the clock set back: his lifetime runs from the 9th, his first purchase,
    to the 10th, his last, 2 days, as the ledger counts it; the till took the journal's first
    and last (the 10th, then the 9th) and said 1."""

    def sale(at: str) -> dict:
        return {"type": "checkout", "occurred_at": at, "member_id": "M2", "due_minor": 100}

    events = [sale("2026-03-10T00:30:00+00:00"), sale("2026-03-09T23:00:00+00:00")]
    start = datetime(2026, 3, 9, tzinfo=UTC)
    report = period_report(
        events, start, start + timedelta(days=2), currency="EUR", points_per_unit=100
    )
    assert report["average_lifetime_days"] == "2.00"
    # enrolled here: from the enrolment, to the last purchase in time
    enrolled = {"type": "enroll", "occurred_at": "2026-03-01T09:00:00+00:00", "member_id": "M2"}
    report = period_report(
        [enrolled, *events], start, start + timedelta(days=2), currency="EUR", points_per_unit=100
    )
    assert report["average_lifetime_days"] == "10.00"
