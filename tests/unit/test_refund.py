"""Refunds recompute the original checkout without the returned units (DESIGN.md §5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from loyalty_pos.domain.accounting import after_checkout, after_refund, apply_event
from loyalty_pos.domain.errors import Refused
from loyalty_pos.domain.lots import Account, Lot, at_most
from loyalty_pos.domain.quote import BasketLine, MemberState, OriginalSale, quote, refund

from .programs import program

NOW = datetime(2026, 11, 22, 14, 0)
D1 = date(2026, 1, 10)
SPEND60 = {"id": "spend60", "kind": "threshold_bonus", "min_spend": "60.00", "bonus": 5000}


def sale(p, lines, redeem=None, balance=10_000):  # type: ignore[no-untyped-def]
    m = MemberState("M1", balance, "Malachite", D(0))
    q = quote(p, lines, m, NOW, redeem)
    return OriginalSale(
        tuple(lines), m, NOW, q.total, q.points_value, q.points_redeemed, q.points_earned
    )


def test_a_partial_refund_splits_money_and_points_in_the_sale_s_proportion_to_the_cent() -> None:
    """3 x 14.90 paid 3000 points (30.00) and 14.70 in money: two units back are two thirds of
    each part, 9.80 and 2000 points exactly (not 9.79 and 2001), the last one 4.90 and 1000."""
    p = program()
    lines = [BasketLine("E", "E", 3, D("14.90"), "x")]
    s = sale(p, lines, redeem=3000)
    assert (s.total, s.points_value) == (D("44.70"), D("30.00"))
    r = refund(p, s, {"E": 2}, {})
    assert (r.money_refunded, r.points_restored) == (D("9.80"), 2000)
    rest = refund(p, s, {"E": 1}, {"E": 2}, r.points_reversed)
    assert (rest.money_refunded, rest.points_restored) == (D("4.90"), 1000)


def test_returning_one_item_takes_back_the_threshold_bonus_it_no_longer_reaches() -> None:
    p = program([SPEND60])
    lines = [BasketLine("A", "A", 1, D("45.00"), "x"), BasketLine("B", "B", 1, D("15.00"), "x")]
    s = sale(p, lines)
    assert s.points_earned == 5060
    r = refund(p, s, {"B": 1}, {})
    assert (r.points_reversed, r.money_refunded) == (5015, D("15.00"))


def test_points_paid_come_back_in_proportion_to_the_money_refunded() -> None:
    p = program()
    lines = [BasketLine("A", "A", 1, D("30.00"), "x"), BasketLine("B", "B", 1, D("10.00"), "x")]
    s = sale(p, lines, redeem=2000)
    first = refund(p, s, {"B": 1}, {})
    assert first.points_restored == 500
    second = refund(p, s, {"A": 1}, {"B": 1})
    assert first.points_restored + second.points_restored == 2000
    assert first.points_reversed + second.points_reversed == s.points_earned
    assert second.fully_refunded


def test_refund_refuses_more_units_than_sold_unknown_items_and_a_second_full_refund() -> None:
    p = program()
    s = sale(p, [BasketLine("A", "A", 2, D("5.00"), "x")])
    with pytest.raises(Refused, match="Only 2"):
        refund(p, s, {"A": 3}, {})
    with pytest.raises(Refused, match="not on this receipt"):
        refund(p, s, {"Z": 1}, {})
    with pytest.raises(Refused, match="already been fully refunded"):
        refund(p, s, {"A": 1}, {"A": 2})


# -- the lots a refund gives back and takes back ------------------------------------------------

SOON, LATER = date(2026, 12, 1), date(2027, 6, 1)
CASHBACK = {"id": "cb", "kind": "cashback", "category": "books", "percent": "10", "valid_days": 60}


def _sale_from(p, account, lines, redeem, now=NOW):  # type: ignore[no-untyped-def]
    """A sale as the terminal records it: its quote, the lots it spent, the account after it."""
    m = MemberState("M1", account.balance(now.date()), "Malachite", D(0))
    q = quote(p, lines, m, now, redeem)
    spent = account.spend(q.points_redeemed, now.date(), allow_debt=True)[1]
    after = apply_event(account, _checkout_event(q, now))
    original = OriginalSale(
        tuple(lines),
        m,
        now,
        q.total,
        q.points_value,
        q.points_redeemed,
        q.points_earned,
        lots=q.lots,
        spent=spent,
    )
    return original, after


def _checkout_event(q, now):  # type: ignore[no-untyped-def]
    return {
        "type": "checkout",
        "occurred_at": now.isoformat(),
        "points_redeemed": q.points_redeemed,
        "lots": [lot.to_json() for lot in q.lots],
    }


def _refund_event(r, at):  # type: ignore[no-untyped-def]
    return {
        "type": "refund",
        "occurred_at": at.isoformat(),
        "points_reversed": r.points_reversed,
        "points_restored": r.points_restored,
        "lots": [lot.to_json() for lot in r.restored_lots],
        "reversed_lots": [lot.to_json() for lot in r.reversed_lots],
    }


def _lots(account: Account) -> list[tuple[date, date | None, int]]:
    """The account's lots, lots of one earning day and expiry as one (they behave as one)."""
    merged: dict[tuple[date, date | None], int] = {}
    for lot in account.lots:
        merged[(lot.earned_at, lot.expires_at)] = (
            merged.get((lot.earned_at, lot.expires_at), 0) + lot.points
        )
    return sorted((e, x, n) for (e, x), n in merged.items() if n)


def test_a_full_refund_gives_back_the_points_paid_with_the_expiry_they_had() -> None:
    p = program()
    before = Account((Lot(600, D1, SOON), Lot(2000, D1, LATER)))
    lines = [BasketLine("A", "A", 2, D("14.90"), "x")]
    sale_, after_sale = _sale_from(p, before, lines, 2000)
    assert sale_.spent == (Lot(600, D1, SOON), Lot(1400, D1, LATER))
    r = refund(p, sale_, {"A": 2}, {})
    assert set(r.restored_lots) == set(sale_.spent)
    back = apply_event(after_sale, _refund_event(r, NOW + timedelta(days=3)))
    assert _lots(back) == _lots(before)  # not a new lot expiring a year after the refund


def test_partial_refunds_give_back_the_latest_expiring_points_first_and_add_up_to_the_sale() -> (
    None
):
    p = program()
    before = Account((Lot(600, D1, SOON), Lot(2000, D1, LATER)))
    lines = [BasketLine("A", "A", 2, D("14.90"), "x")]
    sale_, _ = _sale_from(p, before, lines, 2000)
    first = refund(p, sale_, {"A": 1}, {})
    # the smaller sale would have spent the 600 expiring soon and 400 of the later ones
    assert first.restored_lots == (Lot(1000, D1, LATER),)
    second = refund(p, sale_, {"A": 1}, {"A": 1})
    assert second.restored_lots == (Lot(400, D1, LATER), Lot(600, D1, SOON))


def test_points_that_lapsed_between_sale_and_refund_come_back_lapsed_and_pay_no_debt() -> None:
    account = Account((), debt=50).restore([Lot(600, D1, SOON), Lot(30, D1, LATER)], SOON)
    assert account.balance(SOON) == -20  # the 30 still live paid part of the debt
    assert account.debt == 20
    assert Lot(600, D1, SOON) in account.lots  # lapsed: the ledger's expiry run writes it off
    assert account.expire(SOON)[1] == [Lot(600, D1, SOON)]


def test_points_taken_back_come_from_the_lots_the_returned_units_earned_them_in() -> None:
    """QA F1: returning the book of a book-and-groceries basket took the year's points first,
    left the groceries' points in the book's 60-day cashback lot, and they lapsed with it."""
    p = program([CASHBACK])
    before = Account((Lot(500, D1, SOON),))
    lines = [
        BasketLine("BOOK", "Book", 1, D("20.00"), "books"),
        BasketLine("A", "A", 1, D("20.00"), "x"),
    ]
    sale_, after_sale = _sale_from(p, before, lines, None)
    year, cashback = NOW.date() + timedelta(days=365), NOW.date() + timedelta(days=60)
    assert sale_.lots == (Lot(40, NOW.date(), year), Lot(200, NOW.date(), cashback))
    book = refund(p, sale_, {"BOOK": 1}, {})
    # the book's 20 of the year's lot and its 200 cashback; never the 500 held before the sale
    assert book.reversed_lots == (Lot(20, NOW.date(), year), Lot(200, NOW.date(), cashback))
    back = apply_event(after_sale, _refund_event(book, NOW + timedelta(days=1)))
    assert _lots(back) == [(D1, SOON, 500), (NOW.date(), year, 20)]  # the groceries' year
    assert back.balance(cashback) == 20  # not lapsed with the cashback
    rest = refund(p, sale_, {"A": 1}, {"BOOK": 1}, book.points_reversed, book.reversed_lots)
    assert rest.reversed_lots == (Lot(20, NOW.date(), year),)
    back = apply_event(back, _refund_event(rest, NOW + timedelta(days=2)))
    assert _lots(back) == _lots(before)


def test_the_lots_of_refunds_in_any_order_add_up_to_the_lots_of_the_sale() -> None:
    """Groceries first, then the book: each refund takes its own units' points, and whatever
    the earlier refunds took (given, or recomputed), the last takes exactly what is left."""
    p = program([CASHBACK])
    lines = [
        BasketLine("BOOK", "Book", 1, D("20.00"), "books"),
        BasketLine("A", "A", 3, D("20.00"), "x"),
    ]
    sale_, _ = _sale_from(p, Account(()), lines, None)
    year, cashback = NOW.date() + timedelta(days=365), NOW.date() + timedelta(days=60)
    first = refund(p, sale_, {"A": 2}, {})
    assert first.reversed_lots == (Lot(40, NOW.date(), year),)
    for earlier in (first.reversed_lots, None):  # None: recomputed, as for unit callers
        last = refund(p, sale_, {"A": 1, "BOOK": 1}, {"A": 2}, first.points_reversed, earlier)
        assert last.reversed_lots == (Lot(40, NOW.date(), year), Lot(200, NOW.date(), cashback))


def test_points_paid_come_back_as_the_points_of_the_money_the_kept_part_paid() -> None:
    """QA F2: at 7 points a unit, 70 points paid 10.00 of a 30.00 sale. Returning a third kept
    6.00 of the points payment (whole-point steps of 1.00) but counted 46 points still in use
    (two thirds of 70): 6.00 and 24 points (3.43) back for 10.00 of goods. The points given
    back are what the money not kept cost: 28, so 6.00 + 4.00."""
    p = program(redeem={"points_per_unit": 7, "min_cash": "0", "max_share": "1.0"})
    lines = [BasketLine(s, s, 1, D("10.00"), "x") for s in ("A", "B", "C")]
    s = sale(p, lines, redeem=70)
    assert (s.points_redeemed, s.points_value) == (70, D("10.00"))
    first = refund(p, s, {"C": 1}, {})
    assert (first.money_refunded, first.points_restored) == (D("6.00"), 28)
    second = refund(p, s, {"B": 1}, {"C": 1}, first.points_reversed)
    assert (second.money_refunded, second.points_restored) == (D("7.00"), 21)
    taken = first.points_reversed + second.points_reversed
    last = refund(p, s, {"A": 1}, {"B": 1, "C": 1}, taken)
    assert last.money_refunded + second.money_refunded + first.money_refunded == D("20.00")
    assert last.points_restored + second.points_restored + first.points_restored == 70


def test_two_cashbacks_of_the_same_validity_are_both_taken_back_from_their_lots() -> None:
    """Books and music cashback, both valid 60 days: the sale earns two lots of the same dates.
    Returning it took back one of them from there and the other's 100 points from the member's
    oldest points, which left the sale's cashback with the member past the older points' day."""
    music = CASHBACK | {"id": "music", "category": "music"}
    p = program([CASHBACK, music])
    before = Account((Lot(1000, D1, date(2026, 12, 1)),))
    lines = [
        BasketLine("BOOK", "Book", 1, D("20.00"), "books"),
        BasketLine("CD", "CD", 1, D("10.00"), "music"),
    ]
    sale_, after_sale = _sale_from(p, before, lines, None)
    assert sale_.points_earned == 330
    r = refund(p, sale_, {"BOOK": 1, "CD": 1}, {})
    assert r.points_reversed == sum(lot.points for lot in r.reversed_lots) == 330
    back = apply_event(after_sale, _refund_event(r, NOW))
    assert _lots(back) == _lots(before)


def test_a_refund_after_the_sales_cashback_lapsed_unused_takes_nothing_else_for_it() -> None:
    """1,000 points held; a book sale earns 20 for a year and 200 cashback for 60 days; the
    cashback lapses unused and the sale is returned on day 70: the 200 lapsed with the sale's
    other points, so the member is back at 1,000, not at 800."""
    p = program([CASHBACK])
    before = Account((Lot(1000, D1, LATER),))
    sale_, after_sale = _sale_from(
        p, before, [BasketLine("BOOK", "Book", 1, D("20.00"), "books")], None
    )
    cashback = NOW.date() + timedelta(days=60)
    assert sale_.lots == (
        Lot(20, NOW.date(), NOW.date() + timedelta(days=365)),
        Lot(200, NOW.date(), cashback),
    )
    r = refund(p, sale_, {"BOOK": 1}, {})
    assert r.points_reversed == 220
    late = NOW + timedelta(days=70)
    back = apply_event(after_sale, _refund_event(r, late))
    assert back.balance(late.date()) == 1000
    assert _lots(back) == _lots(before)


def test_cashback_spent_before_it_lapsed_is_taken_back_from_the_members_other_points() -> None:
    """The same sale, but the member paid with 150 of the cashback before it lapsed: the refund
    takes the 50 that lapsed from the lapsed lot, and the 150 the member did spend from their
    other points (the sale that gave them is undone)."""
    p = program([CASHBACK])
    before = Account((Lot(1000, D1, LATER),))
    sale_, after_sale = _sale_from(
        p, before, [BasketLine("BOOK", "Book", 1, D("20.00"), "books")], None
    )
    paid = after_sale.take(150, NOW.date() + timedelta(days=1), allow_debt=False)
    assert paid.balance(NOW.date() + timedelta(days=1)) == 1000 + 220 - 150
    late = NOW + timedelta(days=70)
    back = apply_event(paid, _refund_event(refund(p, sale_, {"BOOK": 1}, {}), late))
    assert back.balance(late.date()) == 1000 - 150
    assert all(lot.live_on(late.date()) for lot in back.lots)  # no lapsed cashback left over


def test_a_sale_recorded_before_sales_named_their_lots_gives_back_no_dated_lots() -> None:
    p = program()
    s = sale(p, [BasketLine("A", "A", 1, D("30.00"), "x")], redeem=2000)
    assert s.spent is None
    assert refund(p, s, {"A": 1}, {}).restored_lots == ()  # the terminal makes a new lot


def test_a_sale_spending_more_lots_than_an_event_lists_records_them_never_longer_lived() -> None:
    spent = [Lot(10, D1, D1 + timedelta(days=30 + i)) for i in range(150)]
    listed = at_most(spent, 100)
    assert len(listed) == 100
    assert sum(lot.points for lot in listed) == 1500
    assert listed[0] == Lot(510, D1, D1 + timedelta(days=30))  # the 51 soonest, at the soonest
    assert listed[1:] == tuple(spent[51:])


_life = st.integers(1, 500)
#: a lot held at the sale: points, days it has left then (negative: lapsed already), its age
_held = st.tuples(st.integers(1, 3000), st.integers(-60, 400), st.integers(0, 300))


@settings(max_examples=300, deadline=None)
@given(
    lots=st.lists(_held, max_size=6),
    debt=st.one_of(st.just(0), st.just(0), st.integers(1, 300)),
    prices=st.lists(st.tuples(st.integers(100, 6000), st.booleans()), min_size=1, max_size=4),
    pay_share=st.one_of(st.just(100), st.integers(0, 100)),
    days_to_refund=st.integers(0, 120),
)
def test_a_full_refund_returns_the_members_lots_to_before_the_sale_less_what_expired(
    lots: list[tuple[int, int, int]],
    debt: int,
    prices: list[tuple[int, bool]],
    pay_share: int,
    days_to_refund: int,
) -> None:
    """Whatever the member held, whatever the sale paid with points and earned (base points in
    a year's lot, book cashback in a 60-day one), returning it all leaves exactly the lots the
    member had: points that lapsed meanwhile stay lapsed, and the sale's own points that lapsed
    unused (its cashback, past 60 days) go with the sale, not out of the member's other points."""
    p = program([CASHBACK])
    day = NOW.date()
    held = tuple(
        Lot(n, day - timedelta(days=age), day + timedelta(days=max(left, 1 - age)))
        for n, left, age in lots
    )
    # debt and live points never stand together: earnings pay the debt first
    before = (
        Account(held, 0)
        if not debt
        else Account(tuple(x for x in held if not x.live_on(day)), debt)
    )
    lines = [
        BasketLine(f"S{i}", "item", 1, D(minor).scaleb(-2), "books" if book else "x")
        for i, (minor, book) in enumerate(prices)
    ]
    m = MemberState("M1", before.balance(day), "Malachite", D(0))
    most = quote(p, lines, m, NOW, "max").cap.points if before.balance(day) > 0 else 0
    redeem = most * pay_share // 100 // 100 * 100  # whole money steps: 100 points pay 1.00
    original, after_sale = _sale_from(p, before, lines, redeem or None)
    everything = {line.sku: 1 for line in lines}
    r = refund(p, original, everything, {})
    assert (
        sum(lot.points for lot in r.restored_lots) == r.points_restored == original.points_redeemed
    )
    refunded_on = day + timedelta(days=days_to_refund)
    event(f"pays with points: {bool(original.spent)}; in debt: {bool(debt)}")
    cashback = any(book for _, book in prices)
    event(f"the sale's cashback lapsed before the refund: {cashback and days_to_refund >= 60}")
    event(
        f"a spent lot lapsed before the refund: {any(not x.live_on(refunded_on) for x in original.spent or ())}"
    )
    back = apply_event(after_sale, _refund_event(r, NOW + timedelta(days=days_to_refund)))
    assert _lots(back) == _lots(before)
    assert back.debt == before.debt


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(st.tuples(st.integers(1, 2000), _life), min_size=1, max_size=5),
    prices=st.lists(
        st.tuples(st.integers(100, 6000), st.sampled_from(["books", "x", "tobacco"])),
        min_size=2,
        max_size=5,
    ),
    order=st.randoms(use_true_random=False),
)
def test_partial_refunds_adding_up_to_the_sale_give_back_what_it_spent_and_take_back_what_it_earned(
    points: list[tuple[int, int]], prices: list[tuple[int, str]], order: Any
) -> None:
    p = program([CASHBACK], earn={"excluded_categories": ["tobacco"]})
    day = NOW.date()
    before = Account(tuple(Lot(n, day, day + timedelta(days=life)) for n, life in points))
    lines = [
        BasketLine(f"S{i}", "item", 1, D(minor).scaleb(-2), "books" if book else "x")
        for i, (minor, book) in enumerate(prices)
    ]
    m = MemberState("M1", before.balance(day), "Malachite", D(0))
    redeem = quote(p, lines, m, NOW, "max").cap.points
    original, _ = _sale_from(p, before, lines, redeem or None)
    skus = [line.sku for line in lines]
    order.shuffle(skus)
    returned: dict[str, int] = {}
    restored: list[Lot] = []
    taken_back: list[Lot] = []
    reversed_so_far = 0
    for sku in skus:
        r = refund(p, original, {sku: 1}, returned, reversed_so_far)
        assert r.points_reversed >= 0  # a refund never gives points (the ledger refuses it)
        reversed_so_far += r.points_reversed
        assert sum(lot.points for lot in r.restored_lots) == r.points_restored
        restored += r.restored_lots
        taken_back += r.reversed_lots
        returned[sku] = 1
    assert reversed_so_far == original.points_earned
    assert _lots(Account(tuple(restored))) == _lots(Account(original.spent or ()))
    assert _lots(Account(tuple(taken_back))) == _lots(Account(original.lots))


def test_returning_an_excluded_item_from_a_sale_paid_with_points_never_gives_a_point() -> None:
    """Without the tobacco, the points payment falls on the book, which then pays a little
    less in money and earns a point more by rounding: that refund once reversed -1 points."""
    p = program(earn={"points_per_unit": 10, "excluded_categories": ["tobacco"]})
    lines = [
        BasketLine("T", "T", 1, D("17.82"), "tobacco"),
        BasketLine("X", "X", 1, D("15.59"), "x"),
    ]
    s = sale(p, lines, redeem=1200)
    first = refund(p, s, {"T": 1}, {}, 0)
    assert first.points_reversed == 0
    rest = refund(p, s, {"X": 1}, {"T": 1}, first.points_reversed)
    assert first.points_reversed + rest.points_reversed == s.points_earned == 99


COFFEE_CARD = {"id": "coffee", "kind": "nth_free", "sku": "COFFEE", "every": 6, "scope": "member"}


def _coffees(p, qty, punch):  # type: ignore[no-untyped-def]
    """A sale of ``qty`` coffees to a member whose card stood at ``punch``: (sale, punch after,
    free units)."""
    m = MemberState("M1", 0, "Malachite", D(0), punch={"COFFEE": punch})
    lines = [BasketLine("COFFEE", "Coffee", qty, D("2.40"), "drinks")]
    q = quote(p, lines, m, NOW)
    s = OriginalSale(tuple(lines), m, NOW, q.total, q.points_value, q.points_redeemed, 0)
    return s, q.punch_after.get("COFFEE", 0), q.lines[0].free_units


def test_returning_the_punches_a_later_free_coffee_used_does_not_earn_it_again() -> None:
    """Buy 5, the 6th is free, return the 5: the member holds one (free) coffee and buys 11
    more before the next free one, as if the 5 were never bought."""
    p = program([COFFEE_CARD])
    five, punch, _ = _coffees(p, 5, 0)
    _, punch, free = _coffees(p, 1, punch)
    assert (punch, free) == (0, 1)
    back = refund(p, five, {"COFFEE": 5}, {})
    assert (back.money_refunded, back.punch_delta) == (D("12.00"), {"COFFEE": -5})
    punch += back.punch_delta["COFFEE"]
    _, punch, free = _coffees(p, 5, punch)
    assert (punch, free) == (0, 0)  # was: a second free coffee
    _, punch, free = _coffees(p, 6, punch)
    assert (punch, free) == (0, 1)


def test_returning_the_free_coffee_of_a_sale_gives_its_punches_back() -> None:
    """12 coffees, 2 free; one returned is a free one (no money back): 11 held with 1 free,
    the card at 5, so the next coffee is free."""
    p = program([COFFEE_CARD])
    twelve, punch, free = _coffees(p, 12, 0)
    assert (punch, free) == (0, 2)
    back = refund(p, twelve, {"COFFEE": 1}, {})
    assert (back.money_refunded, back.punch_delta) == (D("0.00"), {"COFFEE": 5})
    _, punch, free = _coffees(p, 1, punch + 5)
    assert free == 1


def test_a_refund_names_the_free_units_among_those_returned_which_go_back_first() -> None:
    """6 coffees, the 6th free: the first coffee back is the free one (no money), the second
    is paid; with 3 for 2 in one basket, no member, returning 2 of 3 is one free and one paid."""
    p = program([COFFEE_CARD])
    six, _, free = _coffees(p, 6, 0)
    assert free == 1
    one = refund(p, six, {"COFFEE": 1}, {})
    assert (one.money_refunded, one.free_returned) == (D("0.00"), {"COFFEE": 1})
    two = refund(p, six, {"COFFEE": 2}, {})
    assert (two.money_refunded, two.free_returned) == (D("2.40"), {"COFFEE": 1})
    after = refund(p, six, {"COFFEE": 1}, {"COFFEE": 1})  # the free one is back already
    assert (after.money_refunded, after.free_returned) == (D("2.40"), {})
    offer = program([COFFEE_CARD | {"every": 3, "scope": "basket"}])
    lines = [BasketLine("COFFEE", "Coffee", 3, D("2.40"), "drinks")]
    q = quote(offer, lines, None, NOW)
    three = OriginalSale(tuple(lines), None, NOW, q.total, q.points_value, 0, 0)
    back = refund(offer, three, {"COFFEE": 2}, {})
    assert (back.money_refunded, back.free_returned) == (D("2.40"), {"COFFEE": 1})


def test_returning_coffees_bought_on_a_day_the_card_did_not_run_leaves_the_card_alone() -> None:
    """The coffee card runs on Saturdays only; 3 coffees bought on a Sunday punched nothing, so
    returning them takes no punch off the card (it took 3, and the member bought 3 more coffees
    before the next free one)."""
    p = program([COFFEE_CARD | {"weekdays": ["sat"]}])
    sunday, punch, free = _coffees(p, 3, 2)
    assert (punch, free) == (2, 0)
    back = refund(p, sunday, {"COFFEE": 3}, {})
    assert (back.money_refunded, back.punch_delta) == (D("7.20"), {})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("buy"), st.integers(1, 14)),
            st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 14)),
        ),
        max_size=12,
    )
)
def test_a_punch_card_never_gives_more_than_one_free_unit_for_every_held(ops) -> None:  # type: ignore[no-untyped-def]
    """Whatever is bought and returned, the card's counter is the held units less ``every`` for
    each free unit held: once the member has bought back what a refund took (a counter of 0 or
    more), the free units held are one in ``every``, never more. Returning free units of two
    sales can take the counter to ``every`` or more; the next sale counts from its last
    multiple (``lost``), which only ever gives fewer free units."""
    p = program([COFFEE_CARD])
    punch = 0
    held = free_held = lost = 0
    sales: list[tuple[OriginalSale, dict[str, int]]] = []
    for op in ops:
        if op[0] == "buy":
            lost += max(punch, 0) // 6
            s, punch, free = _coffees(p, op[1], punch)
            sales.append((s, {}))
            held += op[1]
            free_held += free
        elif sales:
            s, gone = sales[op[1] % len(sales)]
            left = s.lines[0].qty - gone.get("COFFEE", 0)
            if not left:
                continue
            qty = min(op[2], left)
            before = _free(p, s, gone)
            r = refund(p, s, {"COFFEE": qty}, gone)
            gone["COFFEE"] = gone.get("COFFEE", 0) + qty
            punch += r.punch_delta.get("COFFEE", 0)
            held -= qty
            free_held -= before - _free(p, s, gone)
        assert punch == held - 6 * (free_held + lost)
    if punch >= 0:
        assert free_held <= held // 6
        if lost == 0 and punch < 6:
            assert free_held == held // 6


def _free(p, s, gone) -> int:  # type: ignore[no-untyped-def]
    """Free units among what is left of a coffee sale, as its checkout would have given them."""
    left = s.lines[0].qty - gone.get("COFFEE", 0)
    if not left:
        return 0
    return quote(p, [replace(s.lines[0], qty=left)], s.member, NOW).lines[0].free_units


# -- a refund never asks the customer for money -----------------------------------------------


def _refunds(p, s, parts):  # type: ignore[no-untyped-def]
    """The refunds of ``parts`` (each {sku: qty}) in turn, each told what the ones before it
    gave back, as the terminal tells it from their events: [(money, points back)]."""
    returned: dict[str, int] = {}
    money, restored, reversed_ = D(0), 0, 0
    out = []
    for part in parts:
        r = refund(p, s, part, returned, reversed_, None, money, restored)
        out.append((r.money_refunded, r.points_restored))
        money += r.money_refunded
        restored += r.points_restored
        reversed_ += r.points_reversed
        for sku, qty in part.items():
            returned[sku] = returned.get(sku, 0) + qty
    return out


def test_a_small_item_back_from_a_sale_paid_with_points_to_the_cash_part_gives_money_back() -> None:
    """10 points a unit (points pay in steps of 0.10): 100.05 paid 990 points and 1.05 in
    money. The 3.95 item back came to -0.05 and 40 points (the customer owed the till, and the
    ledger refuses a refund below 0); it is 0.05 and 39 points, and the refunds add up to the
    sale."""
    p = program(redeem={"points_per_unit": 10})
    lines = [
        BasketLine("A", "A", 1, D("92.10"), "x"),
        BasketLine("B", "B", 1, D("3.95"), "x"),
        BasketLine("C", "C", 1, D("4.00"), "x"),
    ]
    s = sale(p, lines, redeem="max", balance=2000)
    assert (s.points_redeemed, s.total - s.points_value) == (990, D("1.05"))
    back = _refunds(p, s, [{"B": 1}, {"C": 1}, {"A": 1}])
    assert back == [(D("0.05"), 39), (D("0.00"), 40), (D("1.00"), 911)]


def test_when_no_whole_points_split_the_kept_items_the_refund_gives_all_the_money_left() -> None:
    """1 point pays 1.00: 7.50 paid 7 points and 0.50. Keeping the 3.80 item, no whole number
    of points leaves it owing at most the 0.50 paid in money; the 3.70 item back gives the
    0.50 and 3 points (3.50, never more than the item), the last refund the 4 points left."""
    p = program(redeem={"points_per_unit": 1, "min_cash": "0.50"})
    lines = [BasketLine("X", "X", 1, D("3.80"), "x"), BasketLine("Y", "Y", 1, D("3.70"), "x")]
    s = sale(p, lines, redeem="max", balance=100)
    assert (s.points_redeemed, s.total - s.points_value) == (7, D("0.50"))
    assert _refunds(p, s, [{"Y": 1}, {"X": 1}]) == [(D("0.50"), 3), (D("0.00"), 4)]


@settings(max_examples=300, deadline=None)
@given(
    per_unit=st.sampled_from([1, 7, 10, 100]),
    min_cash=st.sampled_from(["0", "0.50", "1.00"]),
    prices=st.lists(st.integers(1, 9000), min_size=2, max_size=5),
    balance=st.integers(0, 20_000),
    share=st.integers(0, 100),
    data=st.data(),
)
def test_refunds_in_any_order_never_ask_for_money_nor_give_back_more_than_was_returned(
    per_unit: int, min_cash: str, prices: list[int], balance: int, share: int, data: Any
) -> None:
    """Whatever the points step, the points payment and the order and size of the returns:
    each refund gives back money and points of 0 or more, the refunds so far never more than
    the units returned so far are worth, and all of them exactly what the sale was paid."""
    p = program(redeem={"points_per_unit": per_unit, "min_cash": min_cash})
    lines = [
        BasketLine(f"S{i}", "item", 1 + i % 2, D(c).scaleb(-2), "x") for i, c in enumerate(prices)
    ]
    most = sale(p, lines, redeem="max", balance=balance).points_redeemed
    redeem = most * share // 100 // per_unit * per_unit  # whole units of money
    s = sale(p, lines, redeem=redeem or None, balance=balance)
    units = [line.sku for line in lines for _ in range(line.qty)]
    order = data.draw(st.permutations(units))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order) - 1), max_size=3)))
    parts = []
    for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
        part: dict[str, int] = {}
        for sku in order[start:end]:
            part[sku] = part.get(sku, 0) + 1
        parts.append(part)
    back = _refunds(p, s, parts)
    price = {line.sku: line.unit_price for line in lines}
    worth = D(0)
    value = D(0)
    for part, (money, points) in zip(parts, back, strict=True):
        assert money >= 0 and points >= 0
        worth += sum(price[sku] * qty for sku, qty in part.items())
        value += money + D(points) / per_unit
        assert value <= worth
    assert sum(m for m, _ in back) == s.total - s.points_value
    assert sum(points for _, points in back) == s.points_redeemed


# A sale's points spent by a second sale, the first returned (its points taken back are owed),
# then the second returned: its points given back settle what is owed of them first.
A_DAY, B_DAY, A_BACK, C_DAY = (
    date(2026, 1, 10),
    date(2026, 2, 1),
    date(2026, 3, 1),
    date(2026, 4, 1),
)
A_LOT = Lot(400, A_DAY, date(2027, 1, 10))


def _a_spent_by_b_then_a_returned(other: tuple[Lot, ...] = ()) -> tuple[Account, tuple[Lot, ...]]:
    """Sale A earns 400 (a year's lot), sale B pays 400 points (A's, first to expire), A is
    returned: the account after that, and the lots B spent (what B's refund gives back)."""
    earned = after_checkout(Account(other), A_DAY, 0, [A_LOT])
    b_spent = earned.spend(400, B_DAY, allow_debt=True)[1]
    assert b_spent == (A_LOT,)
    paid = after_checkout(earned, B_DAY, 400, [])
    return after_refund(paid, A_BACK, 400, [A_LOT], []), b_spent


@pytest.mark.parametrize("b_back", [date(2026, 6, 1), date(2027, 2, 1)], ids=["live", "lapsed"])
def test_returning_the_sale_that_spent_a_returned_sales_points_gives_back_what_paid_their_debt(
    b_back: date,
) -> None:
    """A's return left a debt of 400 that C's 400 paid. B's return gives back A's 400: they
    settle that debt, so C's points come back with C's dates; before, they paid it a second
    time (and after A's lot lapsed, came back lapsed: the member had 0 instead of C's 400)."""
    a_back, b_spent = _a_spent_by_b_then_a_returned()
    assert (a_back.balance(A_BACK), a_back.owed) == (-400, (A_LOT,))
    c_lot = Lot(400, C_DAY, date(2027, 4, 1))
    c_paid = after_checkout(a_back, C_DAY, 0, [c_lot])
    assert (c_paid.balance(C_DAY), c_paid.covered) == (0, (c_lot,))
    b_back_account = after_refund(c_paid, b_back, 0, [], b_spent)
    assert b_back_account.lots == (c_lot,)
    assert b_back_account.balance(b_back) == 400
    assert (b_back_account.debt, b_back_account.owed, b_back_account.covered) == (0, (), ())


def test_returning_both_sales_after_the_points_lapsed_leaves_no_debt_for_nothing() -> None:
    """Nothing paid A's debt before B came back after A's lot lapsed: the points B gives back
    are the very points owed, lapsed or not; before, they came back lapsed and the member was
    left owing 400 for two sales both returned."""
    a_back, b_spent = _a_spent_by_b_then_a_returned()
    after = after_refund(a_back, date(2027, 2, 1), 0, [], b_spent)
    assert (after.balance(date(2027, 2, 1)), after.debt, after.lots) == (0, 0, ())


def test_points_taken_instead_of_a_returned_sales_spent_points_come_back_with_their_dates() -> None:
    """With other points held, A's return takes 400 of them in place of A's spent ones (no
    debt). B's return after A's lot lapsed gives those 400 back as they were: before, it gave
    back A's lapsed lot and the member kept 600 of 1,000 points never spent."""
    forever = Lot(1000, date(2025, 6, 1), None)
    a_back, b_spent = _a_spent_by_b_then_a_returned((forever,))
    assert (a_back.lots, a_back.debt) == ((Lot(600, *_dates(forever)),), 0)
    assert a_back.covered == (Lot(400, *_dates(forever)),)
    after = after_refund(a_back, date(2027, 2, 1), 0, [], b_spent)
    assert (after.lots, after.balance(date(2027, 2, 1))) == ((forever,), 1000)


def _dates(lot: Lot) -> tuple[date, date | None]:
    return lot.earned_at, lot.expires_at


@given(
    held=st.integers(0, 800),
    earned=st.integers(1, 800),
    paid=st.integers(1, 1600),
    b_earned=st.integers(0, 400),
    later=st.integers(0, 800),
    clawback=st.integers(0, 300),
    back_days=st.integers(30, 800),
)
def test_returning_a_sale_and_the_one_that_spent_its_points_leaves_the_rest_as_it_was(
    held: int, earned: int, paid: int, b_earned: int, later: int, clawback: int, back_days: int
) -> None:
    """Whatever the member held before (``held``, never lapsing), however much of A's points
    and their own B paid with, whatever B earned (a year's lot), whatever they earn or lose in
    between (``later``, never lapsing; a clawback), and whether A's and B's lots have lapsed by
    B's return: once both sales are returned the member has what they had without them."""
    other = (Lot(held, date(2025, 6, 1), None),) if held else ()
    earned_acc = after_checkout(Account(other), A_DAY, 0, [Lot(earned, *_dates(A_LOT))])
    paid = min(paid, earned_acc.balance(B_DAY))
    b_spent = earned_acc.spend(paid, B_DAY, allow_debt=False)[1]
    b_lots = [Lot(b_earned, B_DAY, date(2027, 2, 1))] if b_earned else []
    acc = after_checkout(earned_acc, B_DAY, paid, b_lots)
    acc = after_refund(acc, A_BACK, earned, [Lot(earned, *_dates(A_LOT))], [])
    acc = acc.take(clawback, A_BACK, allow_debt=True)
    if later:
        acc = after_checkout(acc, C_DAY, 0, [Lot(later, C_DAY, None)])
    b_back = date.fromordinal(C_DAY.toordinal() + back_days)
    acc = after_refund(acc, b_back, b_earned, b_lots, b_spent)
    assert acc.balance(b_back) == held + later - clawback
    assert sum(lot.points for lot in acc.covered) <= sum(lot.points for lot in acc.owed)
    if not clawback:  # a clawback's debt paid by later points may leave a pair owed and covered
        assert (acc.owed, acc.covered) == ((), ())
