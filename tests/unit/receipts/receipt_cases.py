"""Receipts built to break a layout, shared by the receipt tests (a module name no other test
folder uses, so importing it from a test file is unambiguous)."""

from __future__ import annotations

from decimal import Decimal

from loyalty_pos.receipts.model import PointsLine, Receipt, ReceiptLine, mask_card
from loyalty_pos.receipts.sample import sample_member, sample_receipt


def extreme_receipt() -> Receipt:
    """Long names and ids, huge amounts and points: everything a narrow layout can trip on."""
    return sample_receipt(
        terminal_id="CHECKOUT-LANE-12-NORTH-ENTRANCE",
        receipt_id="CHECKOUT-LANE-12-NORTH-ENTRANCE-123456",
        cashier="Maximiliane Oberndorfer-Wittelsbach",
        lines=[
            ReceiptLine(
                name="Extra-large family pack of organic fair-trade dark chocolate with sea "
                "salt and caramelised almond pieces",
                sku="CHOC",
                qty=1000,
                unit_price=Decimal("99999.99"),
                line_total=Decimal("99999990.00"),
            ),
            ReceiptLine(
                name="Supercalifragilisticexpialidociousnessmeter",
                sku="X",
                qty=1,
                unit_price=Decimal("123456789012.34"),
                line_total=Decimal("123456789012.34"),
            ),
            ReceiptLine(
                name="Loose tea",
                sku="TEA",
                qty=Decimal("0.350"),
                unit_price=Decimal("42.00"),
                line_total=Decimal("14.70"),
            ),
        ],
        total=Decimal("123556789017.04"),
        discount=Decimal("0"),
        points_redeemed=123456789,
        points_value=Decimal("1234567.89"),
        due=Decimal("123555554449.15"),
        member=sample_member(
            card_masked=mask_card("6280001234567890123456789012"),
            points_earned=987654321,
            breakdown=[
                PointsLine("Base points", 790123456),
                PointsLine("Tier bonus (Sapphire)", 197530865),
            ],
            new_balance=-1234567890,
            tier="Sapphire",
            next_tier="Black Diamond Platinum Elite",
            spend_to_next_tier=Decimal("9999999.99"),
        ),
    )
