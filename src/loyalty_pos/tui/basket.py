"""The basket as the checkout holds it between two keys: lines, the card and the points payment.

Nothing is priced here: totals, points and limits come from ``price_basket``. The basket is also
the draft saved after every change (``to_draft``), so a basket left open survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from loyalty_pos.checkout import OPEN_LINE
from loyalty_pos.domain.quote import BasketLine


def is_open_line(line: BasketLine) -> bool:
    """A free-amount line (typed amount and category) rather than a catalog item."""
    return line.sku.startswith(OPEN_LINE)


@dataclass(frozen=True, slots=True)
class Basket:
    """Attributes:
    lines: catalog and free-amount lines, in the order they were added; a catalog item scanned
        again adds to its line.
    card: the member's card, or None for a sale without a card.
    redeem: the points payment asked for: a number of points, "max", or None.
    """

    lines: tuple[BasketLine, ...] = ()
    card: str | None = None
    redeem: int | str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.lines and self.card is None

    def add(self, line: BasketLine) -> Basket:
        if not is_open_line(line):
            for index, existing in enumerate(self.lines):
                if existing.sku == line.sku:
                    merged = replace(existing, qty=existing.qty + line.qty)
                    return replace(self, lines=_replaced(self.lines, index, merged))
        return replace(self, lines=(*self.lines, line))

    def remove(self, index: int) -> Basket:
        return replace(self, lines=self.lines[:index] + self.lines[index + 1 :])

    def one_less(self, index: int) -> Basket:
        """One unit of the line off (the customer puts one of three milks back); a line of one
        unit goes, as ``remove``."""
        line = self.lines[index]
        if line.qty <= 1:
            return self.remove(index)
        return replace(self, lines=_replaced(self.lines, index, replace(line, qty=line.qty - 1)))

    def with_card(self, card: str | None) -> Basket:
        redeem = self.redeem if card == self.card else None
        return replace(self, card=card, redeem=redeem)

    def with_redeem(self, redeem: int | str | None) -> Basket:
        return replace(self, redeem=redeem)

    def to_draft(self) -> dict[str, Any]:
        return {
            "card": self.card,
            "redeem": self.redeem,
            "lines": [
                {"amount": str(line.unit_price), "category": line.category}
                if is_open_line(line)
                else {"sku": line.sku, "qty": line.qty}
                for line in self.lines
            ],
        }


def _replaced(
    lines: tuple[BasketLine, ...], index: int, line: BasketLine
) -> tuple[BasketLine, ...]:
    return lines[:index] + (line,) + lines[index + 1 :]
