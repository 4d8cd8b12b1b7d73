"""A plain, slow reference of the report's figures (DESIGN.md §10 with docs/decisions.md
"Reports"), for differential tests of the till's end-of-day report and the ledger's summary.

Written from the design and the decisions, not from ``domain/metrics.py`` or ``reports.py``: it
takes a plain list of what happened (enrolments, sales with or without a member, refunds,
managers' adjustments), each at an instant, in the order the till recorded them (a clock set back
records a moment before the one before it), and computes every figure of a period of store-local
days with exact ``Fraction`` arithmetic, rounding each shown figure once, half to even. The
members' balances are replayed lot by lot (DESIGN.md §6, decisions "Refunds and expiry") so that
the liability at the period's end and the points expired in it can be told.

What the model leaves out, it says: a refund that takes back points its member already spent
(the till then remembers them as owed, and a later refund of the sale that spent them settles
that debt with the dates it had) is beyond this replay, and ``Figures.balances_known`` is False
from then on for that history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from fractions import Fraction

#: decisions.md: "A member is active when they enrolled or bought in the 90 days before".
ACTIVE_DAYS = 90
#: decisions.md: the redemption rate is shown only between 0 and 1,000 %.
RATE_MAX = 1000
NEVER = date.max


@dataclass(frozen=True)
class Lot:
    points: int
    earned: date
    expires: date | None  # the first day the lot cannot be spent; None: never


@dataclass(frozen=True)
class Enrol:
    at: datetime
    member: str


@dataclass(frozen=True)
class Sale:
    at: datetime
    member: str | None
    receipt: str
    due_minor: int  # money the customer paid, after points
    earned: int
    redeemed: int
    lots: tuple[Lot, ...] = ()  # the lots the points earned went into


@dataclass(frozen=True)
class Refund:
    at: datetime
    member: str | None
    receipt: str  # the sale's
    refund_minor: int
    reversed: int  # points earned by the sale taken back
    restored: int  # points paid in the sale given back
    reversed_lots: tuple[Lot, ...] = ()  # which of the sale's lots they are taken from
    restored_lots: tuple[Lot, ...] = ()  # the dates the given-back points come with


@dataclass(frozen=True)
class Adjust:
    at: datetime
    member: str
    points: int
    lots: tuple[Lot, ...] = ()  # a positive adjustment's lot


Event = Enrol | Sale | Refund | Adjust


@dataclass
class Figures:
    """The figures of one period. Money in minor units, ratios and percentages as the exact
    value of what the report shows (rounded half to even to the hundredth)."""

    issued: int = 0
    redeemed: int = 0
    adjusted: int = 0
    checkouts: int = 0
    checkouts_with_card: int = 0
    refunds: int = 0
    refunded_minor: int = 0
    engagement_pct: Fraction | None = None
    redemption_rate_pct: Fraction | None = None
    redemption_rate_note: str | None = None
    average_check_minor: int | None = None
    average_check_all_minor: int | None = None  # of every checkout (the ledger shows it)
    repeat_purchases: Fraction | None = None
    average_lifetime_days: Fraction | None = None
    average_lifetime_periods: Fraction | None = None
    ltv_minor: int | None = None
    active_start: set[str] = field(default_factory=set)
    active_end: set[str] = field(default_factory=set)
    new: set[str] = field(default_factory=set)
    kept: set[str] = field(default_factory=set)
    retention_pct: Fraction | None = None
    churn_pct: Fraction | None = None
    balances_known: bool = True
    balances: dict[str, int] = field(default_factory=dict)  # at the end, every member seen
    outstanding_points: int = 0
    outstanding_value_minor: int = 0
    positive_points: int = 0
    debt: int = 0
    negative_balances: list[str] = field(default_factory=list)
    expired: int = 0


def half_even(value: Fraction, places: int) -> Fraction:
    """``value`` rounded to ``places`` decimals, a half going to the even neighbour."""
    scaled = value * 10**places
    whole = math.floor(scaled)
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    return Fraction(whole, 10**places)


def toward_zero(value: Fraction) -> int:
    return math.floor(value) if value >= 0 else -math.floor(-value)


def local_day(at: datetime, zone: tzinfo) -> date:
    return at.astimezone(zone).date()


def midnight(day: date, zone: tzinfo) -> datetime:
    """The instant the store-local ``day`` begins."""
    return datetime.combine(day, time(), zone)


# -- the members' points, lot by lot -----------------------------------------------------------


def _order(lot: Lot | Held) -> tuple[date, date]:
    return (lot.expires or NEVER, lot.earned)


def _live(lot: Lot | Held, day: date) -> bool:
    return lot.expires is None or day < lot.expires


@dataclass
class Held:
    """A member's lot as it stands: the points still in it."""

    points: int
    earned: date
    expires: date | None
    lapsed: bool = False  # its expiry day has begun (the replay has passed it)


@dataclass
class Points:
    """One member's lots (live and lapsed) and debt."""

    lots: list[Held] = field(default_factory=list)
    debt: int = 0
    #: the model no longer follows this member exactly (points owed, see the module's doc)
    lost: bool = False

    def find(self, earned: date, expires: date | None) -> Held:
        for lot in self.lots:
            if (lot.earned, lot.expires) == (earned, expires):
                return lot
        lot = Held(0, earned, expires)
        self.lots.append(lot)
        return lot

    def live_by_expiry(self, day: date) -> list[Held]:
        return sorted((x for x in self.lots if x.points and _live(x, day)), key=_order)

    def balance(self, day: date) -> int:
        return sum(x.points for x in self.live_by_expiry(day)) - self.debt

    def take(self, points: int, day: date) -> None:
        """From the live points, the first to expire first; what they lack becomes debt."""
        for lot in self.live_by_expiry(day):
            part = min(points, lot.points)
            lot.points -= part
            points -= part
        self.debt += points

    def earn(self, lots: Iterable[Lot]) -> None:
        """New points pay the debt first, from the lot that expires first."""
        for new in sorted(lots, key=_order):
            pay = min(self.debt, new.points)
            self.debt -= pay
            self.find(new.earned, new.expires).points += new.points - pay


@dataclass(frozen=True)
class Flow:
    """Points expired (or, negative, no longer expired) at an instant: a lot lapsing as its
    expiry day begins (``lapse``), or a refund (points given back already lapsed; points of the
    sale that lapsed unused going with it)."""

    at: datetime
    points: int
    lapse: bool

    def within(self, start: datetime, end: datetime) -> bool:
        # A lot lapses as its expiry day begins: the lapse at a period's end is the last day's
        # (the last day it could be spent), the one at its start the day before's.
        return start < self.at <= end if self.lapse else start <= self.at < end


def _replay(
    events: Sequence[Event], end: datetime, zone: tzinfo
) -> tuple[dict[str, Points], list[Flow], bool]:
    """Every member's points as they stand at ``end``, the flows of expired points up to it,
    and whether the replay is exact (no points owed)."""
    accounts: dict[str, Points] = {}
    flows: list[Flow] = []
    sales = {e.receipt: e for e in events if isinstance(e, Sale)}

    def lapse_until(account: Points, until: datetime) -> None:
        for lot in account.lots:
            if lot.expires is not None and not lot.lapsed:
                when = midnight(lot.expires, zone)
                if when <= until:
                    flows.append(Flow(when, lot.points, lapse=True))
                    lot.lapsed = True

    for event in events:  # in the order recorded: a member's points change in that order
        if event.at >= end or isinstance(event, Enrol) or event.member is None:
            continue
        account = accounts.setdefault(event.member, Points())
        lapse_until(account, event.at)
        day = local_day(event.at, zone)
        if isinstance(event, Sale):
            account.take(event.redeemed, day)
            account.earn(event.lots)
        elif isinstance(event, Adjust):
            if event.points > 0:
                account.earn(event.lots)
            else:
                account.take(-event.points, day)
        else:
            assert sales[event.receipt].member == event.member
            wanted = event.reversed
            for part in event.reversed_lots:
                lot = account.find(part.earned, part.expires)
                got = min(lot.points, part.points, wanted)
                lot.points -= got
                wanted -= got
                if lot.lapsed and got:  # lapsed unused: it goes with the sale, not expired
                    flows.append(Flow(event.at, -got, lapse=False))
                if got < part.points:
                    account.lost = True  # spent already: owed (beyond this model)
            account.take(wanted, day)
            account.earn(lot for lot in event.restored_lots if _live(lot, day))
            for back in event.restored_lots:
                if not _live(back, day):  # given back already lapsed: expired on the refund's day
                    lot = account.find(back.earned, back.expires)
                    lot.points += back.points
                    lot.lapsed = True
                    flows.append(Flow(event.at, back.points, lapse=False))
    for account in accounts.values():
        lapse_until(account, end)
    return accounts, flows, not any(a.lost for a in accounts.values())


# -- the report ----------------------------------------------------------------------------------


def _active(events: Sequence[Event], at: datetime, zone: tzinfo) -> set[str]:
    """The members who enrolled or bought (with their card) in the ``ACTIVE_DAYS`` days before
    ``at``: from the same time of day, that many calendar days earlier in the store's zone."""
    local = at.astimezone(zone)
    since = datetime.combine(local.date() - timedelta(days=ACTIVE_DAYS), local.time(), zone)
    return {
        e.member
        for e in events
        if isinstance(e, Enrol | Sale) and e.member is not None and since <= e.at < at
    }


def report(
    events: Sequence[Event],
    first: date,
    last: date,
    zone: tzinfo,
    *,
    points_per_unit: int,
    currency_places: int = 2,
    enrolled_elsewhere: Mapping[str, datetime] | None = None,
) -> Figures:
    """The figures of the store-local days ``first`` to ``last``, both included, in ``zone``.

    ``enrolled_elsewhere``: when the members this till did not enrol were enrolled (the
    ledger's word); a member neither there nor enrolled in ``events`` counts their lifetime from
    their first purchase in ``events``."""
    start, end = midnight(first, zone), midnight(last + timedelta(days=1), zone)
    f = Figures()
    within = [e for e in events if start <= e.at < end]
    for e in within:
        if isinstance(e, Sale):
            f.checkouts += 1
            f.issued += e.earned
            f.redeemed += e.redeemed
            if e.member is not None:
                f.checkouts_with_card += 1
        elif isinstance(e, Refund):
            f.refunds += 1
            f.refunded_minor += e.refund_minor
            f.issued -= e.reversed
            f.redeemed -= e.restored
        elif isinstance(e, Adjust):
            f.adjusted += e.points
        else:
            f.new.add(e.member)

    if f.checkouts:
        due_all = sum(e.due_minor for e in within if isinstance(e, Sale))
        f.average_check_all_minor = int(half_even(Fraction(due_all, f.checkouts), 0))
        f.engagement_pct = half_even(Fraction(100 * f.checkouts_with_card, f.checkouts), 2)
    if f.issued == 0:
        f.redemption_rate_note = "no points issued"
    elif f.issued < 0:
        f.redemption_rate_note = "refunds took back more than was issued"
    elif f.redeemed < 0:
        f.redemption_rate_note = "refunds gave back more than was redeemed"
    elif Fraction(100 * f.redeemed, f.issued) > RATE_MAX:
        f.redemption_rate_note = "few points issued"
    else:
        f.redemption_rate_pct = half_even(Fraction(100 * f.redeemed, f.issued), 2)

    # m, a, t and the LTV: of the checkouts with a card.
    card_sales = [e for e in within if isinstance(e, Sale) and e.member is not None]
    if card_sales:
        due = sum(e.due_minor for e in card_sales)
        m = int(half_even(Fraction(due, len(card_sales)), 0))
        buyers = {e.member for e in card_sales}
        a = half_even(Fraction(len(card_sales), len(buyers)), 2)
        lifetimes = []
        for member in buyers:
            last_buy = max(e.at for e in card_sales if e.member == member)
            own = [e.at for e in events if isinstance(e, Enrol) and e.member == member]
            if own:
                since = min(own)
            elif enrolled_elsewhere and member in enrolled_elsewhere:
                since = enrolled_elsewhere[member]
            else:
                since = min(e.at for e in events if isinstance(e, Sale) and e.member == member)
            days = (local_day(last_buy, zone) - local_day(since, zone)).days
            lifetimes.append(max(days, 0) + 1)
        lifetime = Fraction(sum(lifetimes), len(lifetimes))
        calendar_days = (last - first).days + 1
        t = half_even(lifetime / calendar_days, 2)
        f.average_check_minor = m
        f.repeat_purchases = a
        f.average_lifetime_days = half_even(lifetime, 2)
        f.average_lifetime_periods = t
        f.ltv_minor = int(half_even(m * a * t, 0))

    # Retention: of the members active at the start, those still active at the end.
    before_end = [e for e in events if e.at < end]
    f.active_start = _active(before_end, start, zone)
    f.active_end = _active(before_end, end, zone)
    f.kept = (f.active_end - f.new) & f.active_start
    if f.active_start:
        f.retention_pct = half_even(Fraction(100 * len(f.kept), len(f.active_start)), 2)
        f.churn_pct = 100 - f.retention_pct

    # The balances at the end and the points that expired in the period.
    accounts, flows, exact = _replay(events, end, zone)
    f.balances_known = exact
    end_day = end.astimezone(zone).date()
    f.balances = {m: a.balance(end_day) for m, a in accounts.items()}
    f.outstanding_points = sum(f.balances.values())
    f.positive_points = sum(b for b in f.balances.values() if b > 0)
    f.debt = -sum(b for b in f.balances.values() if b < 0)
    f.negative_balances = sorted(m for m, b in f.balances.items() if b < 0)
    value = Fraction(f.outstanding_points, points_per_unit)
    f.outstanding_value_minor = toward_zero(value * 10**currency_places)
    f.expired = sum(flow.points for flow in flows if flow.within(start, end))
    return f


def booked_balances(events: Sequence[Event], end: datetime) -> dict[str, int]:
    """Each member's points moved in and out before ``end``, lapsed lots still counted: the
    ledger's booked balances before its expiry runs write anything off (DESIGN.md §9)."""
    balances: dict[str, int] = {}
    for e in events:
        if e.at >= end or isinstance(e, Enrol) or e.member is None:
            continue
        if isinstance(e, Sale):
            moved = e.earned - e.redeemed
        elif isinstance(e, Refund):
            moved = e.restored - e.reversed
        else:
            moved = e.points
        balances[e.member] = balances.get(e.member, 0) + moved
    return balances
