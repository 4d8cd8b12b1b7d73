"""Card ids are identifiers, not secrets; still, logs and receipts show only their last 4 characters."""

from __future__ import annotations


def mask_card(card: str) -> str:
    """Hide all but the last 4 characters of a card id (DESIGN §3).

    >>> mask_card("04A1B2C3D4E5F6")
    '**********E5F6'
    """
    card = card.strip()
    return "*" * max(0, len(card) - 4) + card[-4:]
