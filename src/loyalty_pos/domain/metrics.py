"""Program metrics for a period (DESIGN.md §10): one set of definitions for the terminal's
end-of-day report (``period_report``, from its journal) and the ledger's summary
(``ledger/report.py``, from its tables), so that both mean the same by every figure.

Definitions (written down because every program defines them a little differently):

- The period is ``[start, end)``; points, checkouts and members are placed by the event's
  ``occurred_at`` (when the sale happened).
- issued = points earned at checkouts − points reversed by refunds (the design's
  ``program:issued`` account); redeemed = points paid at checkouts − points given back by
  refunds; adjusted = points put in by adjustments − points taken out (``program:adjusted``),
  whoever made them, kept apart from issued.
- redemption rate % = redeemed / issued, shown only where it says something: between 0 and
  1,000 % (``REDEMPTION_RATE_MAX_PCT``). A period that issued no points net, or fewer than a
  tenth of what it redeemed (members paying with points earned in earlier periods on a quiet
  day: 2,000 redeemed against 9 issued read 22,222 %), or whose refunds gave back more points
  than its sales took, has no rate, and says why (``redemption_rate_note``).
- outstanding (the program's liability) = the sum of the members' balances at ``end``: a member's
  debt nets against the others' points (DESIGN.md §9). Beside it, apart: the points of the
  members whose balance is positive and the debt of those whose balance is negative, so that
  outstanding = points − debt (``Liability``). Its money value is at the program's redemption
  rate, toward zero at the minor unit.
- engagement % = checkouts with a member / all checkouts.
- m, average check = money due of checkouts with a member / their number, at the minor unit.
- a, repeat purchases = checkouts with a member / distinct members who bought, to the hundredth.
- t, average lifetime = for the members who bought in the period, the calendar days from the day
  of their enrolment to the day of their last purchase in the period, both counted (enrolled and
  bought on one day: 1 day; a member a terminal did not enrol from the enrolment its ledger told
  it of, else from their first purchase on record),
  averaged; in periods: those days / the calendar days of the period, to the hundredth. Days
  are those of the period's time zone (the store's at a terminal, UTC at the ledger unless
  asked otherwise).
- LTV = m × a × t, t in periods, of the figures as the report shows them (``ltv_figures``), so
  that a reader who multiplies them gets the LTV shown, to the cent.
- A period without a checkout with a card has no m, a, t or LTV (None: "n/a" in the reports,
  null in their JSON), at the till as at the ledger: no sales is not sales of 0.00. Nor has a
  period without a checkout an engagement.
- One rounding rule for every figure shown: half to even (``ROUNDING``), at the minor unit for
  money, to the hundredth for ratios and percentages; money is Decimal, never a float.
- A member is *active* at an instant when they enrolled or bought in the ``active_days`` before
  it. S = active at ``start``, E = active at ``end``, N = members enrolled in the period;
  retention % = (E − N) / S × 100, churn % = 100 − retention (none when S = 0), where E − N
  counts the members of S still active at ``end`` (*kept*, shown beside S): E also holds members
  back after more than ``active_days`` away and members a till sees for the first time, who
  were not kept from the start, so E − N as printed need not be the kept (QA: S 1, E 2, N 0
  beside a retention of 100 %).
- members with a negative balance: at ``end``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from .money import from_minor, quantize

_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Liability:
    """Members' balances at an instant, summed.

    Attributes:
        points: the sum of the positive balances.
        debt: the sum of the negative balances, as a positive number.
    """

    points: int = 0
    debt: int = 0

    @property
    def outstanding(self) -> int:
        """The design's liability: debt nets against points."""
        return self.points - self.debt


def liability(balances: Iterable[int]) -> Liability:
    points = debt = 0
    for balance in balances:
        if balance > 0:
            points += balance
        else:
            debt -= balance
    return Liability(points, debt)


def points_value(points: int, points_per_unit: int, currency: str) -> Decimal:
    """What ``points`` pay at ``points_per_unit`` points per unit, toward zero at the minor unit."""
    return quantize(Decimal(points) / points_per_unit, currency)


def ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    share = ratio(part, whole)
    return None if share is None else share * 100


#: The highest redemption rate a report shows. Over 100 % is a figure (members paid with points
#: of earlier periods, returns took points back), but past ten times the points issued the
#: quotient is made by a tiny denominator and says nothing of the program (QA: 22,222 %).
REDEMPTION_RATE_MAX_PCT = Decimal(1000)


def redemption_rate_pct(redeemed: int, issued: int) -> Decimal | None:
    """Points redeemed per hundred issued in a period, both net of refunds; None when that is
    not a figure worth reading (``redemption_rate_note`` says why)."""
    if issued <= 0 or redeemed < 0:
        return None
    rate = Decimal(redeemed) * 100 / issued
    return rate if rate <= REDEMPTION_RATE_MAX_PCT else None


def redemption_rate_note(redeemed: int, issued: int) -> str | None:
    """Why a period has no redemption rate (None: it has one), in a few words for the report."""
    if issued <= 0:
        return "no points issued" if issued == 0 else "refunds took back more than was issued"
    if redeemed < 0:
        return "refunds gave back more than was redeemed"
    if redemption_rate_pct(redeemed, issued) is None:
        return "few points issued"
    return None


def lifetime_days(enrolled: datetime, last_purchase: datetime, tz: tzinfo | None) -> int:
    """A member's lifetime: the days from their enrolment's to their last purchase's, both
    counted, in ``tz``; a purchase recorded before the enrolment (a clock set wrong) makes 1."""
    first = enrolled.astimezone(tz).date()
    last = last_purchase.astimezone(tz).date()
    return max((last - first).days, 0) + 1


def period_days(start: datetime, end: datetime) -> int:
    """The calendar days ``[start, end)`` touches, the first in ``start``'s time zone and the
    last in ``end``'s (a store-local day of a clock change is one day, though 23 or 25 hours
    long, in a named zone or asked of the ledger from 00:00+02:00 to 00:00+01:00, when a
    fixed offset read the 25th hour as a second day)."""
    last = (end - _US).date()
    return max((last - start.date()).days + 1, 1)


def average_lifetime_days(lifetimes: Iterable[int]) -> Decimal | None:
    """t in days: the average of the buyers' ``lifetime_days``; None without buyers."""
    total = n = 0
    for days in lifetimes:
        total += days
        n += 1
    return Decimal(total) / n if n else None


def in_periods(lifetime: Decimal | None, start: datetime, end: datetime) -> Decimal | None:
    """t in periods: days over the period's ``period_days``."""
    return None if lifetime is None else lifetime / period_days(start, end)


#: The rounding of every figure a report shows (money at the minor unit, ratios to the
#: hundredth): one rule, so that figures computed from others add up.
ROUNDING = ROUND_HALF_EVEN
_HUNDREDTH = Decimal("0.01")


def hundredths(value: Decimal) -> Decimal:
    """A ratio or a percentage as a report shows it."""
    return value.quantize(_HUNDREDTH, ROUNDING)


@dataclass(frozen=True, slots=True)
class LtvFigures:
    """The figures of the LTV, each as the report shows it (None: no member bought).

    Attributes:
        m_minor: the average check with a card, in minor units (money at the minor unit).
        a: purchases per member who bought, to the hundredth.
        lifetime_days: t in days, to the hundredth.
        t: t in periods, to the hundredth.
        ltv_minor: m × a × t of the three above, in minor units.
    """

    m_minor: int | None
    a: Decimal | None
    lifetime_days: Decimal | None
    t: Decimal | None
    ltv_minor: int | None


def ltv_figures(
    paid_minor: int,
    card_checkouts: int,
    buyers: int,
    lifetime: Decimal | None,
    start: datetime,
    end: datetime,
) -> LtvFigures:
    """m, a, t and LTV = m × a × t from the money due of the period's checkouts with a card
    (``paid_minor``), their number, the members who made them and their average lifetime in
    days: each rounded once as it is shown, the LTV computed from the rounded three, so that
    the report's figures add up (QA: 8.18 x 1.50 x 12.00 shown over an LTV of 147.36, the
    product of the unrounded ones, and an m floored where the rest was rounded)."""
    if not card_checkouts or not buyers or lifetime is None:
        return LtvFigures(None, None, None, None, None)
    m_minor = int((Decimal(paid_minor) / card_checkouts).to_integral_value(ROUNDING))
    a = hundredths(Decimal(card_checkouts) / buyers)
    days = hundredths(lifetime)
    t = hundredths(lifetime / period_days(start, end))  # in_periods, rounded
    return LtvFigures(m_minor, a, days, t, int((m_minor * a * t).to_integral_value(ROUNDING)))


def average_minor(total_minor: int, n: int) -> int | None:
    """An average amount of money, in minor units, rounded as the report rounds (None: n = 0)."""
    return int((Decimal(total_minor) / n).to_integral_value(ROUNDING)) if n else None


def in_active_window(when: datetime, at: datetime, active_days: int) -> bool:
    """Whether an enrolment or a purchase at ``when`` makes its member active at ``at``."""
    return at - timedelta(days=active_days) <= when < at


def kept(active_start: Set[str], active_end: Set[str], new: Set[str]) -> Set[str]:
    """The members of S still active at the end: E - N of the retention, as counted."""
    return (active_end - new) & active_start


def retention_pct(active_start: Set[str], active_end: Set[str], new: Set[str]) -> Decimal | None:
    """(E - N) / S, with E - N counted as the members of S still active at the end (``kept``):
    a member who came back after more than the active days was not active at the start and is
    not kept from it (with them, a quiet month followed by a busy day read 1400 % and churn
    -1300 %). A member new in the period was not active at its start, so none of N is in S."""
    return percent(len(kept(active_start, active_end, new)), len(active_start))


def decimal_text(value: Decimal | None) -> str | None:
    """A report's figure or percentage as text, to the hundredth (the till's and the ledger's
    reports write them alike)."""
    return None if value is None else str(hundredths(value))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _money_text(minor: int | None, currency: str) -> str | None:
    return None if minor is None else str(from_minor(minor, currency))


def period_report(
    events: Iterable[Mapping[str, Any]],
    start: datetime,
    end: datetime,
    *,
    currency: str,
    points_per_unit: int,
    rejected: int = 0,
    active_days: int = 90,
    enrolled: Callable[[str], datetime | None] | None = None,
) -> dict[str, Any]:
    """Figures for ``start <= occurred_at < end`` from a terminal's journal (those of the
    members' balances are ``balance_figures``). ``enrolled`` tells when a member the journal
    has no enrolment of was enrolled (elsewhere: the ledger's word), for their lifetime; without
    it, or without an answer, their first purchase in the journal stands for it."""
    issued = redeemed = adjusted = 0
    all_checkouts = card_checkouts = 0
    refunds = refunded_minor = 0
    paid_minor = 0
    per_member: dict[str, int] = {}
    enrolled_at: dict[str, datetime] = {}
    first_buy: dict[str, datetime] = {}
    last_buy: dict[str, datetime] = {}  # in the period, the latest in time
    new: set[str] = set()
    active_start: set[str] = set()
    active_end: set[str] = set()
    for event in events:
        at = datetime.fromisoformat(str(event["occurred_at"]))
        if at >= end:
            continue
        kind = event.get("type")
        member = event.get("member_id")
        if member and kind in ("enroll", "checkout"):
            # the earliest in time: a clock set back records a moment before the one before it
            if kind == "enroll":
                enrolled_at[member] = min(at, enrolled_at.get(member, at))
            else:
                first_buy[member] = min(at, first_buy.get(member, at))
            if in_active_window(at, start, active_days):
                active_start.add(member)
            if in_active_window(at, end, active_days):
                active_end.add(member)
        if at < start:
            continue
        if kind == "checkout":
            all_checkouts += 1
            issued += int(event.get("points_earned") or 0)
            redeemed += int(event.get("points_redeemed") or 0)
            if member:
                card_checkouts += 1
                paid_minor += int(event.get("due_minor") or 0)
                per_member[member] = per_member.get(member, 0) + 1
                last_buy[member] = max(at, last_buy.get(member, at))
        elif kind == "refund":
            refunds += 1
            refunded_minor += int(event.get("refund_minor") or 0)
            issued -= int(event.get("points_reversed") or 0)
            redeemed -= int(event.get("points_restored") or 0)
        elif kind == "adjust":
            adjusted += int(event.get("points") or 0)
        elif kind == "enroll" and member:
            new.add(member)

    def enrolment(member: str) -> datetime:
        if member in enrolled_at:
            return enrolled_at[member]
        told = enrolled(member) if enrolled is not None else None
        return told if told is not None else first_buy[member]

    lifetime = average_lifetime_days(
        lifetime_days(enrolment(x), last, start.tzinfo) for x, last in last_buy.items()
    )
    f = ltv_figures(paid_minor, card_checkouts, len(per_member), lifetime, start, end)
    retention = decimal_text(retention_pct(active_start, active_end, new))
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "issued": issued,
        "redeemed": redeemed,
        "adjusted": adjusted,
        "checkouts": all_checkouts,
        "checkouts_with_card": card_checkouts,
        "refunds": refunds,
        "refunded": str(from_minor(refunded_minor, currency)),
        "engagement_pct": decimal_text(percent(card_checkouts, all_checkouts)),
        "redemption_rate_pct": decimal_text(redemption_rate_pct(redeemed, issued)),
        "redemption_rate_note": redemption_rate_note(redeemed, issued),
        # No card checkout: no m, a, t or LTV (None), not 0.00, which would be sales of 0.00.
        "average_check": _money_text(f.m_minor, currency),
        "repeat_purchases": _text(f.a),
        "average_lifetime_days": _text(f.lifetime_days),
        "average_lifetime_periods": _text(f.t),
        "ltv": _money_text(f.ltv_minor, currency),
        "members_active_start": len(active_start),
        "members_kept": len(kept(active_start, active_end, new)),
        "members_active_end": len(active_end),
        "members_new": len(new),
        "retention_pct": retention,
        "churn_pct": str(Decimal(100) - Decimal(retention)) if retention is not None else None,
        "rejected_events": rejected,
    }


def balance_figures(
    balances: Mapping[str, int] | None, *, currency: str, points_per_unit: int
) -> dict[str, Any]:
    """The figures drawn from the members' ``balances`` at the period's end: the liability with
    the points and the debt apart, and who is in debt; None each when the balances are unknown."""
    if balances is None:
        return dict.fromkeys(_BALANCE_FIGURES)
    owed = liability(balances.values())
    return {
        "outstanding_points": owed.outstanding,
        "outstanding_value": str(points_value(owed.outstanding, points_per_unit, currency)),
        "outstanding_positive_balances": owed.points,
        "outstanding_debt": owed.debt,
        "negative_balances": sorted(k for k, v in balances.items() if v < 0),
    }


_BALANCE_FIGURES = (
    "outstanding_points",
    "outstanding_value",
    "outstanding_positive_balances",
    "outstanding_debt",
    "negative_balances",
)
