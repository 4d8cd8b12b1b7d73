"""A plain, slow reference of DESIGN.md §5 steps 1-7 and §6, for differential tests of the quote.

Written from the design and README's "Decisions taken where the design was silent", not from
``domain/quote.py``: every amount is an exact ``Fraction`` (money counted in minor units), free
units and punches are counted one unit at a time, the largest points payment is searched for
step by step. Slow and obvious on purpose; ``test_quote_reference.py`` compares it with the
engine field by field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from loyalty_pos.domain.money import exponent
from loyalty_pos.domain.program import Program, Promotion

MOST_POINTS_A_SALE = 10**12  # README: one sale pays and earns at most 10^12 points
WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class Line:
    sku: str
    qty: int
    unit_price: Decimal
    category: str


@dataclass(frozen=True)
class Member:
    balance: int
    tier: str
    qualifying_spend: Decimal
    punch: Mapping[str, int] = field(default_factory=dict)
    birthday: date | None = None
    last_birthday_bonus: date | None = None
    status: str = "active"


@dataclass
class Result:
    """What the reference says of one checkout; money as exact fractions of the currency unit."""

    refused: set[str] = field(default_factory=set)  # the limits a points payment breaks
    total: Fraction = Fraction(0)
    discount: Fraction = Fraction(0)
    points_redeemed: int = 0
    points_value: Fraction = Fraction(0)
    due: Fraction = Fraction(0)
    base: Fraction = Fraction(0)
    breakdown: list[tuple[str, int]] = field(default_factory=list)
    points_earned: int = 0
    lots: dict[tuple[date, date | None], int] = field(default_factory=dict)
    punch_after: dict[str, int] = field(default_factory=dict)
    birthday_awarded: bool = False
    balance_after: int | None = None
    tier_before: str | None = None
    tier_after: tuple[str, Fraction, str | None, Fraction | None] | None = None


def frac(amount: Decimal) -> Fraction:
    return Fraction(amount)


def floor_to_minor(amount: Fraction, currency: str) -> Fraction:
    """Toward zero at the minor unit (README: money is quantized toward zero)."""
    scale = 10 ** exponent(currency)
    minor = math.floor(amount * scale) if amount >= 0 else -math.floor(-amount * scale)
    return Fraction(minor, scale)


def promotion_runs(promo: Promotion, now: datetime) -> bool:
    day = now.date()
    if promo.starts is not None and day < promo.starts:
        return False
    if promo.ends is not None and day > promo.ends:
        return False
    if promo.weekdays and WEEKDAY_NAMES[day.weekday()] not in promo.weekdays:
        return False
    return True


def tier_for(
    program: Program, spend: Fraction
) -> tuple[str, Fraction, str | None, Fraction | None]:
    """(tier, spend, next tier, spend to it): the highest tier whose threshold the spend reaches."""
    reached = [t for t in program.tiers if frac(t.min_spend) <= spend]
    tier = reached[-1] if reached else program.tiers[0]
    index = list(program.tiers).index(tier)
    if index + 1 < len(program.tiers):
        nxt = program.tiers[index + 1]
        return tier.name, spend, nxt.name, frac(nxt.min_spend) - spend
    return tier.name, spend, None, None


def birthday_in(birthday: date, year: int) -> date:
    """The birthday in ``year``; 29 February is 28 February in a common year (README)."""
    if birthday.month == 2 and birthday.day == 29:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return date(year, 2, 29 if leap else 28)
    return birthday.replace(year=year)


def birthday_bonus_due(promo: Promotion, member: Member, today: date) -> bool:
    if member.birthday is None:
        return False
    near = any(
        abs((today - birthday_in(member.birthday, year)).days) <= promo.window_days
        for year in (today.year - 1, today.year, today.year + 1)
    )
    if not near:
        return False
    # at most once in 365 days (README: from the 365th day after the last one on)
    return member.last_birthday_bonus is None or (today - member.last_birthday_bonus).days >= 365


def points_money(program: Program, points: int) -> int:
    """Minor units that ``points`` buy: the largest amount costing a whole number of points."""
    scale = 10 ** exponent(program.currency)
    ppu = program.redeem.points_per_unit
    minor = points * scale // ppu
    while minor > 0 and (minor * ppu) % scale:
        minor -= 1
    return minor


def points_of(program: Program, minor: int) -> int:
    scale = 10 ** exponent(program.currency)
    points = Fraction(minor * program.redeem.points_per_unit, scale)
    assert points.denominator == 1
    return int(points)


def quote(
    program: Program,
    lines: Sequence[Line],
    member: Member | None,
    now: datetime,
    redeem: int | str | None = None,
    offline_cap: int | None = None,
) -> Result:
    cur = program.currency
    scale = 10 ** exponent(cur)
    r = Result()
    today = now.date()

    # 1. Line totals, free units counted one by one.
    free_rule: dict[str, Promotion] = {}
    for promo in program.promotions:
        if promo.kind == "nth_free" and promotion_runs(promo, now):
            free_rule.setdefault(promo.sku, promo)
    counted_in_basket: dict[str, int] = {}
    punch = dict(member.punch) if member is not None else {}
    touched: set[str] = set()
    paid_by_line: list[Fraction] = []
    for line in lines:
        price = frac(line.unit_price)
        paid = Fraction(0)
        promo = free_rule.get(line.sku)
        for _ in range(line.qty):
            free = False
            if promo is not None and promo.scope == "basket":
                counted_in_basket[line.sku] = counted_in_basket.get(line.sku, 0) + 1
                free = counted_in_basket[line.sku] % promo.every == 0
            elif promo is not None and promo.scope == "member" and member is not None:
                if line.sku not in touched:
                    touched.add(line.sku)
                    if punch.get(line.sku, 0) >= promo.every:  # counts from its last multiple
                        punch[line.sku] = punch[line.sku] % promo.every
                punch[line.sku] = punch.get(line.sku, 0) + 1
                if punch[line.sku] == promo.every:
                    free = True
                    punch[line.sku] = 0
            if free:
                r.discount += price
            else:
                paid += price
        paid_by_line.append(paid)
    r.total = sum(paid_by_line, Fraction(0))
    r.punch_after = punch
    total_minor = int(r.total * scale)

    # 2. Points payment.
    rules = program.redeem
    if redeem == "max":
        minor = 0
        if (
            member is not None
            and member.status not in ("frozen", "provisional")
            and member.balance >= 0
        ):
            most = min(
                max(total_minor - int(rules.min_cash * scale), 0),
                math.floor(Fraction(total_minor) * frac(rules.max_share)),
                points_money(program, member.balance),
                points_money(program, MOST_POINTS_A_SALE),
                points_money(program, max(offline_cap, 0))
                if offline_cap is not None
                else total_minor,
            )
            minor = most
            while minor > 0 and (minor * rules.points_per_unit) % scale:
                minor -= 1
            if points_of(program, minor) < rules.min_points:
                minor = 0
    elif isinstance(redeem, int) and redeem > 0:
        minor = points_money(program, redeem)
        charged = points_of(program, minor)
        if member is None:
            r.refused.add("no_member")
        elif member.status in ("frozen", "provisional"):
            r.refused.add(member.status)
        elif member.balance < 0:
            r.refused.add("negative_balance")
        else:  # every limit the number breaks: the refusal names one of them
            if redeem > MOST_POINTS_A_SALE:
                r.refused.add("max_points")
            if charged == 0 or charged < rules.min_points:
                r.refused.add("min_points")
            if charged > member.balance:
                r.refused.add("balance")
            if Fraction(minor, scale) > r.total - frac(rules.min_cash):
                r.refused.add("min_cash")
            if Fraction(minor, scale) > r.total * frac(rules.max_share):
                r.refused.add("max_share")
            if offline_cap is not None and charged > offline_cap:
                r.refused.add("offline_cap")
        if r.refused:
            return r
    else:
        minor = 0
    r.points_value = Fraction(minor, scale)
    r.points_redeemed = points_of(program, minor)
    r.due = r.total - r.points_value

    # 3. Earning base.
    earn = program.earn
    by_category: dict[str, Fraction] = {}
    for line, paid in zip(lines, paid_by_line, strict=True):
        if line.category not in earn.excluded_categories:
            by_category[line.category] = by_category.get(line.category, Fraction(0)) + paid

    def money_share(amount: Fraction) -> Fraction:
        if earn.earn_on_points_paid or r.total == 0:
            return floor_to_minor(amount, cur)
        return floor_to_minor(amount * r.due / r.total, cur)

    r.base = money_share(sum(by_category.values(), Fraction(0)))
    if member is None or not lines:
        return r

    # 4. Base points.
    base_points = math.floor(r.base * frac(earn.points_per_unit))
    r.breakdown.append(("base", base_points))
    # 5. Tier bonus, the tier before this checkout.
    tier = next((t for t in program.tiers if t.name == member.tier), program.tiers[0])
    r.tier_before = tier.name
    tier_bonus = math.floor(base_points * (frac(tier.multiplier) - 1))
    if tier_bonus:
        r.breakdown.append(("tier", tier_bonus))
    # 6. Promotions active now, each its own line.
    cashback: list[tuple[int, int]] = []  # (points, valid days)
    for promo in program.promotions:
        if not promotion_runs(promo, now):
            continue
        points = 0
        if promo.kind == "category_multiplier":
            category_base = money_share(by_category.get(promo.category, Fraction(0)))
            points = math.floor(
                category_base * frac(earn.points_per_unit) * (frac(promo.multiplier) - 1)
            )
        elif promo.kind == "threshold_bonus":
            points = promo.bonus if r.base >= frac(promo.min_spend) else 0
        elif promo.kind == "birthday_bonus":
            if birthday_bonus_due(promo, member, today):
                points = promo.bonus
                r.birthday_awarded = True
        elif promo.kind == "cashback":
            category_base = money_share(by_category.get(promo.category, Fraction(0)))
            points = math.floor(category_base * frac(promo.percent) / 100 * rules.points_per_unit)
            if points:
                cashback.append((points, promo.valid_days))
        if points:
            r.breakdown.append((f"promo:{promo.id}", points))
    r.points_earned = sum(points for _, points in r.breakdown)

    # 7. Lots, balance, tier after.
    def add_lot(points: int, days: int) -> None:
        if points:
            key = (today, today + timedelta(days=days) if days else None)
            r.lots[key] = r.lots.get(key, 0) + points

    add_lot(r.points_earned - sum(p for p, _ in cashback), program.expiry_days)
    for points, days in cashback:
        add_lot(points, days)
    r.balance_after = member.balance + r.points_earned - r.points_redeemed
    r.tier_after = tier_for(program, frac(member.qualifying_spend) + r.due)
    return r


# §6: lots and spending ------------------------------------------------------------------------


def spendable(lots: Sequence[tuple[int, date, date | None]], debt: int, today: date) -> int:
    """Live lots (a lot lapses as its ``expires_at`` day begins) less debt."""
    return sum(p for p, _, expires in lots if expires is None or today < expires) - debt


def spend(
    lots: Sequence[tuple[int, date, date | None]], points: int, today: date
) -> tuple[list[tuple[int, date, date | None]], list[tuple[int, date, date | None]]]:
    """(lots left, points taken from each): the lots that expire first are spent first."""
    left = [list(lot) for lot in lots]
    order = sorted(
        (i for i, (p, _, x) in enumerate(lots) if p and (x is None or today < x)),
        key=lambda i: (lots[i][2] or date.max, lots[i][1]),
    )
    taken: list[tuple[int, date, date | None]] = []
    for i in order:
        if not points:
            break
        part = min(points, left[i][0])
        left[i][0] -= part
        points -= part
        taken.append((part, lots[i][1], lots[i][2]))
    assert points == 0, "not enough points"
    return [(p, e, x) for p, e, x in left if p], taken


def by_dates(lots: Sequence[tuple[int, date, date | None]]) -> dict[tuple[date, date | None], int]:
    out: dict[tuple[date, date | None], int] = {}
    for points, earned, expires in lots:
        if points:
            out[(earned, expires)] = out.get((earned, expires), 0) + points
    return out
