"""The one receipt model every renderer reads: text preview, PNG and ESC/POS printer.

Checkout and refund results are turned into a ``Receipt`` once (by the service layer); the
renderers never compute anything a cashier could dispute, they only lay out these values. So every
number printed on a receipt is a field here, already computed: money as ``Decimal`` in the
receipt's currency, points as ``int``. Construction checks types (a float for money is a bug, not a
rounding choice) and that a card number was masked before it got here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

#: A masked card: any number of ``*`` then at most 4 visible characters (see ``mask_card``).
from loyalty_pos.domain.cards import mask_card
from loyalty_pos.domain.quote import PunchCard

_MASKED_CARD = re.compile(r"\**[^*]{0,4}")
#: Receipt ids go into a Code128 barcode (code set B): printable ASCII only.
_RECEIPT_ID = re.compile(r"[\x20-\x7e]{1,48}")


def _money(owner: object, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Decimal):
        raise TypeError(
            f"{type(owner).__name__}.{name} must be a decimal.Decimal, got {type(value).__name__}"
        )
    if not value.is_finite() or value < 0:
        raise ValueError(f"{type(owner).__name__}.{name} must be a finite amount >= 0: {value}")


def _points(owner: object, name: str, value: object, *, signed: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{type(owner).__name__}.{name} must be an int of points")
    if value < 0 and not signed:
        raise ValueError(f"{type(owner).__name__}.{name} must be >= 0: {value}")


def _as_tuple(obj: object, *names: str) -> None:
    """Accept any iterable for sequence fields (lists are easiest to build) but store tuples."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise TypeError(f"{type(obj).__name__}.{name} must be a sequence, not {value!r}")
        object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptLine:
    """One basket line as it is printed.

    Attributes:
        name: Product name as the customer knows it; long names are wrapped or shortened.
        sku: The catalog's stock-keeping unit (not printed, kept for reprints and refunds).
        qty: Units bought (or returned, on a refund); an int, or a Decimal for weighed goods.
        unit_price: Price of one unit.
        line_total: What the line costs after free units (``nth_free``): (qty - free_units) x
            unit_price for counted goods.
        free_units: Units of this line given free by a promotion (0 when none).
    """

    name: str
    sku: str
    qty: int | Decimal
    unit_price: Decimal
    line_total: Decimal
    free_units: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.qty, bool) or not isinstance(self.qty, int | Decimal) or self.qty <= 0:
            raise TypeError(f"ReceiptLine.qty must be an int or Decimal > 0, got {self.qty!r}")
        _money(self, "unit_price", self.unit_price)
        _money(self, "line_total", self.line_total)
        _points(self, "free_units", self.free_units)


@dataclass(frozen=True, slots=True)
class PointsLine:
    """One line of the points breakdown.

    Attributes:
        label: What the cashier and customer read: "Base points", "Tier bonus (Sapphire)", or a
            promotion's name ("Spend 60, get 5000").
        points: Points this rule gave (negative only for a correction).
    """

    label: str
    points: int

    def __post_init__(self) -> None:
        _points(self, "points", self.points, signed=True)


@dataclass(frozen=True, slots=True)
class PointsExpiry:
    """The next points to lapse (DESIGN §6).

    Attributes:
        points: How many points expire.
        on: The store-local date they leave the balance.
    """

    points: int
    on: date

    def __post_init__(self) -> None:
        _points(self, "points", self.points)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberPart:
    """The loyalty part of a receipt, present when a card was presented.

    Attributes:
        card_masked: The card id with all but the last 4 characters masked; build it with
            ``mask_card(card)``. An unmasked id is refused.
        points_earned: Points this checkout earned in total (the sum of ``breakdown``).
        breakdown: One ``PointsLine`` per rule that gave points, in the order the quote lists
            them.
        new_balance: The member's balance after this checkout (may be negative after a refund).
        tier: The tier name after this checkout.
        next_tier: The next tier's name, or None at the top tier.
        spend_to_next_tier: Money still to spend to reach ``next_tier`` (None when no next tier).
        next_expiry: The next points to expire, or None when nothing is due to expire.
        punch_cards: The member's punch cards as this sale or refund leaves them (those of its
            items, and on a sale every card with punches on it).
    """

    card_masked: str
    points_earned: int = 0
    breakdown: tuple[PointsLine, ...] = ()
    new_balance: int
    tier: str
    next_tier: str | None = None
    spend_to_next_tier: Decimal | None = None
    next_expiry: PointsExpiry | None = None
    punch_cards: tuple[PunchCard, ...] = ()

    def __post_init__(self) -> None:
        if not _MASKED_CARD.fullmatch(self.card_masked):
            raise ValueError("MemberPart.card_masked must be masked: use mask_card(card)")
        _points(self, "points_earned", self.points_earned)
        _points(self, "new_balance", self.new_balance, signed=True)
        _money(self, "spend_to_next_tier", self.spend_to_next_tier, optional=True)
        _as_tuple(self, "breakdown", "punch_cards")


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundPart:
    """What makes a receipt a refund receipt.

    Attributes:
        original_receipt_id: The receipt whose goods came back (scanned from its barcode).
        points_reversed: Points earned on the original checkout that are taken back.
        points_restored: Points given back for the share of the points payment refunded.
        held_back: Value of the returned goods that comes back with the receipt's last refund:
            no whole number of points could split the units kept with the money left of the
            sale (1 point pays 1.00), so this refund gives back a little less.
        made_up: Value given back beyond the returned goods: what earlier refunds held back.
    """

    original_receipt_id: str
    points_reversed: int = 0
    points_restored: int = 0
    held_back: Decimal = Decimal("0")
    made_up: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        _points(self, "points_reversed", self.points_reversed)
        _points(self, "points_restored", self.points_restored)
        _money(self, "held_back", self.held_back)
        _money(self, "made_up", self.made_up)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """Everything printed on one sale or refund receipt. All fields are keyword-only.

    On a refund receipt the money and points fields hold the positive amounts going back to the
    customer (``total`` = value of the goods returned, ``due`` = money paid back,
    ``points_value`` = money value going back as points); the renderers print them as refunds.

    Attributes:
        store_name: The store's name, printed as the title.
        store_address: Address lines under the title (may be empty).
        terminal_id: The terminal that made the receipt (DESIGN §3: ``[A-Za-z0-9_-]{1,32}``).
        receipt_id: ``{terminal_id}-{seq:06d}``, e.g. "T1-000017"; printed as a Code128 barcode
            so a refund starts by scanning it (printable ASCII, at most 48 characters).
        occurred_at: Store-local time of the checkout or refund.
        lines: The basket lines (or the returned lines on a refund).
        total: Sum of ``line_total`` (after free units).
        due: What the customer pays in money (``total - points_value``), or is paid back.
        currency: ISO 4217 code the amounts are in; printed next to totals.
        cashier: Name or id of the cashier, or None when not known.
        discount: Value of the free units (already out of ``total``; printed after the amount
            due as "Free items saved");
            on a refund, the returned units the sale gave free, which are not paid back.
        points_redeemed: Points the customer paid with (0 when none).
        points_value: Money those points paid (``points_redeemed / redeem.points_per_unit``).
        member: The loyalty part, or None when no card was presented.
        footer: Free lines from the terminal config printed at the bottom ("Thank you!").
        refund: Present on a refund receipt only; then ``kind`` is "refund".
        copy: A reprint of a receipt that has already come out of the printer: printed "COPY"
            under the title, so the paper cannot pass for a second sale or refund.
    """

    store_name: str
    store_address: tuple[str, ...] = ()
    terminal_id: str
    receipt_id: str
    occurred_at: datetime
    lines: tuple[ReceiptLine, ...]
    total: Decimal
    due: Decimal
    currency: str = "EUR"
    cashier: str | None = None
    discount: Decimal = Decimal("0")
    points_redeemed: int = 0
    points_value: Decimal = Decimal("0")
    member: MemberPart | None = None
    footer: tuple[str, ...] = ()
    refund: RefundPart | None = None
    copy: bool = False

    def __post_init__(self) -> None:
        _as_tuple(self, "store_address", "lines", "footer")
        if not _RECEIPT_ID.fullmatch(self.receipt_id):
            raise ValueError(
                f"Receipt.receipt_id must be 1-48 printable ASCII characters: {self.receipt_id!r}"
            )
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"Receipt.currency must be an ISO 4217 code: {self.currency!r}")
        for name in ("total", "due", "discount", "points_value"):
            _money(self, name, getattr(self, name))
        _points(self, "points_redeemed", self.points_redeemed)
        if not isinstance(self.occurred_at, datetime):
            raise TypeError("Receipt.occurred_at must be a datetime")

    @property
    def kind(self) -> Literal["sale", "refund"]:
        """ "refund" when the receipt has a refund part, else "sale"."""
        return "refund" if self.refund is not None else "sale"


__all__ = [
    "MemberPart",
    "PointsExpiry",
    "PointsLine",
    "Receipt",
    "ReceiptLine",
    "RefundPart",
    "mask_card",
]
