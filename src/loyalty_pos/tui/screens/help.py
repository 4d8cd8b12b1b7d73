"""Every key of the app (F1)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text

from .text import TextScreen

KEYS: tuple[tuple[str, str], ...] = (
    ("F1", "This help"),
    ("F2", "Type a member's card number (Enter attaches the member)"),
    ("F3", "Take the member's card off the basket"),
    ("F4", "Enrol a new member (card, name, email or phone)"),
    ("F5", "Pay with points (F5 again: the maximum; F9: pay and complete)"),
    ("F6", "Refund: scan or type the receipt id, choose units, manager PIN"),
    ("F7", "Add a free-amount line with a category"),
    ("F8", "Manager menu (PIN): adjust points, lost cards, reprint, day summary"),
    ("F9", "Complete the sale, show the receipt, start the next basket"),
    ("F12", "Sync with the central ledger now"),
    ("Enter", "Add the typed item / attach the typed card / open the typed receipt"),
    ("3*CODE", "Add 3 units of an item (or type 3* and scan)"),
    ("↑ ↓", "Select a basket line"),
    ("Delete", "Remove the selected line (when the item field is empty)"),
    ("F10", "One unit less on the selected line (a line of 1 goes)"),
    ("Esc", "Clear the item field; on an empty field, void the basket (Y then Enter)"),
    ("Ctrl+Q", "Quit (asks first when a basket is open; it is kept for the next start)"),
    (
        "Scan / tap",
        "Anywhere: a card attaches the member, an item is added, a receipt opens a refund",
    ),
)

SIMULATION_KEYS: tuple[tuple[str, str], ...] = (
    ("Ctrl+T", "Demo: tap the next demo member card on the simulated reader"),
    ("Ctrl+G", "Demo: scan the next demo item on the simulated scanner"),
)


class HelpScreen(TextScreen):
    """The keys, then each device's state and why it is not working (``devices``: the status
    bar's name -> (kind, state, reason)), the only place the app shows the reasons at any time."""

    def __init__(
        self,
        simulate: bool = False,
        devices: Mapping[str, tuple[str, str, str | None]] | None = None,
    ) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")  # a /dev/serial/by-id/... path is one long word
        for key, what in KEYS + (SIMULATION_KEYS if simulate else ()):
            table.add_row(key, what)
        if devices:
            table.add_row("", "")
            table.add_row("Devices", "")
            for name, (kind, state, reason) in sorted(devices.items(), key=lambda d: d[1][0]):
                said = f"{state}: {reason}" if reason else state
                table.add_row(kind, Text(f"{name}: {said}"))  # an OS error's words: not markup
        super().__init__("Keys", table, classes="help")
