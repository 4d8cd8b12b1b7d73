"""Refund (F6): scan or type the receipt id, choose the units coming back, the manager's PIN; then
the refund slip with the points taken back and given back."""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

from loyalty_pos.checkout import RefundableLine, preview_refund, refund, refundable_lines
from loyalty_pos.printing import receipt_text

from ..messages import CodeScanned, RefundLoaded, ServiceDone, ServiceRefused
from ..router import is_receipt_id
from ..widgets.ordered_input import OrderedInput
from ..words import money
from .base import FREE_TEXT, PosModal

logger = logging.getLogger(__name__)

#: Said when + or - is typed at the PIN: they are the lines' keys (one unit more or fewer back).
UNITS_KEYS_AT_PIN = (
    "+ and - choose the units back, in the lines: Shift+Tab goes back to them. "
    "The PIN takes digits only."
)


class PinField(OrderedInput):
    """The manager's PIN. + and - are the window's units keys: typed here right after the
    Enter that chose the lines, they went into the PIN, which was then refused as "a scanned
    code, perhaps". They are not typed here; the window says where they act. Not made to act
    here either: a receipt scanned into the PIN (no scan is looked for in it) would then take
    a unit off with its '-'."""

    class UnitsKey(Message):
        """+ or - was typed at the PIN."""

    async def _on_key(self, event: events.Key) -> None:
        if event.character in ("+", "-"):
            event.stop()
            event.prevent_default()
            self.post_message(self.UnitsKey())
            return
        await super()._on_key(event)


class RefundScreen(PosModal[dict[str, Any]]):
    """Dismisses with the refund's result and slip text once it is recorded."""

    BINDINGS = [
        ("escape", "cancel", "Close"),
        Binding("plus", "more", "One more", show=False),
        Binding("minus", "fewer", "One fewer", show=False),
    ]

    def __init__(self, receipt_id: str = "") -> None:
        super().__init__()
        self.receipt_id = receipt_id
        self.lines: list[RefundableLine] = []
        self.back: dict[str, int] = {}
        self.busy = False
        self.loading = False  # a receipt's lines asked of the service thread, not come yet

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog refund") as dialog:
            dialog.border_title = "Refund"
            with Horizontal(classes="row"):
                yield Label("Receipt")
                yield OrderedInput(
                    value=self.receipt_id,
                    placeholder="scan or type the receipt id",
                    id="receipt",
                    compact=True,
                )
            yield Static(id="sale-member", classes="dim")
            table: DataTable[Text] = DataTable(cursor_type="row", id="lines")
            yield table
            yield Static(id="preview")
            with Horizontal(classes="row"):
                yield Label("Manager PIN")
                yield PinField(
                    password=True,
                    placeholder="needed to refund",
                    id="pin",
                    classes=FREE_TEXT,
                    compact=True,
                )
            yield Static(id="error", classes="error")
            yield Static(
                "Enter: next · in the lines: + / - units back · Esc: cancel",
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one("#lines", DataTable)
        table.add_column("Item", key="item")
        table.add_column(Text("Sold", justify="right"), key="sold")
        table.add_column(Text("Left", justify="right"), key="left")
        table.add_column(Text("Back", justify="right"), key="back")
        table.add_column(Text("Price", justify="right"), key="price")
        if self.receipt_id:
            self.load(self.receipt_id)
        else:
            self.query_one("#receipt", Input).focus()

    def holds_typing(self) -> bool:
        """A receipt typed or loaded (its units chosen), a PIN typed, or the refund recording."""
        return (
            self.busy
            or bool(self.lines)
            or any(self.query_one(f"#{name}", Input).value for name in ("receipt", "pin"))
        )

    def take_scan(self, message: CodeScanned) -> bool:
        """A receipt's barcode loads it; anything else scanned while the window is open is
        refused here, in words, rather than going into the basket unseen behind it."""
        if message.kind == "code" and is_receipt_id(message.text):
            self.query_one("#receipt", Input).value = message.text
            self.load(message.text)
            return True
        self._error(
            f"{message.text} is not a receipt: nothing was added to the basket. Scan the "
            "receipt's barcode here, or close the refund (Esc) to go on selling."
        )
        return True

    def load(self, receipt_id: str) -> None:
        self.receipt_id = receipt_id.strip()
        self._error("")
        # The receipt up before goes at once: one not found said so under its lines, member
        # and money back, as if they were this one's (QA).
        self.lines, self.back = [], {}
        self.query_one("#lines", DataTable).clear()
        self.query_one("#sale-member", Static).update("")
        self.query_one("#preview", Static).update("")
        terminal = self.pos.terminal
        rid = self.receipt_id
        self.loading = True
        self.submit(
            "refund-load",
            lambda: refundable_lines(terminal, rid),
            done=lambda found: RefundLoaded(rid, found[0], found[1]),
        )

    def step_under_way(self) -> bool:
        """The receipt's lines being read, or the refund being recorded: keys typed behind
        the receipt's Enter ('-', one unit fewer) wait for the lines they act on."""
        return self.busy or self.loading

    def on_refund_loaded(self, message: RefundLoaded) -> None:
        message.stop()
        self.loading = False
        self.lines = message.lines
        self.back = {line.sku: line.left for line in message.lines}
        self.query_one("#sale-member", Static).update(
            Text(
                f"Member card {message.member}" if message.member else "Sale without a member card"
            )
        )
        self._fill()
        table = self.query_one("#lines", DataTable)
        if not any(self.back.values()):
            self._error("This receipt has already been fully refunded.")
        self._preview()
        table.focus()

    def _fill(self) -> None:
        table = self.query_one("#lines", DataTable)
        row = table.cursor_row
        table.clear()
        room = self._name_room(table)
        for line in self.lines:
            name = Text(line.name, overflow="ellipsis", no_wrap=True)
            name.truncate(room, overflow="ellipsis")
            table.add_row(
                name,
                Text(str(line.sold), justify="right"),
                Text(str(line.left), justify="right"),
                Text(str(self.back[line.sku]), justify="right", style="bold"),
                Text(money(line.unit_price), justify="right"),
                key=line.sku,
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _name_room(self, table: DataTable[Text]) -> int:
        """The item column's width: what the window leaves beside the units and the price. The
        columns size to their cells, and a name of 200 characters pushed Sold, Left, Back and
        Price out of the window (QA)."""
        numbers = [str(n) for line in self.lines for n in (line.sold, line.left)]
        unit = max([len("Sold"), *map(len, numbers)])
        price = max([len("Price"), *(len(money(line.unit_price)) for line in self.lines)])
        padding = 2 * table.cell_padding
        others = 3 * (unit + padding) + price + padding
        scrollbar = 2  # the vertical one, when the lines outgrow the table, and a spare column
        return max(table.size.width - others - padding - scrollbar, 12)

    def on_resize(self) -> None:
        if self.lines:
            self._fill()

    def _step(self, delta: int) -> None:
        table = self.query_one("#lines", DataTable)
        if self.focused is not table or not self.lines:
            return
        line = self.lines[table.cursor_row]
        self.back[line.sku] = min(max(self.back[line.sku] + delta, 0), line.left)
        self._fill()
        self._preview()

    def _preview(self) -> None:
        """What the units chosen would give back, before the manager types the PIN."""
        items = {sku: qty for sku, qty in self.back.items() if qty > 0}
        shown = self.query_one("#preview", Static)
        if not items:
            shown.update(Text("Nothing chosen to refund.", style="dim"))
            return
        terminal, rid = self.pos.terminal, self.receipt_id
        self.submit(
            "refund-preview",
            lambda: (rid, items, preview_refund(terminal, rid, items)),
            done=lambda found: ServiceDone("refund-preview", found),
        )

    def action_more(self) -> None:
        self._step(1)

    def action_fewer(self) -> None:
        self._step(-1)

    def on_pin_field_units_key(self, message: PinField.UnitsKey) -> None:
        message.stop()
        self._error(UNITS_KEYS_AT_PIN)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.query_one("#pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "receipt":
            if event.value.strip():
                self.load(event.value)
        elif event.input.id == "pin":
            self.confirm(event.value)

    def confirm(self, pin: str) -> None:
        if self.busy:
            return
        if not self.lines:
            self._error("Scan or type the receipt id first.")
            self.query_one("#receipt", Input).focus()
            return
        items = {sku: qty for sku, qty in self.back.items() if qty > 0}
        if not items:
            self._error("Choose at least one unit to refund (+ in the lines).")
            return
        if not pin:
            self._error("The manager PIN is needed for a refund.")
            return
        self.busy = True
        terminal, rid = self.pos.terminal, self.receipt_id

        def job() -> tuple[dict[str, Any], str]:
            result = refund(terminal, rid, items, pin)
            try:
                text = receipt_text(terminal, result["receipt_id"])
            except Exception:  # the refund is recorded: a preview fault must not hide that
                logger.exception("refund receipt preview of %s failed", result["receipt_id"])
                text = f"Refund {result['receipt_id']}\n"
            return result, text

        self.submit("refund", job)

    def on_service_done(self, message: ServiceDone) -> None:
        message.stop()
        if message.what == "refund-preview":
            rid, items, found = message.result
            chosen = {sku: qty for sku, qty in self.back.items() if qty > 0}
            if rid == self.receipt_id and items == chosen:  # still the receipt and units chosen
                line = f"Money back {found['refunded']}"
                if found["points_reversed"] or found["points_restored"]:
                    line += (
                        f" · points taken back -{found['points_reversed']}"
                        f" · given back +{found['points_restored']}"
                    )
                if "balance_after" in found and found["balance_after"] != found["balance"]:
                    # Before the PIN: a refund of points already spent leaves a debt (QA).
                    line += f" · balance {found['balance']} → {found['balance_after']}"
                    if found["balance_after"] < 0:
                        line += " (a debt: the points were spent)"
                shown = Text(line, style="bold")
                for sku, (free, one_more) in found["free_returned"].items():
                    shown.append("\n" + self._free_first(sku, items[sku], free, one_more))
                self.query_one("#preview", Static).update(shown)
            return
        self.busy = False
        result, text = message.result
        self.dismiss({"result": result, "text": text})

    def _free_first(self, sku: str, back: int, free: int, one_more: str | None) -> str:
        """Why ``free`` of the ``back`` units of ``sku`` bring no money back (the sale gave
        them free, and they are returned first), and what one more back would give: "Money
        back 0.00" alone read as a fault."""
        name = next((line.name for line in self.lines if line.sku == sku), sku)
        which = "the free one is" if free == 1 else f"the {free} free ones are"
        if free == back:
            gives = "no money back for this unit" if back == 1 else "no money back for these"
        else:
            gives = f"money back for {back - free} of the {back}"
        said = f"{name}: {which} returned first, so {gives}."
        if one_more is not None:
            said += f" One more back: money back {one_more}."
        return said

    def refused(self, message: ServiceRefused) -> None:
        if message.what == "refund-load":
            self.loading = False
        if message.what == "refund-preview":
            self.query_one("#preview", Static).update(Text(message.message, style="dim"))
            return
        self.busy = False
        self._error(message.message)
        pin = self.query_one("#pin", Input)
        pin.value = ""
        if message.what == "refund":
            pin.focus()
        else:
            self.query_one("#receipt", Input).focus()

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(Text(text, style="bold red"))
