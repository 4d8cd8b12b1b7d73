"""Every message the app's parts send each other, as small dataclasses in one place.

Device threads and the service thread post these with ``post_message`` (thread-safe); the screens
react to them on the UI thread. Textual messages are mutable by design (they carry delivery
state), so these are plain ``@dataclass`` rather than frozen ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from textual.message import Message

if TYPE_CHECKING:
    from loyalty_pos.checkout import RefundableLine

    from .services import TerminalStatus
    from .session import BasketView

Source = Literal["wedge", "serial", "pcsc", "typed", "simulated"]


@dataclass
class CodeScanned(Message):
    """A code arrived, from any source: a keyboard-wedge burst, a serial scanner, a PC/SC reader,
    the item field or a simulated device. One router decides what it is.

    Attributes:
        text: the code as read or typed.
        source: where it came from.
        kind: ``card`` when the source knows it is a loyalty card (a PC/SC tap, the F2 field);
            ``code`` when the router must decide (receipt id, item or card).
        qty: units to add when the code turns out to be an item (``3*CODE``).
        device: the reader or port, for messages.
        symbology: the AIM identifier a serial scanner sent with the code (``]E0``, ``]I1``),
            if any: a product's GTIN in a GTIN symbology is never taken for a card.
    """

    text: str
    source: Source
    kind: Literal["code", "card"] = "code"
    qty: int = 1
    device: str = ""
    symbology: str | None = None


@dataclass
class BasketChanged(Message):
    """The basket was changed and priced (``view.note`` is a sentence for the cashier, if any).
    ``after_refusal``: priced again to show beside a refusal, which stays up."""

    view: BasketView
    after_refusal: bool = False


@dataclass
class CardUnknown(Message):
    """A card that is not known here was presented: the cashier may enrol it (F4)."""

    card: str
    message: str


@dataclass
class ServiceRefused(Message):
    """A service refused or failed; ``message`` is the sentence to show. Nothing was recorded."""

    what: str
    message: str
    code: str = "refused"


@dataclass
class ServiceDone(Message):
    """A job sent to the service thread finished; ``what`` names the job for its requester."""

    what: str
    result: Any = None


@dataclass
class SaleCompleted(Message):
    """A sale was recorded; the basket is empty again. ``punch_cards``: the cards of the items
    sold, as the sale leaves them (``checkout.punch_card_json``)."""

    result: dict[str, Any]
    receipt_text: str
    view: BasketView
    punch_cards: tuple[dict[str, Any], ...] = ()


@dataclass
class RefundLoaded(Message):
    """The lines of a receipt that can still be refunded."""

    receipt_id: str
    lines: list[RefundableLine] = field(default_factory=list)
    member: str = ""


@dataclass
class StatusRefreshed(Message):
    """Fresh terminal status for the status bar (online, last sync, events waiting)."""

    status: TerminalStatus


@dataclass
class DeviceStatusChanged(Message):
    """A reader, scanner or printer changed state (posted from the device's thread).

    ``quiet``: for the status bar only; whoever posted it says the reason itself (a receipt
    that did not print says why in its own message, with what to do)."""

    name: str
    kind: str
    state: str
    reason: str | None = None
    quiet: bool = False


@dataclass
class ScanRejected(Message):
    """A serial scanner sent a scan the till did not take (posted from the scanner's thread).

    Attributes:
        device: the scanner.
        said: why, in the cashier's words.
    """

    device: str
    said: str


@dataclass
class CheckoutReady(Message):
    """The checkout screen is up and any basket left open has been restored."""

    restored: bool = False
