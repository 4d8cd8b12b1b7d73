"""The receipt model refuses what would print wrong: floats for money, unmasked cards."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from loyalty_pos.receipts.model import MemberPart, ReceiptLine, mask_card
from loyalty_pos.receipts.sample import sample_member, sample_receipt, sample_refund


@pytest.mark.parametrize(
    ("card", "masked"),
    [
        ("04A1B2C3D4E5F6", "**********E5F6"),
        ("12345", "*2345"),
        ("1234", "1234"),
        ("12", "12"),
        ("  04A1B2C3  ", "****B2C3"),
    ],
)
def test_mask_card_shows_only_the_last_four_characters(card: str, masked: str) -> None:
    assert mask_card(card) == masked


def test_an_unmasked_card_never_reaches_a_receipt() -> None:
    with pytest.raises(ValueError, match="mask_card"):
        sample_member(card_masked="04A1B2C3D4E5F6")


def test_money_as_float_is_refused() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        sample_receipt(total=67.4)
    with pytest.raises(TypeError, match="Decimal"):
        ReceiptLine(name="x", sku="x", qty=1, unit_price=1.5, line_total=Decimal("1.50"))
    with pytest.raises(TypeError):
        ReceiptLine(name="x", sku="x", qty=1.5, unit_price=Decimal("1"), line_total=Decimal("1.50"))


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError):
        sample_receipt(due=Decimal("-1.00"))


def test_receipt_id_must_fit_a_code128_barcode() -> None:
    with pytest.raises(ValueError):
        sample_receipt(receipt_id="T1-00001\N{EURO SIGN}")
    with pytest.raises(ValueError):
        sample_receipt(receipt_id="")


def test_lists_are_accepted_and_stored_as_tuples_and_the_receipt_is_frozen() -> None:
    receipt = sample_receipt(lines=list(sample_receipt().lines), footer=["Thanks"])
    assert isinstance(receipt.lines, tuple) and receipt.footer == ("Thanks",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        receipt.total = Decimal("1")  # type: ignore[misc]


def test_kind_follows_the_refund_part() -> None:
    assert sample_receipt().kind == "sale"
    assert sample_refund().kind == "refund"


def test_member_balance_may_be_negative_after_a_refund() -> None:
    member = sample_member(new_balance=-20)
    assert isinstance(member, MemberPart) and member.new_balance == -20
