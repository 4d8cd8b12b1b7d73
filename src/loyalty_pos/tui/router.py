"""What a code is, decided in one place for every source (scanners, readers, typed input).

The order matters: a receipt id (``T1-000017``) opens a refund; anything else is looked up as a
catalog item (SKU or EAN) and then as a member card (``Terminal.is_card``); the session does those
two lookups on the service thread (``CheckoutSession.scan``).
"""

from __future__ import annotations

import re

from loyalty_pos.domain.errors import Refused

# The entry starts with a quantity ("3*", "0 * MILK"): the catalog import checks it too, and
# refuses a SKU that does.
from loyalty_pos.domain.events import QUANTITY_GIVEN as QUANTITY_GIVEN
from loyalty_pos.domain.events import RECEIPT_ID as RECEIPT_ID  # the import checks it too
from loyalty_pos.domain.events import is_receipt_id as is_receipt_id
from loyalty_pos.domain.quote import MAX_QTY

QTY_PREFIX = re.compile(r"^(\d+)\*$")
_ENTRY = re.compile(r"^(?:(\d+)\s*\*\s*)?(.+)$")
#: ``2.5*MILK``, ``2,5*`` or ``.5*MILK``: a quantity, but not a whole one (not a code to look up).
_FRACTION = re.compile(r"^(\d+[.,]\d*|[.,]\d+)\s*\*")


def parse_entry(text: str) -> tuple[str, int]:
    """``"3*COFFEE"`` -> ``("COFFEE", 3)``; ``"COFFEE"`` -> ``("COFFEE", 1)``."""
    text = text.strip()
    if fraction := _FRACTION.match(text):
        raise Refused(f"The quantity must be a whole number (got {fraction[1]}).")
    if prefix := QTY_PREFIX.fullmatch(text):
        raise Refused(f"Now scan or type the item to add {_quantity(prefix[1])} of.")
    match = _ENTRY.fullmatch(text)
    if match is None or not match.group(2).strip():
        raise Refused("Type an item code, or a quantity, '*' and the code (3*COFFEE).")
    qty = _quantity(match.group(1)) if match.group(1) else 1
    if qty < 1:
        raise Refused("The quantity must be at least 1.")
    if qty > MAX_QTY:  # refused here, with the field kept as typed (a slip: 1000 for 100)
        raise Refused(f"The quantity must be from 1 to {MAX_QTY} (got {qty}).")
    return match.group(2).strip(), qty


def pending_quantity(field_text: str) -> int | None:
    """The quantity typed before a scan (``"3*"``), if the field holds just that."""
    match = QTY_PREFIX.fullmatch(field_text.strip())
    if match is None or len(match.group(1)) > _MOST_DIGITS:
        return None
    return int(match.group(1))


#: More digits than any quantity has, read as a number: a paste of thousands of digits is more
#: than Python's int() reads (QA: "Something went wrong (ValueError)").
_MOST_DIGITS = 9


def _quantity(digits: str) -> int:
    """A quantity as typed; too many digits to be one is refused, in words, before it is read."""
    if len(digits) > _MOST_DIGITS:
        raise Refused(f"The quantity must be from 1 to {MAX_QTY} (got {len(digits)} digits).")
    return int(digits)
