"""Sample receipts: for the printer test page, the benchmark, docs/receipt-sample.png and tests.

They follow DESIGN §4-§5's demo program (1 point per 1.00, 100 points pay 1.00, Sapphire x1.25,
"spend60" threshold bonus, coffee punch card), so the numbers on them add up.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from loyalty_pos.receipts.model import (
    MemberPart,
    PointsExpiry,
    PointsLine,
    Receipt,
    ReceiptLine,
    RefundPart,
    mask_card,
)

_STORE = {
    "store_name": "Demo Store",
    "store_address": ("12 Market Street", "1000 Brussels"),
    "terminal_id": "T1",
    "currency": "EUR",
    "cashier": "Anna",
    "footer": ("Thank you for shopping with us!", "Keep this receipt for returns."),
}


def sample_lines() -> tuple[ReceiptLine, ...]:
    return (
        ReceiptLine(
            name="Mascara Volume Black",
            sku="MASCARA",
            qty=1,
            unit_price=Decimal("45.00"),
            line_total=Decimal("45.00"),
        ),
        ReceiptLine(
            name="Coffee beans, single origin Ethiopia Yirgacheffe, 250 g",
            sku="COFFEE",
            qty=6,
            unit_price=Decimal("2.50"),
            line_total=Decimal("12.50"),
            free_units=1,
        ),
        ReceiptLine(
            name="Paperback: The Old Man and the Sea",
            sku="BOOK-0042",
            qty=1,
            unit_price=Decimal("9.90"),
            line_total=Decimal("9.90"),
        ),
    )


def sample_member(**overrides: object) -> MemberPart:
    fields: dict[str, object] = {
        "card_masked": mask_card("04A1B2C3D4E5F6"),
        "points_earned": 5168,
        "breakdown": (
            PointsLine("Base points", 62),
            PointsLine("Tier bonus (Sapphire)", 15),
            PointsLine("Spend 60, get 5000", 5000),
            PointsLine("Books cashback", 91),
        ),
        "new_balance": 7413,
        "tier": "Sapphire",
        "next_tier": "Gold",
        "spend_to_next_tier": Decimal("1412.60"),
        "next_expiry": PointsExpiry(350, date(2027, 1, 31)),
    }
    fields.update(overrides)
    return MemberPart(**fields)  # type: ignore[arg-type]


def sample_receipt(*, member: bool | MemberPart = True, **overrides: object) -> Receipt:
    """A sale of three lines (one with a free coffee), 500 points paid, with or without a card.

    ``member`` may be a ``MemberPart`` to use instead of ``sample_member()``.
    """
    fields: dict[str, object] = {
        **_STORE,
        "receipt_id": "T1-000017",
        "occurred_at": datetime(2026, 11, 22, 14, 0),
        "lines": sample_lines(),
        "total": Decimal("67.40"),
        "discount": Decimal("2.50"),
        "points_redeemed": 500 if member else 0,
        "points_value": Decimal("5.00") if member else Decimal("0"),
        "due": Decimal("62.40") if member else Decimal("67.40"),
        "member": (member if isinstance(member, MemberPart) else sample_member())
        if member
        else None,
    }
    fields.update(overrides)
    return Receipt(**fields)  # type: ignore[arg-type]


def sample_refund() -> Receipt:
    """The mascara from ``sample_receipt`` brought back the next day."""
    return Receipt(
        **_STORE,  # type: ignore[arg-type]
        receipt_id="T1-000031",
        occurred_at=datetime(2026, 11, 23, 10, 15),
        lines=(sample_lines()[0],),
        total=Decimal("45.00"),
        points_value=Decimal("3.34"),
        due=Decimal("41.66"),
        member=sample_member(points_earned=0, breakdown=(), new_balance=2676, next_expiry=None),
        refund=RefundPart(
            original_receipt_id="T1-000017",
            points_reversed=5071,
            points_restored=334,
        ),
    )
