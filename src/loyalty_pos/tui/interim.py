"""Services the app needs that ``checkout.py`` does not offer yet, kept small and in one place.

Each function here only reads the store through its helpers or composes existing services; none
computes points. Each should move to the service layer when it gets an equivalent:
``refundable_lines`` (what is left to refund on a receipt), ``member_card_of`` and
``replace_lost_card`` (link the new card and block the old one in one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from loyalty_pos.checkout import Terminal, block_card, link_card, mask
from loyalty_pos.domain.errors import NotFound, Refused
from loyalty_pos.domain.money import from_minor


@dataclass(frozen=True, slots=True)
class RefundableLine:
    """One SKU of a sale: how many were sold and how many can still come back."""

    sku: str
    name: str
    sold: int
    left: int
    unit_price: Decimal


def refundable_lines(t: Terminal, receipt_id: str) -> tuple[list[RefundableLine], str]:
    """The lines of sale ``receipt_id`` with what is left to refund, and the member's masked card."""
    sale = t.store.event_by_receipt(receipt_id)
    if sale is None or sale.get("type") != "checkout":
        raise NotFound(f"No sale with receipt id {receipt_id!r} on this terminal.")
    returned: dict[str, int] = {}
    for refund in t.store.refunds_of(receipt_id):
        for line in refund["lines"]:
            returned[line["sku"]] = returned.get(line["sku"], 0) + line["qty"]
    sold: dict[str, RefundableLine] = {}
    for line in sale["lines"]:
        known = sold.get(line["sku"])
        qty = line["qty"] + (known.sold if known else 0)
        price = from_minor(line["unit_price_minor"], sale["currency"])
        sold[line["sku"]] = RefundableLine(line["sku"], line["name"], qty, qty, price)
    lines = [
        RefundableLine(r.sku, r.name, r.sold, max(r.sold - returned.get(r.sku, 0), 0), r.unit_price)
        for r in sold.values()
    ]
    return lines, mask(sale.get("card"))


def member_card_of(t: Terminal, card: str) -> str:
    """The member id holding ``card``, blocked or not (a lost card is often already blocked)."""
    row = t.store.card(card.strip())
    if row is None:
        raise NotFound(f"Card {mask(card)} is not known here.")
    return str(row["member_id"])


def replace_lost_card(t: Terminal, old_card: str, new_card: str, pin: str) -> dict[str, Any]:
    """Give the holder of ``old_card`` the ``new_card`` and block the old one (if not yet).

    The link comes first: if it is refused, nothing changed. Two transactions, not one: the
    service layer should offer this as one use case.
    """
    old_card, new_card = old_card.strip(), new_card.strip()
    if not old_card or not new_card:
        raise Refused("Give the lost card and the new card.")
    member_id = member_card_of(t, old_card)
    linked = link_card(t, new_card, member_id, pin)
    row = t.store.card(old_card)
    if row is not None and row["card_status"] != "blocked":
        block_card(t, old_card, pin)
    return {**linked, "blocked": mask(old_card)}
