"""The text receipt: exact layouts at the three paper widths, and what no receipt may ever do."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receipt_cases import extreme_receipt
from rich.cells import cell_len

from loyalty_pos.receipts.layout import money
from loyalty_pos.receipts.model import (
    MemberPart,
    PointsLine,
    Receipt,
    ReceiptLine,
    RefundPart,
)
from loyalty_pos.receipts.sample import sample_receipt, sample_refund
from loyalty_pos.receipts.text import render_lines, render_text

SNAPSHOTS = Path(__file__).parent / "snapshots"

CASES = {
    "sale_member_32": lambda: (sample_receipt(), 32),
    "sale_member_42": lambda: (sample_receipt(), 42),
    "sale_member_48": lambda: (sample_receipt(), 48),
    "sale_no_member_42": lambda: (sample_receipt(member=False, cashier=None, footer=()), 42),
    "refund_member_42": lambda: (sample_refund(), 42),
    "refund_no_member_32": lambda: (dataclasses.replace(sample_refund(), member=None), 32),
    "extreme_32": lambda: (extreme_receipt(), 32),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_receipt_is_exactly_the_reviewed_snapshot(name: str) -> None:
    receipt, width = CASES[name]()
    expected = (SNAPSHOTS / f"{name}.txt").read_text(encoding="utf-8")
    assert render_text(receipt, width) == expected


@pytest.mark.parametrize("width", [32, 42, 48])
def test_amounts_end_at_the_right_edge(width: int) -> None:
    lines = render_lines(sample_receipt(), width)
    for amount in ("45.00", "12.50", "9.90", "67.40", "-5.00", "62.40", "+5168", "7413"):
        (line,) = [line for line in lines if line.endswith(" " + amount)]
        assert len(line) == width


@pytest.mark.parametrize("width", [32, 42])
def test_wide_characters_take_two_columns_and_amounts_still_end_at_the_right_edge(
    width: int,
) -> None:
    base = sample_receipt()
    wide = dataclasses.replace(base.lines[0], name="抹茶ラテ 🍵 grande")
    receipt = dataclasses.replace(base, lines=[wide, *base.lines[1:]], store_name="王记超市")
    lines = render_lines(receipt, width)
    (line,) = [line for line in lines if line.startswith("抹茶ラテ")]
    assert line.endswith(" " + money(wide.line_total, receipt.currency))
    assert cell_len(line) == width  # 4 + 1 + 2 of its 7 characters take two columns
    (title,) = [line for line in lines if "王记超市" in line]
    assert title == " " * ((width - 8) // 2) + "王记超市"


def test_long_product_name_takes_two_lines_and_is_shortened() -> None:
    lines = render_lines(extreme_receipt(), 32)
    assert "Extra-large family pack of" in lines
    assert "organic fair-trade dark choco..." in lines
    assert not any("almond" in line for line in lines)


def test_an_amount_too_wide_for_its_label_goes_on_its_own_line_uncut() -> None:
    lines = render_lines(extreme_receipt(), 32)
    i = lines.index("Paid with 123456789 points")
    assert lines[i + 1] == "-1234567.89".rjust(32)


def test_receipt_without_a_card_has_no_member_part() -> None:
    text = render_text(sample_receipt(member=False), 42)
    assert "Member card" not in text and "Points" not in text and "points" not in text
    assert "Amount due" not in text  # nothing paid with points: the total is what is due


def test_member_receipt_shows_breakdown_balance_tier_progress_and_expiry() -> None:
    text = render_text(sample_receipt(), 42)
    for expected in (
        "**********E5F6",
        "  Tier bonus (Sapphire)                 15",
        "  Spend 60, get 5000                  5000",
        "Points balance                        7413",
        "Spend 1412.60 EUR more to reach Gold",
        "350 points expire on 2027-01-31",
    ):
        assert expected in text
    assert "04A1B2C3" not in text


def test_refund_receipt_names_the_original_and_the_points_moved_back() -> None:
    text = render_text(sample_refund(), 42)
    assert "REFUND" in text
    assert "Refund of receipt                T1-000017" in text
    assert "Money back EUR                       41.66" in text
    assert "Points taken back                    -5071" in text
    assert "Points given back                     +334" in text


def test_zero_decimal_currency_prints_whole_amounts() -> None:
    assert money(Decimal("1500"), "JPY") == "1500"
    assert money(Decimal("12.5"), "EUR") == "12.50"


def test_a_width_narrower_than_any_printer_is_refused() -> None:
    with pytest.raises(ValueError):
        render_text(sample_receipt(), 20)


# ----------------------------------------------------------------------------------- properties

names = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0x24F, categories=["L", "N", "P", "Zs"]
    )
    # Any script, and symbols: Chinese and Japanese characters and emoji take two columns,
    # combining marks none.
    | st.characters(codec="utf-8", categories=["L", "N", "P", "Zs", "So", "Mn"]),
    min_size=1,
    max_size=150,
)
amounts = st.decimals(min_value=0, max_value=10**14, places=2)
points = st.integers(min_value=0, max_value=10**12)


@st.composite
def receipts(draw: st.DrawFn) -> Receipt:
    lines = draw(
        st.lists(
            st.builds(
                ReceiptLine,
                name=names,
                sku=st.just("SKU"),
                qty=st.one_of(
                    st.integers(1, 10**6), st.decimals(min_value="0.001", max_value=999, places=3)
                ),
                unit_price=amounts,
                line_total=amounts,
                free_units=st.integers(0, 10**6),
            ),
            min_size=1,
            max_size=4,
        )
    )
    member = draw(
        st.none()
        | st.builds(
            MemberPart,
            card_masked=st.text("*", max_size=40).map(lambda s: s + "1234"),
            points_earned=points,
            breakdown=st.lists(st.builds(PointsLine, names, points), max_size=4),
            new_balance=st.integers(-(10**12), 10**12),
            tier=names,
            next_tier=st.none() | names,
            spend_to_next_tier=st.none() | amounts,
        )
    )
    refund = draw(
        st.none()
        | st.builds(
            RefundPart,
            original_receipt_id=st.from_regex(r"[A-Za-z0-9_-]{1,32}-[0-9]{6}", fullmatch=True),
            points_reversed=points,
            points_restored=points,
        )
    )
    return Receipt(
        store_name=draw(names),
        store_address=draw(st.lists(names, max_size=2)),
        terminal_id=draw(st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)),
        receipt_id=draw(st.from_regex(r"[A-Za-z0-9_-]{1,32}-[0-9]{6}", fullmatch=True)),
        occurred_at=datetime(2026, 11, 22, 14, 0),
        cashier=draw(st.none() | names),
        lines=lines,
        total=draw(amounts),
        discount=draw(amounts),
        points_redeemed=draw(points),
        points_value=draw(amounts),
        due=draw(amounts),
        member=member,
        footer=draw(st.lists(names, max_size=2)),
        refund=refund,
    )


@settings(max_examples=300, deadline=None)
@given(receipt=receipts(), width=st.integers(24, 64))
def test_no_line_is_ever_wider_than_the_paper(receipt: Receipt, width: int) -> None:
    for line in render_text(receipt, width).splitlines():
        assert cell_len(line) <= width, line


@settings(max_examples=200, deadline=None)
@given(receipt=receipts(), width=st.sampled_from([32, 42, 48]))
def test_amounts_are_printed_whole_never_cut(receipt: Receipt, width: int) -> None:
    lines = render_lines(receipt, width)
    for line in receipt.lines:
        total = money(line.line_total, receipt.currency)
        assert any(row.endswith(" " + total) or row == total for row in lines)
    assert any(row.endswith(money(receipt.total, receipt.currency)) for row in lines)
