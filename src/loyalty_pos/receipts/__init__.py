"""Receipts: one model (``model``), laid out once (``layout``), rendered as text (``text``), as a
1-bit PNG with a Code128 barcode (``image``) and sent to an ESC/POS printer (``printer``).

Only the model is imported here, so building a ``Receipt`` does not load Pillow or python-escpos;
import ``loyalty_pos.receipts.image`` or ``.printer`` where they are needed.
"""

from loyalty_pos.receipts.model import (
    MemberPart,
    PointsExpiry,
    PointsLine,
    Receipt,
    ReceiptLine,
    RefundPart,
    mask_card,
)

__all__ = [
    "MemberPart",
    "PointsExpiry",
    "PointsLine",
    "Receipt",
    "ReceiptLine",
    "RefundPart",
    "mask_card",
]
