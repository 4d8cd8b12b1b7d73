"""Fuzzing the rules: any program file either loads or is refused with named problems; any basket
is either quoted (points never negative, money adds up) or refused with a sentence."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_pos.domain.errors import ConfigError, Refused
from loyalty_pos.domain.program import parse_program
from loyalty_pos.domain.quote import BasketLine, MemberState, quote

EXAMPLE = tomllib.loads(
    (Path(__file__).resolve().parents[2] / "config" / "program.example.toml").read_text()
)
PROGRAM = parse_program(EXAMPLE)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["0", "-1", "1e9", "NaN", "Infinity", "0.001", "2026-02-30", "sat"]),
)


@st.composite
def mutated_programs(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(data)))
        table = data[section]
        if isinstance(table, list):
            if not table:
                continue
            table = table[draw(st.integers(0, len(table) - 1))]
        levels = table.get("levels") if isinstance(table, dict) else None
        if section == "tiers" and isinstance(levels, list) and levels and draw(st.booleans()):
            table = levels[draw(st.integers(0, len(levels) - 1))]
        if not isinstance(table, dict):
            continue
        key = draw(st.one_of(st.sampled_from(sorted(table)), st.text(min_size=1, max_size=8)))
        table[key] = draw(values)
    return data


@settings(max_examples=300, deadline=None)
@given(mutated_programs())
def test_any_program_loads_or_is_refused_with_named_problems(data: dict[str, Any]) -> None:
    try:
        parse_program(data, "fuzz.toml")
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)


prices = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
lines = st.builds(
    BasketLine,
    sku=st.sampled_from(["COFFEE", "MASCARA", "BOOK", "CIG", "X"]),
    name=st.just("item"),
    qty=st.integers(1, 50),
    unit_price=prices,
    category=st.sampled_from(["coffee", "cosmetics", "books", "tobacco", "grocery"]),
)
members = st.one_of(
    st.none(),
    st.builds(
        MemberState,
        member_id=st.just("M1"),
        balance=st.integers(-5000, 100_000),
        tier=st.sampled_from(["Malachite", "Sapphire", "Ruby", "Diamond"]),
        qualifying_spend=prices,
        punch=st.dictionaries(st.just("COFFEE"), st.integers(0, 100)),
        status=st.sampled_from(["active", "active", "frozen", "provisional"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(lines, min_size=1, max_size=6),
    members,
    st.one_of(st.none(), st.just("max"), st.integers(-10, 200_000)),
    st.integers(0, 800),
    st.one_of(st.none(), st.integers(0, 6000)),
)
def test_any_basket_is_quoted_consistently_or_refused(basket, member, redeem, day, cap) -> None:
    now = datetime(2026, 1, 1, 10) + timedelta(days=day)
    try:
        q = quote(PROGRAM, basket, member, now, redeem, cap)
    except Refused as e:
        assert str(e)
        return
    assert q.points_earned >= 0 and q.points_redeemed >= 0
    assert q.total == sum((ql.line_total for ql in q.lines), Decimal(0))
    assert q.due == q.total - q.points_value >= 0
    assert q.points_redeemed == 0 or q.due >= min(PROGRAM.redeem.min_cash, q.total)
    assert sum(lot.points for lot in q.lots) == q.points_earned
    if member is not None and q.points_redeemed:
        assert q.points_redeemed <= member.balance
        assert cap is None or q.points_redeemed <= cap
