"""The quote against a plain reference of DESIGN.md §5 and §6 (``reference_quote.py``): random
programs, members and baskets, compared field by field."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loyalty_pos.domain.accounting import after_checkout, after_refund
from loyalty_pos.domain.errors import ConfigError, RedeemRefused, Refused
from loyalty_pos.domain.lots import Account, Lot
from loyalty_pos.domain.program import Program, parse_program
from loyalty_pos.domain.quote import BasketLine, MemberState, OriginalSale, quote, refund
from loyalty_pos.domain.tiers import tier_status

from . import reference_quote as ref

DECIMALS = {"EUR": 2, "JPY": 0, "KWD": 3}
#: The items a basket is drawn from: (sku, category).
ITEMS = [
    ("COFFEE", "grocery"),
    ("TEA", "grocery"),
    ("MASCARA", "cosmetics"),
    ("NOVEL", "books"),
    ("CIGS", "tobacco"),
    ("CARD", "gift-card"),
]
CATEGORIES = sorted({c for _, c in ITEMS})
START = datetime(2026, 1, 1, 9, 0)


def money(draw: st.DrawFn, currency: str, most: int) -> str:
    """A decimal string at the currency's minor unit, from 0 to ``most`` units."""
    places = DECIMALS[currency]
    minor = draw(st.integers(0, most * 10**places))
    return str(Decimal(minor).scaleb(-places))


def rate(draw: st.DrawFn) -> str:
    return draw(
        st.sampled_from(["1", "2", "0.5", "1.5", "10", "0.01", "3.33333333", "1.25", "0.1"])
        | st.integers(1, 10**9).map(lambda n: str(Decimal(n).scaleb(-8)))
    )


def dated(draw: st.DrawFn, promo: dict[str, Any]) -> dict[str, Any]:
    if draw(st.integers(0, 2)) == 0:
        starts = START.date() + timedelta(days=draw(st.integers(0, 40)))
        promo["starts"] = starts.isoformat()
        promo["ends"] = (starts + timedelta(days=draw(st.integers(0, 30)))).isoformat()
    if draw(st.integers(0, 2)) == 0:
        promo["weekdays"] = draw(
            st.lists(st.sampled_from(ref.WEEKDAY_NAMES), min_size=1, max_size=3, unique=True)
        )
    return promo


@st.composite
def programs(draw: st.DrawFn) -> Program:
    currency = draw(st.sampled_from(sorted(DECIMALS)))
    big = 1000 if currency != "JPY" else 100_000
    levels = [{"name": "T0", "min_spend": "0", "multiplier": draw(st.sampled_from(["1", "1.1"]))}]
    spend = 0
    for i in range(draw(st.integers(0, 2))):
        spend += draw(st.integers(1, big))
        levels.append(
            {
                "name": f"T{i + 1}",
                "min_spend": str(spend),
                "multiplier": draw(st.sampled_from(["1.25", "1.5", "2", "1.33333333"])),
            }
        )
    promotions: list[dict[str, Any]] = []
    free_skus = iter(["COFFEE", "TEA", "NOVEL"])
    kinds = ["threshold_bonus", "category_multiplier", "nth_free", "birthday_bonus", "cashback"]
    drawn = draw(st.lists(st.sampled_from(kinds), max_size=7))
    for i, kind in enumerate(draw(st.permutations(drawn))):
        promo: dict[str, Any] = {"id": f"p{i}", "kind": kind}
        if kind == "threshold_bonus":
            promo |= {
                "min_spend": money(draw, currency, big // 10),
                "bonus": draw(st.integers(1, 5000)),
            }
        elif kind == "category_multiplier":
            promo |= {
                "category": draw(st.sampled_from(CATEGORIES)),
                "multiplier": draw(
                    st.sampled_from(["1", "2", "1.5", "3.33333333", "1.01"])
                    | st.integers(10**8, 10**9).map(lambda n: str(Decimal(n).scaleb(-8)))
                ),
            }
        elif kind == "nth_free":
            sku = next(free_skus, None)
            if sku is None:
                continue
            promo |= {
                "sku": sku,
                "every": draw(st.integers(2, 4)),
                "scope": draw(st.sampled_from(["basket", "member"])),
            }
        elif kind == "birthday_bonus":
            promo |= {"bonus": draw(st.integers(1, 1000)), "window_days": draw(st.integers(0, 10))}
        else:
            promo |= {
                "category": draw(st.sampled_from(CATEGORIES)),
                "percent": draw(st.sampled_from(["10", "5", "33.3", "100", "0.5"])),
                "valid_days": draw(st.sampled_from([60, 365]) | st.integers(1, 400)),
            }
        promotions.append(dated(draw, promo))
    data = {
        "program": {"id": "p", "name": "P", "currency": currency, "version": 1},
        "earn": {
            "points_per_unit": rate(draw),
            "excluded_categories": draw(
                st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True)
            ),
            "earn_on_points_paid": draw(st.booleans()),
        },
        "redeem": {
            "points_per_unit": draw(st.sampled_from([1, 3, 7, 10, 100, 250, 1000])),
            "min_cash": money(draw, currency, 5),
            "max_share": draw(st.sampled_from(["1", "0.5", "0.333", "0", "0.99999999", "0.25"])),
            "min_points": draw(st.sampled_from([0, 0, 1, 50, 500])),
        },
        "expiry": {"days": draw(st.sampled_from([0, 30, 365]))},
        "offline": {"grace_minutes": 60, "max_redeem_points_per_member_per_day": 5000},
        "tiers": {"window_days": 365, "levels": levels},
        "promotions": promotions,
    }
    try:
        return parse_program(data, "drawn.toml")
    except ConfigError as e:  # pragma: no cover - the drawing only makes valid programs
        raise AssertionError(str(e)) from e


@st.composite
def sales(draw: st.DrawFn) -> dict[str, Any]:
    program = draw(programs())
    cur = program.currency
    most = draw(st.sampled_from([5, 50, 500, 500, 10**8]))
    prices = {sku: money(draw, cur, most) for sku, _ in ITEMS}
    lines = [
        BasketLine(sku, sku.title(), draw(st.integers(1, 13)), Decimal(prices[sku]), category)
        for sku, category in draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=5))
    ]
    now = START + timedelta(days=draw(st.integers(0, 80)), hours=draw(st.integers(0, 12)))
    today = now.date()
    lots = [
        (
            draw(st.integers(1, 3000)) * draw(st.sampled_from([1, 1, 10])),
            today - timedelta(days=draw(st.integers(0, 400))),
            None
            if draw(st.integers(0, 5)) == 0
            else today + timedelta(days=draw(st.integers(-30, 90))),
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    lots = [(p, e, x if x is None or x > e else e + timedelta(days=1)) for p, e, x in lots]
    debt = draw(st.sampled_from([0] * 9 + [40]))
    spend = Decimal(money(draw, cur, 3000))
    birthday = draw(st.none() | st.dates(date(1950, 1, 1), date(2008, 12, 31)))
    if birthday is not None and draw(st.booleans()):  # near today, some year
        near = today + timedelta(days=draw(st.integers(-12, 12)))
        birthday = ref.birthday_in(near, birthday.year)
    if draw(st.integers(0, 9)) == 0:
        birthday = date(draw(st.sampled_from([1980, 1984, 2000])), 2, 29)
    last_bonus = draw(
        st.none()
        | st.integers(0, 800).map(lambda d: today - timedelta(days=d))
        | st.sampled_from([364, 365, 366]).map(lambda d: today - timedelta(days=d))
    )
    punch = {
        sku: draw(st.integers(-6, 8)) for sku in draw(st.lists(st.sampled_from(["COFFEE", "TEA"])))
    }
    status = draw(st.sampled_from(["active"] * 9 + ["provisional"]))
    has_member = draw(st.integers(0, 9)) > 0
    redeem = draw(
        st.one_of(
            st.none(),
            st.just("max"),
            st.just("max"),
            st.integers(0, 8000),
            st.integers(0, 80).map(lambda n: n * program.redeem.points_per_unit),
            st.integers(-50, 50).map(lambda n: max(sum(p for p, _, _ in lots) + n, 0)),
        )
    )
    offline_cap = draw(st.none() | st.integers(0, 6000))
    return {
        "program": program,
        "lines": lines,
        "now": now,
        "lots": lots,
        "debt": debt,
        "spend": spend,
        "birthday": birthday,
        "last_bonus": last_bonus,
        "punch": punch,
        "status": status,
        "has_member": has_member,
        "redeem": redeem,
        "offline_cap": offline_cap,
    }


def frac(amount: Decimal) -> Fraction:
    return Fraction(amount)


@settings(max_examples=300, deadline=None)
@given(sales())
def test_the_quote_agrees_with_the_reference(s: dict[str, Any]) -> None:
    program: Program = s["program"]
    now: datetime = s["now"]
    today = now.date()
    account = Account(tuple(Lot(p, e, x) for p, e, x in s["lots"]), s["debt"])
    balance = ref.spendable(s["lots"], s["debt"], today)
    assert account.balance(today) == balance
    tier = tier_status(program, s["spend"]).tier.name
    assert tier == ref.tier_for(program, frac(s["spend"]))[0]
    member = None
    model_member = None
    if s["has_member"]:
        member = MemberState(
            "M1", balance, tier, s["spend"], s["punch"], s["birthday"], s["last_bonus"], s["status"]
        )
        model_member = ref.Member(
            balance, tier, s["spend"], s["punch"], s["birthday"], s["last_bonus"], s["status"]
        )
    model_lines = [ref.Line(x.sku, x.qty, x.unit_price, x.category) for x in s["lines"]]
    want = ref.quote(program, model_lines, model_member, now, s["redeem"], s["offline_cap"])
    try:
        q = quote(program, s["lines"], member, now, s["redeem"], s["offline_cap"])
    except RedeemRefused as e:
        assert want.refused, f"refused ({e.limit}: {e}) where the reference pays {want}"
        assert e.limit in want.refused, (e.limit, want.refused)
        return
    except Refused as e:
        raise AssertionError(f"refused: {e}") from e
    assert not want.refused, f"paid {q.points_redeemed} where the reference refuses {want.refused}"

    assert frac(q.total) == want.total
    assert frac(q.discount) == want.discount
    assert q.points_redeemed == want.points_redeemed
    assert frac(q.points_value) == want.points_value
    assert frac(q.due) == want.due
    assert frac(q.base) == want.base
    assert [(b.rule, b.points) for b in q.breakdown] == want.breakdown
    assert q.points_earned == want.points_earned
    assert (
        ref.by_dates([(lot.points, lot.earned_at, lot.expires_at) for lot in q.lots]) == want.lots
    )
    assert dict(q.punch_after) == want.punch_after
    assert q.birthday_awarded == want.birthday_awarded
    assert q.balance_after == want.balance_after
    assert q.tier_before == want.tier_before
    if q.tier_after is None:
        assert want.tier_after is None
    else:
        t = q.tier_after
        assert (
            t.tier.name,
            frac(t.spend),
            t.next_tier.name if t.next_tier else None,
            frac(t.spend_to_next) if t.spend_to_next is not None else None,
        ) == want.tier_after

    # §6: the payment comes from the lots that expire first; the earnings are new lots.
    if member is not None and q.points_redeemed:
        after, spent = account.spend(q.points_redeemed, today, allow_debt=False)
        left, taken = ref.spend(s["lots"], q.points_redeemed, today)
        assert ref.by_dates([(x.points, x.earned_at, x.expires_at) for x in spent]) == ref.by_dates(
            taken
        )
        assert ref.by_dates(
            [(x.points, x.earned_at, x.expires_at) for x in after.lots]
        ) == ref.by_dates(left)
        account = after
    if member is not None:
        account = account.earn(q.lots)
        assert account.balance(today) == want.balance_after


def _kept(lines: list[BasketLine], gone: dict[str, int]) -> list[BasketLine]:
    """The lines less the ``gone`` units of each SKU, taken off its last lines first."""
    left = dict(gone)
    kept: list[BasketLine] = []
    for x in reversed(lines):
        take = min(left.get(x.sku, 0), x.qty)
        left[x.sku] = left.get(x.sku, 0) - take
        if x.qty - take:
            kept.insert(0, BasketLine(x.sku, x.name, x.qty - take, x.unit_price, x.category))
    return kept


def _by_dates(lots: Any) -> dict[tuple[date, date | None], int]:
    return ref.by_dates([(lot.points, lot.earned_at, lot.expires_at) for lot in lots])


@settings(max_examples=100, deadline=None)
@given(sales(), st.data(), st.integers(0, 120))
def test_a_refund_in_two_parts_is_the_full_refund_and_undoes_the_sale(
    s: dict[str, Any], data: st.DataObject, days_to_refund: int
) -> None:
    """DESIGN.md §5's last paragraph over drawn programs: a partial refund takes back what the
    reference earns less on the units kept (and, for a sale paid in money, gives back what they
    no longer cost); the rest refunded after it adds up to the full refund, which gives back
    the money and points paid and takes back the points earned; and the member's points after
    it are what they would have been without the sale, less what expired."""
    program: Program = s["program"]
    now: datetime = s["now"]
    today = now.date()
    assume(s["has_member"] and s["debt"] == 0)
    before = Account(tuple(Lot(p, e, x) for p, e, x in s["lots"]))
    tier = tier_status(program, s["spend"]).tier.name
    m = MemberState(
        "M1", before.balance(today), tier, s["spend"], s["punch"], s["birthday"], s["last_bonus"]
    )
    model_m = ref.Member(m.balance, tier, s["spend"], s["punch"], s["birthday"], s["last_bonus"])
    try:
        q = quote(program, s["lines"], m, now, s["redeem"], s["offline_cap"])
    except RedeemRefused:
        assume(False)
        return
    spent = before.spend(q.points_redeemed, today, allow_debt=True)[1]
    after_sale = after_checkout(before, today, q.points_redeemed, q.lots)
    sale = OriginalSale(
        tuple(s["lines"]),
        m,
        now,
        q.total,
        q.points_value,
        q.points_redeemed,
        q.points_earned,
        lots=q.lots,
        spent=spent,
    )
    sold: dict[str, int] = {}
    for x in s["lines"]:
        sold[x.sku] = sold.get(x.sku, 0) + x.qty
    first = {sku: data.draw(st.integers(0, qty), label=sku) for sku, qty in sold.items()}
    first = {sku: qty for sku, qty in first.items() if qty}
    rest = {sku: qty - first.get(sku, 0) for sku, qty in sold.items() if qty - first.get(sku, 0)}
    assume(first and rest)

    full = refund(program, sale, sold, {})
    assert full.money_refunded == q.due
    assert full.points_restored == q.points_redeemed
    assert full.points_reversed == q.points_earned
    assert _by_dates(full.restored_lots) == _by_dates(spent)
    assert _by_dates(full.reversed_lots) == _by_dates(q.lots)

    a = refund(program, sale, first, {})
    kept = _kept(s["lines"], first)
    model_lines = [ref.Line(x.sku, x.qty, x.unit_price, x.category) for x in kept]
    smaller = ref.quote(program, model_lines, model_m, now)

    if not q.points_redeemed:  # (the kept units keep a part of a points payment)
        assert a.points_reversed == min(
            max(q.points_earned - smaller.points_earned, 0), q.points_earned
        )
        assert ref.frac(a.money_refunded) == ref.frac(q.due) - smaller.due
        assert a.points_restored == 0
    # The punches of the returned units come off the card: the card as the smaller sale leaves
    # it, from a counter of ``every`` or more counted from its last multiple, as the sale did.
    cards = {
        p.sku: p.every
        for p in program.promotions
        if p.kind == "nth_free" and p.scope == "member" and ref.promotion_runs(p, now)
    }
    counted = {
        sku: n % cards[sku] if sku in cards and n >= cards[sku] else n
        for sku, n in s["punch"].items()
    }
    smaller_card = ref.quote(
        program, model_lines, ref.Member(m.balance, tier, s["spend"], counted), now
    ).punch_after
    for sku in first:
        want = smaller_card.get(sku, 0) - q.punch_after.get(sku, 0)
        assert a.punch_delta.get(sku, 0) == want
    b = refund(
        program,
        sale,
        rest,
        first,
        a.points_reversed,
        a.reversed_lots,
        a.money_refunded,
        a.points_restored,
    )
    assert a.money_refunded >= 0 and b.money_refunded >= 0
    assert a.points_restored >= 0 and b.points_restored >= 0
    assert a.money_refunded + b.money_refunded == full.money_refunded
    assert a.points_restored + b.points_restored == full.points_restored
    assert a.points_reversed + b.points_reversed == full.points_reversed
    assert b.fully_refunded and full.fully_refunded and not a.fully_refunded
    for sku in {*a.punch_delta, *b.punch_delta, *full.punch_delta}:
        assert a.punch_delta.get(sku, 0) + b.punch_delta.get(sku, 0) == full.punch_delta.get(sku, 0)
    assert _by_dates([*a.restored_lots, *b.restored_lots]) == _by_dates(spent)
    assert _by_dates([*a.reversed_lots, *b.reversed_lots]) == _by_dates(q.lots)

    on = today + timedelta(days=days_to_refund)
    in_two = after_refund(after_sale, on, a.points_reversed, a.reversed_lots, a.restored_lots)
    in_two = after_refund(in_two, on, b.points_reversed, b.reversed_lots, b.restored_lots)
    at_once = after_refund(
        after_sale, on, full.points_reversed, full.reversed_lots, full.restored_lots
    )
    for back in (in_two, at_once):
        assert back.balance(on) == before.balance(on)
        assert _by_dates(back.lots) == _by_dates(before.lots)
