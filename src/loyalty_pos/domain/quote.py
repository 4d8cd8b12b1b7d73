"""The quote: how one checkout is computed (DESIGN.md §5), and refunds by recomputation.

Every step runs in the order of the design and leaves its trace in the breakdown, so a cashier and
a store owner can see why a customer got the points they got. Money stays Decimal throughout and is
quantized toward zero at the currency's minor unit; points are floored.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_DOWN, Context, Decimal
from types import MappingProxyType
from typing import NamedTuple

from .errors import RedeemRefused, Refused
from .events import MAX_LINES, MAX_POINTS
from .lots import Lot, expiry_date, latest_first, merged, points_by_dates, taken_back
from .money import exponent, largest, over_max, quantize
from .program import Program, Promotion
from .tiers import TierStatus, tier_status

MAX = "max"
#: Products of a money amount and two rates of up to 8 decimals each have up to 18 decimals,
#: past the 28 digits of Python's default context on a large basket (which rounded
#: 221266565466.99999... extra points up to ...467). Every product of the program's bounded
#: numbers fits in 60 digits, so this context multiplies them exactly.
_EXACT = Context(prec=60)
#: ``MemberState.punch`` of a member without counters: read-only, so one can serve them all.
_NO_PUNCHES: Mapping[str, int] = MappingProxyType({})
#: Units of one item on one basket line: more is a slip (a code typed into the quantity).
MAX_QTY = 999


@dataclass(frozen=True, slots=True)
class BasketLine:
    sku: str
    name: str
    qty: int
    unit_price: Decimal
    category: str

    def __post_init__(self) -> None:
        if not 1 <= self.qty <= MAX_QTY:
            raise Refused(
                f"The quantity of {self.sku} must be from 1 to {MAX_QTY} (got {self.qty})."
            )
        if self.unit_price < 0:
            raise Refused(f"price of {self.sku} must not be negative (got {self.unit_price})")


class MemberState(NamedTuple):
    """What the quote needs to know of the member, as it stands before this checkout.

    Attributes:
        balance: spendable points now (negative when in debt).
        tier: the tier's name before this checkout.
        qualifying_spend: money paid in the tier window before this checkout.
        punch: per-SKU punch-card counters (member-scope ``nth_free``).
        status: "active", "frozen" or "provisional" (enrolled at a till, not yet seen by the ledger).

    A named tuple, as ``QuoteLine``: every sale with a card makes one.
    """

    member_id: str
    balance: int
    tier: str
    qualifying_spend: Decimal
    punch: Mapping[str, int] = _NO_PUNCHES
    birthday: date | None = None
    last_birthday_bonus: date | None = None
    status: str = "active"


class QuoteLine(NamedTuple):
    """One basket line as priced: its free units and what its paid units come to.

    ``QuoteLine``, ``BreakdownLine`` and ``Quote`` are named tuples rather than frozen
    dataclasses: as immutable, and a sale makes a dozen of them, where a frozen dataclass sets
    each field through ``object.__setattr__`` (about a tenth of a microsecond a field)."""

    line: BasketLine
    free_units: int
    line_total: Decimal


class BreakdownLine(NamedTuple):
    rule: str
    points: int
    label: str


@dataclass(frozen=True, slots=True)
class RedeemCap:
    """The largest points payment allowed now and the rule that caps it.

    Attributes:
        rule: the limit that caps the payment; ``min_points`` when what the tightest limit
            allows is less than the smallest points payment, so that nothing can be paid.
        under: with ``min_points``, that tightest limit (``balance``, ``min_cash``, ...): the
            rule that bit, for the sentence that tells the cashier why.
    """

    points: int
    value: Decimal
    rule: str
    under: str = ""


class Quote(NamedTuple):
    """A checkout as computed (``quote``); a named tuple (see ``QuoteLine``)."""

    lines: tuple[QuoteLine, ...]
    total: Decimal
    discount: Decimal
    points_redeemed: int
    points_value: Decimal
    due: Decimal
    base: Decimal
    breakdown: tuple[BreakdownLine, ...]
    points_earned: int
    lots: tuple[Lot, ...]
    punch_after: Mapping[str, int]
    birthday_awarded: bool
    balance_after: int | None
    tier_before: str | None
    tier_after: TierStatus | None
    #: Works out ``cap`` from what the quote was computed with: the limits are read when they
    #: are shown (the points window, a payment of "max"), not for every sale.
    limits: Callable[[], RedeemCap]

    @property
    def cap(self) -> RedeemCap:
        """The largest points payment allowed for this basket, and the rule that caps it."""
        return self.limits()


def _given(cap: RedeemCap) -> RedeemCap:
    return cap


def fixed_limits(cap: RedeemCap) -> Callable[[], RedeemCap]:
    """``Quote.limits`` of a cap already known."""
    return functools.partial(_given, cap)


@functools.cache
def _scale_and_step(currency: str, points_per_unit: int) -> tuple[int, int]:
    """Minor units per unit of ``currency``, and the smallest money step (in minor units) that a
    whole number of points buys exactly at ``points_per_unit``: computed once per currency and
    rate (a quote asks several times)."""
    scale = int(10 ** exponent(currency))
    return scale, scale // math.gcd(points_per_unit, scale)


def _step_minor(program: Program) -> int:
    """Smallest money step (in minor units) that a whole number of points buys exactly."""
    return _scale_and_step(program.currency, program.redeem.points_per_unit)[1]


def value_of_points(program: Program, points: int) -> Decimal:
    """Money that ``points`` buy, rounded down to a step that costs a whole number of points."""
    per_unit = program.redeem.points_per_unit
    scale, step = _scale_and_step(program.currency, per_unit)
    minor = points * scale // per_unit // step * step
    return Decimal(minor).scaleb(-exponent(program.currency))


def points_for_value(program: Program, value: Decimal) -> int:
    per_unit = program.redeem.points_per_unit
    scale = _scale_and_step(program.currency, per_unit)[0]
    return int(value * scale) * per_unit // scale


def _floor_value(program: Program, value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal(0)
    return value_of_points(program, points_for_value(program, quantize(value, program.currency)))


def _ceil_value(program: Program, value: Decimal) -> Decimal:
    """The smallest amount of at least ``value`` that a whole number of points pays."""
    if value <= 0:
        return Decimal(0)
    scale, step = _scale_and_step(program.currency, program.redeem.points_per_unit)
    minor = math.ceil(value * scale)
    return Decimal(-(-minor // step) * step).scaleb(-exponent(program.currency))


def punches(counter: int, qty: int, every: int) -> tuple[int, int]:
    """(free units, counter after) for ``qty`` units of a member punch card's SKU.

    The counter holds the punches toward the next free unit: the unit that brings it to
    ``every`` is free and starts it again at 0. A refund takes its units' punches off, so the
    counter goes below 0 when a later sale already had the free unit those punches earned: the
    member buys them again before the next free unit, as if the returned units were never bought.
    A counter of ``every`` or more (a counter kept as a running total by an earlier release, or
    two offline tills' punches added up at the ledger) counts what is past its last multiple.
    """
    if counter >= every:
        counter %= every
    after = counter + qty
    free = max(after // every, 0)
    return free, after - free * every


@dataclass(frozen=True, slots=True)
class PunchCard:
    """A member's punch card (``nth_free`` with scope ``member``) as it stands, as the member
    panel, the receipt and ``balance`` tell it.

    Attributes:
        promotion: the promotion's id.
        name: its display name ("Coffee card: 6th free").
        sku: the item it counts.
        every: the unit that brings the count to this is free.
        punches: paid units counted toward the next free one (0 to ``every - 1``; below 0 when
            a refund took back punches whose free unit was already given).
        to_free: paid units still to buy before the free one (0: the next unit is free).
    """

    promotion: str
    name: str
    sku: str
    every: int
    punches: int
    to_free: int

    @property
    def progress(self) -> str:
        """In the customer's words: "3 of 5, free after 2 more", "next one free"."""
        if self.to_free == 0:
            return "next one free"
        if self.punches < 0:  # punches a returned sale had used: no "-2 of 5"
            return f"free after {self.to_free} more"
        return f"{self.punches} of {self.every - 1}, free after {self.to_free} more"


def _free_unit_promotions(program: Program, now: datetime) -> dict[str, Promotion]:
    """The ``nth_free`` promotion that applies to each SKU at ``now``: the first active one
    (the program refuses two that may run on the same day)."""
    promos: dict[str, Promotion] = {}
    for p in program.promotions:
        if p.kind == "nth_free" and p.sku not in promos and p.active_on(now):
            promos[p.sku] = p
    return promos


def punch_cards(program: Program, punch: Mapping[str, int], now: datetime) -> tuple[PunchCard, ...]:
    """The member's punch cards running at ``now`` (every member-scope ``nth_free`` active
    then, with or without punches yet), from their counters ``punch``."""
    cards = []
    for sku, promo in _free_unit_promotions(program, now).items():
        if promo.scope != "member":
            continue
        counter = punch.get(sku, 0)
        if counter >= promo.every:  # a running total (see ``punches``)
            counter %= promo.every
        cards.append(
            PunchCard(promo.id, promo.name, sku, promo.every, counter, promo.every - 1 - counter)
        )
    return tuple(cards)


def _apply_free_units(
    program: Program, lines: Sequence[BasketLine], member: MemberState | None, now: datetime
) -> tuple[list[QuoteLine], dict[str, int]]:
    promos = _free_unit_promotions(program, now)  # by SKU
    punch = dict(member.punch) if member else {}
    seen_in_basket: dict[str, int] = {}
    result: list[QuoteLine] = []
    for line in lines:
        free = 0
        promo = promos.get(line.sku)
        if promo and (promo.scope == "basket" or member is not None):
            if promo.scope == "basket":
                before = seen_in_basket.get(line.sku, 0)
                after = before + line.qty
                free = after // promo.every - before // promo.every
                seen_in_basket[line.sku] = after
            else:
                free, punch[line.sku] = punches(punch.get(line.sku, 0), line.qty, promo.every)
        paid = line.qty - free
        result.append(QuoteLine(line, free, paid * line.unit_price))
    return result, punch


def redeem_cap(
    program: Program, total: Decimal, member: MemberState | None, offline_cap: int | None
) -> RedeemCap:
    """The largest points payment every limit allows, and which limit is the tightest."""
    rules = program.redeem
    if member is None:
        return RedeemCap(0, Decimal(0), "no_member")
    if member.status == "frozen":
        return RedeemCap(0, Decimal(0), "frozen")
    if member.status == "provisional":
        return RedeemCap(0, Decimal(0), "provisional")
    if member.balance < 0:
        return RedeemCap(0, Decimal(0), "negative_balance")
    candidates = [
        ("min_cash", max(total - rules.min_cash, Decimal(0))),
        ("max_share", total * rules.max_share),
        ("balance", value_of_points(program, member.balance)),
        # The ledger takes no event moving more points: a sale it would reject is never recorded.
        ("max_points", value_of_points(program, MAX_POINTS)),
    ]
    if offline_cap is not None:
        candidates.append(("offline_cap", value_of_points(program, max(offline_cap, 0))))
    rule, value = min(candidates, key=lambda c: c[1])
    value = _floor_value(program, value)
    points = points_for_value(program, value)
    if points and points < rules.min_points:
        return RedeemCap(0, Decimal(0), "min_points", under=rule)
    return RedeemCap(points, value, rule)


def _check_redeem(
    program: Program,
    requested: int,
    total: Decimal,
    member: MemberState | None,
    offline_cap: int | None,
) -> tuple[int, Decimal]:
    """The points charged and the money they pay for ``requested`` points, or a refusal that
    names the limit that caps what this member may pay here now: the one ``redeem_cap`` finds
    tightest, which ``"max"`` names too. Checked one limit after another, a request over two
    named the first checked (the balance before min_cash before the offline cap), and the
    cashier, told the looser figure, asked for it and was refused again."""
    if requested < 0:
        raise Refused(f"points payment must not be negative (got {requested})")
    if requested == 0:
        return 0, Decimal(0)
    if member is None:
        raise RedeemRefused("Points can only be paid with a member card.", limit="no_member")
    if member.status == "frozen":
        raise RedeemRefused("This member is frozen: points cannot be paid.", limit="frozen")
    if member.status == "provisional":
        raise RedeemRefused(
            "This card was enrolled here and the ledger has not seen it yet: it earns now and can "
            "pay once a sync has taken it to the ledger.",
            limit="provisional",
        )
    if member.balance < 0:
        raise RedeemRefused(
            f"The balance is negative ({member.balance}): points cannot be paid.",
            limit="negative_balance",
        )
    value = value_of_points(program, requested)
    points = points_for_value(program, value)
    rules = program.redeem
    cur = program.currency
    cap = redeem_cap(program, total, member, offline_cap)
    too_small = points == 0 or points < rules.min_points
    if cap.rule == "min_points":  # the tightest limit leaves less than the smallest payment
        raise RedeemRefused(
            f"No points can be paid: {cap_reason(cap, program)}.",
            limit="min_points" if too_small else cap.under,  # the one this number breaks
        )
    if points > cap.points or requested > MAX_POINTS:
        # A number over the cap breaks its limit (every amount is a whole step of money): the
        # tightest one broken. Within it, only the number asked can be over what one sale moves.
        rule = cap.rule if points > cap.points else "max_points"
        if rule == "max_points":
            said = f"One sale can pay at most {MAX_POINTS:,} points (asked {requested:,})."
        elif rule == "balance":
            asked = f"{requested} points asked"
            if points != requested:  # whole steps of money: the points that buy them are charged
                asked += f" ({points} of them pay {value} {cur})"
            said = f"{asked} but the balance is {member.balance}."
        elif rule == "min_cash":
            left = max(total - rules.min_cash, Decimal(0))
            said = (
                f"At least {quantize(rules.min_cash, cur)} {cur} must be paid in money; points "
                f"can pay at most {left} {cur} of {total} {cur}."
                if rules.min_cash
                else f"Points can pay at most the total ({total} {cur})."
            )
        elif rule == "max_share":
            said = (
                f"Points may pay at most {share_text(rules.max_share)}% of the total "
                f"({quantize(total * rules.max_share, cur)} {cur})."
            )
        else:
            assert rule == "offline_cap", cap
            left_today = max(offline_cap or 0, 0)
            said = f"Offline, this member can pay at most {left_today} more points today."
        raise RedeemRefused(said, limit=rule)
    if too_small:  # a larger payment would be taken
        step = Decimal(_step_minor(program)).scaleb(-exponent(cur))
        least = points_for_value(program, step)
        if rules.min_points > least:
            said = f"the smallest redemption ({rules.min_points} points)"
        else:  # the points of the smallest amount they can pay, not a rule of the program's
            said = f"what the smallest amount points pay costs ({step} {cur} = {least} points)"
        asked = "1 point is" if requested == 1 else f"{requested} points are"
        raise RedeemRefused(f"{asked} below {said}.", limit="min_points")
    return points, value


def share_text(share: Decimal) -> str:
    """``max_share`` as a percentage without rounding it: 0.995 is 99.5, not 100."""
    return f"{(share * 100).normalize():f}"


def cap_reason(cap: RedeemCap, program: Program) -> str:
    """Why the points payment cannot be larger, as a sentence fragment: the points window's
    "Because", and a checkout paying "max" (its ``points_limit``)."""
    rules = program.redeem
    cur = program.currency
    reasons = {
        "min_cash": f"at least {quantize(rules.min_cash, cur)} {cur} must be paid in money"
        if rules.min_cash
        else "points can pay at most the total",
        "max_share": f"points may pay at most {share_text(rules.max_share)}% of the total",
        "balance": "that is all the points the member has",
        "max_points": f"one sale may pay at most {MAX_POINTS:,} points",
        "offline_cap": (
            "the terminal is offline: a member may pay at most "
            f"{program.offline.max_redeem_points_per_member_per_day} points a day here"
        ),
        "frozen": "the member is frozen: points cannot be paid",
        "provisional": "the card was enrolled here and the ledger has not seen it yet: it can pay "
        "once a sync has taken it there",
        "negative_balance": "the balance is negative: points cannot be paid",
        "no_member": "no member card: scan or type the card first (F2)",
    }
    if cap.rule == "min_points":
        smallest = f"the smallest points payment ({rules.min_points})"
        if cap.under in ("balance", ""):
            return f"the balance is below {smallest}"
        # Another limit leaves less than the smallest payment: name it, not the balance.
        left = {
            "min_cash": "what that leaves for points",
            "offline_cap": "what is left of them today",
        }.get(cap.under, "that")
        return f"{reasons.get(cap.under, cap.under)}; {left} is below {smallest}"
    return reasons.get(cap.rule, cap.rule)


#: The birthday bonus is given at most once in this many days (DESIGN.md §5).
BIRTHDAY_BONUS_EVERY_DAYS = 365


def birthday_bonus_too_soon(last: date | None, today: date) -> bool:
    """Whether a birthday bonus on ``today`` would come too soon after the one on ``last``."""
    return last is not None and (today - last).days < BIRTHDAY_BONUS_EVERY_DAYS


def _birthday_due(promo: Promotion, member: MemberState, now: datetime) -> bool:
    if member.birthday is None:
        return False
    today = now.date()
    if birthday_bonus_too_soon(member.last_birthday_bonus, today):
        return False
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            anniversary = member.birthday.replace(year=year)
        except ValueError:  # 29 February in a common year
            anniversary = date(year, 2, 28)
        if abs((today - anniversary).days) <= promo.window_days:
            return True
    return False


def quote(
    program: Program,
    lines: Sequence[BasketLine],
    member: MemberState | None,
    now: datetime,
    redeem: int | str | None = None,
    offline_cap: int | None = None,
    forced_points_value: Decimal | None = None,
) -> Quote:
    """Compute one checkout. Raises Refused/RedeemRefused (naming the limit) on a bad request.

    ``forced_points_value`` skips the redemption limits: refunds recompute an original checkout
    with the points payment it really had.
    """
    cur = program.currency
    if member is not None and member.status == "frozen":
        if redeem not in (None, 0):
            raise RedeemRefused("This member is frozen: points cannot be paid.", limit="frozen")
        raise Refused("This member is frozen: sell without the card, or ask the manager.")

    if len(lines) > MAX_LINES:
        raise Refused(f"A basket holds at most {MAX_LINES} lines (this one has {len(lines)}).")
    # 1. Line totals, with free units.
    qlines, punch_after = _apply_free_units(program, lines, member, now)
    total = sum((q.line_total for q in qlines), Decimal(0))
    if over_max(total, cur):
        raise Refused(
            f"The basket's total {total} {cur} is more than the largest amount {largest(cur)}."
        )
    discount = sum((q.free_units * q.line.unit_price for q in qlines), Decimal(0))

    # 2. Points payment.
    limits: Callable[[], RedeemCap] = functools.partial(
        redeem_cap, program, total, member, offline_cap
    )
    if forced_points_value is not None:
        value = min(forced_points_value, total)
        redeemed = points_for_value(program, value)
    elif redeem == MAX:
        cap = limits()
        redeemed, value = cap.points, cap.value
        limits = fixed_limits(cap)
    elif redeem is None:
        redeemed, value = 0, Decimal(0)
    elif isinstance(redeem, int) and not isinstance(redeem, bool):
        redeemed, value = _check_redeem(program, redeem, total, member, offline_cap)
    else:
        raise Refused(f'points payment must be a number of points or "max" (got {redeem!r})')
    value = quantize(value, cur)
    due = total - value

    # 3. Earning base.
    earn = program.earn
    money_share = not earn.earn_on_points_paid and total

    def money_part(amount: Decimal) -> Decimal:
        """The part of ``amount`` paid in money: ``amount x due / total``, multiplied before it
        is divided so that it is exact where it can be (the whole basket's is ``due`` to the
        cent, never a cent less), then floored to the cent."""
        return quantize(amount * due / total if money_share else amount, cur, ROUND_DOWN)

    by_category: dict[str, Decimal] = {}
    for q in qlines:
        if q.line.category not in earn.excluded_categories:
            by_category[q.line.category] = (
                by_category.get(q.line.category, Decimal(0)) + q.line_total
            )
    eligible = sum(by_category.values(), Decimal(0))
    base = money_part(eligible)

    def category_base(category: str) -> Decimal:
        return money_part(by_category.get(category, Decimal(0)))

    breakdown: list[BreakdownLine] = []
    lots: list[Lot] = []
    birthday_awarded = False
    tier_before: str | None = None
    tier_after: TierStatus | None = None
    balance_after: int | None = None
    if member is not None and qlines:
        # 4. Base points.
        base_points = math.floor(base * earn.points_per_unit)
        breakdown.append(BreakdownLine("base", base_points, "Base points"))
        # 5. Tier bonus, tier as it stood before this checkout.
        tier = program.tier_named(member.tier)
        tier_before = tier.name
        tier_bonus = math.floor(base_points * (tier.multiplier - 1))
        if tier_bonus:
            breakdown.append(BreakdownLine("tier", tier_bonus, f"Tier bonus ({tier.name})"))
        # 6. Promotions active now.
        cashback: list[tuple[int, Promotion]] = []
        for promo in program.promotions:
            if not promo.active_on(now):
                continue
            points = 0
            if promo.kind == "category_multiplier":
                points = math.floor(
                    _EXACT.multiply(
                        category_base(promo.category) * earn.points_per_unit,
                        promo.multiplier - 1,
                    )
                )
            elif promo.kind == "threshold_bonus":
                points = promo.bonus if base >= promo.min_spend else 0
            elif promo.kind == "birthday_bonus" and _birthday_due(promo, member, now):
                points, birthday_awarded = promo.bonus, True
            elif promo.kind == "cashback":
                points = math.floor(
                    category_base(promo.category)
                    * promo.percent
                    / 100
                    * program.redeem.points_per_unit
                )
                if points:
                    cashback.append((points, promo))
            if points:
                breakdown.append(BreakdownLine(f"promo:{promo.id}", points, promo.name))
        earned = sum(b.points for b in breakdown)
        if earned > MAX_POINTS:
            raise Refused(f"This basket would earn {earned:,} points, more than one sale may.")
        cashback_points = sum(p for p, _ in cashback)
        if earned - cashback_points:
            lots.append(
                Lot(earned - cashback_points, now.date(), expiry_date(now, program.expiry_days))
            )
        for points, promo in cashback:
            lots.append(Lot(points, now.date(), expiry_date(now, promo.valid_days)))
        balance_after = member.balance + earned - redeemed
        tier_after = tier_status(program, member.qualifying_spend + due)
    elif member is not None:
        tier_before = member.tier
        balance_after = member.balance - redeemed
        tier_after = tier_status(program, member.qualifying_spend + due)

    return Quote(
        lines=tuple(qlines),
        total=total,
        discount=discount,
        points_redeemed=redeemed,
        points_value=value,
        due=due,
        base=base,
        breakdown=tuple(breakdown),
        points_earned=sum(b.points for b in breakdown),
        lots=tuple(lots),
        punch_after=punch_after,
        birthday_awarded=birthday_awarded,
        balance_after=balance_after,
        tier_before=tier_before,
        tier_after=tier_after,
        limits=limits,
    )


@dataclass(frozen=True, slots=True)
class OriginalSale:
    """A recorded checkout, as a refund needs it: the lines, the member as they stood, the payment.

    Attributes:
        lots: the lots the sale earned.
        spent: the lots its points payment was taken from, with their dates; None for a sale
            recorded before sales named them.
    """

    lines: tuple[BasketLine, ...]
    member: MemberState | None
    now: datetime
    total: Decimal
    points_value: Decimal
    points_redeemed: int
    points_earned: int
    lots: tuple[Lot, ...] = ()
    spent: tuple[Lot, ...] | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    """What a refund changes.

    Attributes:
        reversed_lots: the lots of the sale the points taken back come from, latest-expiring
            first (``lots.latest_first``).
        restored_lots: the points given back, with the dates the sale spent them with,
            latest-expiring first; none for a sale that did not record the lots it spent.
        free_returned: per SKU, how many of the units returned are units the sale gave free
            (a punch card's, a basket offer's): they are returned first, as the sale without
            them is recomputed, and bring no money back.
    """

    returned: Mapping[str, int]
    money_refunded: Decimal
    points_reversed: int
    points_restored: int
    punch_delta: Mapping[str, int]
    fully_refunded: bool
    reversed_lots: tuple[Lot, ...] = ()
    restored_lots: tuple[Lot, ...] = ()
    free_returned: Mapping[str, int] = field(default_factory=dict)


def _remaining(lines: Sequence[BasketLine], returned: Mapping[str, int]) -> list[BasketLine]:
    left = dict(returned)
    result: list[BasketLine] = []
    for line in reversed(lines):
        take = min(left.get(line.sku, 0), line.qty)
        left[line.sku] = left.get(line.sku, 0) - take
        if line.qty - take:
            result.append(replace(line, qty=line.qty - take))
    return list(reversed(result))


def _free_units(program: Program, sale: OriginalSale, gone: Mapping[str, int]) -> dict[str, int]:
    """Free units per SKU of the sale less ``gone``, as the sale's own checkout gave them."""
    lines = _remaining(sale.lines, gone)
    free: dict[str, int] = {}
    for ql in _apply_free_units(program, lines, sale.member, sale.now)[0]:
        free[ql.line.sku] = free.get(ql.line.sku, 0) + ql.free_units
    return free


def refund(
    program: Program,
    sale: OriginalSale,
    returned: Mapping[str, int],
    previously_returned: Mapping[str, int],
    previously_reversed: int | None = None,
    previously_reversed_lots: Sequence[Lot] | None = None,
    previously_refunded: Decimal | None = None,
    previously_restored: int | None = None,
) -> RefundResult:
    """Recompute the sale as if the returned units had never been bought and take the difference.

    ``previously_reversed`` is what the sale's earlier refunds took back (the sum of their
    ``points_reversed``; None: what the recomputation says they did). A refund never gives
    points: recomputing a smaller sale can earn a point more than the whole one by rounding
    (returning an excluded item moves the points payment onto the items that earn), and the
    ledger refuses a negative reversal. Taking back up to the recomputation's cumulative figure,
    never less than before and never more than the sale earned, keeps the sum of a receipt's
    refunds exactly what the sale earned once it is all returned.

    ``previously_reversed_lots``: the lots those refunds took the points from (None: what the
    recomputation says they took).

    ``previously_refunded`` and ``previously_restored``: the money and the points those refunds
    gave back (None: what the recomputation says they did). The kept units' points payment is
    their share of the sale's, in whole points, and never leaves them owing more money than is
    left of what the sale was paid in money: a refund never asks the customer for money (with
    10 points a unit, a 3.95 item back from a 100.05 sale paid 990 points and 1.05 in money
    came to -0.05 and 40 points, a refund the ledger refuses). Where no whole number of points
    splits the kept units so (the money left is less than a points step), the refund pays back
    all the money left and the points their value leaves, a little less than the units
    returned; the receipt's last refund makes it up, so its refunds still add up to the sale."""
    sold: dict[str, int] = {}
    for line in sale.lines:
        sold[line.sku] = sold.get(line.sku, 0) + line.qty
    left_before = {sku: qty - previously_returned.get(sku, 0) for sku, qty in sold.items()}
    if not any(left_before.values()):
        raise Refused("This receipt has already been fully refunded.")
    for sku, qty in returned.items():
        if sku not in sold:
            raise Refused(f"{sku} is not on this receipt.")
        if qty <= 0:
            raise Refused(f"quantity of {sku} to refund must be at least 1 (got {qty})")
        if qty > left_before[sku]:
            raise Refused(
                f"Only {left_before[sku]} of {sku} can still be refunded on this receipt (asked {qty})."
            )
    if not returned:
        raise Refused("Nothing to refund.")
    after = {sku: previously_returned.get(sku, 0) + returned.get(sku, 0) for sku in sold}

    def replay(
        gone: Mapping[str, int], left: tuple[Decimal, int] | None = None
    ) -> tuple[int, Decimal, int, tuple[Lot, ...]]:
        """(points earned, money due, points redeemed still in use, lots earned) for the sale
        less ``gone``; ``left``: the money and the points of the sale that earlier refunds
        left paid (None: the kept units' share of each)."""
        lines = _remaining(sale.lines, gone)
        if not any(gone.values()):
            due = sale.total - sale.points_value
            return sale.points_earned, due, sale.points_redeemed, sale.lots
        if not lines:
            return 0, Decimal(0), 0, ()
        plain = quote(program, lines, sale.member, sale.now, forced_points_value=Decimal(0))
        if not sale.total:
            return plain.points_earned, plain.due, 0, plain.lots
        kept = plain.total
        # The kept units' part of the points payment, multiplied before it is divided so that
        # a part that divides evenly (two thirds of 30.00) is exact, not a cent less.
        value = _floor_value(program, sale.points_value * kept / sale.total)
        if left is not None:
            money_left, points_left = left
            # Never more money kept than is left (a refund never asks for money), never more
            # points than are left (nor more than the kept units cost).
            least = _ceil_value(program, kept - money_left)
            most = min(value_of_points(program, points_left), _floor_value(program, kept))
            if least > most:  # no whole number of points splits it: all the money comes back
                q = quote(program, lines, sale.member, sale.now, forced_points_value=kept)
                used = min(points_for_value(program, least), points_left)
                return q.points_earned, Decimal(0), used, q.lots
            value = min(max(value, least), most)
        q = quote(program, lines, sale.member, sale.now, forced_points_value=value)
        # The points of that part, not the same share of the points: with 7 points a unit,
        # 6.00 kept is 42 points, and 46 (two thirds of 70) would give back 3.43 for 4.00.
        return q.points_earned, q.due, points_for_value(program, value), q.lots

    earned_before, due_before, used_before, lots_before = replay(previously_returned)
    if previously_refunded is not None:
        due_before = sale.total - sale.points_value - previously_refunded
    if previously_restored is not None:
        used_before = sale.points_redeemed - previously_restored
    earned_after, due_after, used_after, lots_after = replay(after, (due_before, used_before))
    # A returned unit takes its punch off the member's card; a free unit this sale gave that the
    # returned units no longer earn gives back the ``every`` punches it used. Only a card that
    # ran at the sale: a unit bought on a day it did not run punched nothing.
    free_before = _free_units(program, sale, previously_returned)
    free_after = _free_units(program, sale, after)
    free_returned = {
        sku: min(free_before.get(sku, 0) - free_after.get(sku, 0), qty)
        for sku, qty in returned.items()
        if free_before.get(sku, 0) > free_after.get(sku, 0)
    }
    punch_every = {
        sku: p.every
        for sku, p in _free_unit_promotions(program, sale.now).items()
        if p.scope == "member" and sku in returned
    }
    if punch_every and sale.member:
        punch_delta = {
            sku: every * (free_before.get(sku, 0) - free_after.get(sku, 0)) - returned[sku]
            for sku, every in punch_every.items()
        }
    else:
        punch_delta = {}
    earned = sale.points_earned
    already = (
        previously_reversed if previously_reversed is not None else max(earned - earned_before, 0)
    )
    target = min(max(earned - earned_after, already), earned)
    points_reversed = target - already
    points_restored = used_before - used_after
    if previously_reversed_lots is None:  # what the sale's lots held beyond the kept units'
        # by dates: two cashbacks of the same validity are two lots of the same dates
        earned_lots = points_by_dates(lots_before)
        previously_reversed_lots = [
            replace(lot, points=gone)
            for lot in merged(sale.lots)
            if (gone := lot.points - earned_lots.get((lot.earned_at, lot.expires_at), 0)) > 0
        ]
    # The points given back are the next of the sale's spent lots, latest-expiring first: what
    # earlier refunds gave back is what the sale paid less what the smaller sale still pays.
    return RefundResult(
        returned=dict(returned),
        money_refunded=due_before - due_after,
        points_reversed=points_reversed,
        points_restored=points_restored,
        punch_delta={sku: delta for sku, delta in punch_delta.items() if delta},
        fully_refunded=all(after[s] >= sold[s] for s in sold),
        reversed_lots=taken_back(sale.lots, previously_reversed_lots, lots_after, points_reversed),
        restored_lots=latest_first(
            sale.spent, sale.points_redeemed - used_before, max(points_restored, 0)
        )
        if sale.spent is not None
        else (),
        free_returned=free_returned,
    )
