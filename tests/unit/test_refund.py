"""Refunds recompute the original checkout without the returned units (DESIGN.md §5)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

import pytest

from loyalty_pos.domain.errors import Refused
from loyalty_pos.domain.quote import BasketLine, MemberState, OriginalSale, quote, refund

from .programs import program

NOW = datetime(2026, 11, 22, 14, 0)
SPEND60 = {"id": "spend60", "kind": "threshold_bonus", "min_spend": "60.00", "bonus": 5000}


def sale(p, lines, redeem=None, balance=10_000):  # type: ignore[no-untyped-def]
    m = MemberState("M1", balance, "Malachite", D(0))
    q = quote(p, lines, m, NOW, redeem)
    return OriginalSale(
        tuple(lines), m, NOW, q.total, q.points_value, q.points_redeemed, q.points_earned
    )


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
