"""The basket: one row per line with quantity, unit price, line total and free units.

On a narrow screen (80 columns) the unit price and the free-units column would leave the item's
name a dozen columns; there the table shows the name, the quantity and the line total, and a
line's free units after its name ("Filter coffee to go · 1 free"). The receipt has them all.

An amount is never cut: the price and total columns are as wide as the basket's widest amount
(at least their usual width), and the item's name gives way."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..session import BasketView
from ..words import money

_QTY, _PRICE, _TOTAL, _FREE = 3, 7, 8, 4
_PADDING = 2  # around each column's cell
#: The narrowest item column worth keeping the unit price and free-units columns for.
_NARROWEST_ITEM = 20


class BasketTable(DataTable[Text]):
    """Never takes the focus: the item field keeps it; the arrow keys move the selection."""

    can_focus = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._view: BasketView | None = None
        self.narrow = False  # the unit price and free-units columns left out (module doc)
        self._item_width = 10
        #: the price and total columns' widths: the usual ones, or the basket's widest amounts
        self._widths = (_PRICE, _TOTAL)

    def on_mount(self) -> None:
        self.border_title = "Basket"
        self._columns()

    def on_resize(self) -> None:
        self._columns()
        if self._view is not None:
            self.show(self._view)

    def _columns(self) -> None:
        price, total = self._widths
        room = self.size.width - 2  # the scrollbar's column and a spare one
        item = room - (_QTY + price + total + _FREE) - 5 * _PADDING
        self.narrow = item < _NARROWEST_ITEM
        if self.narrow:
            item = room - (_QTY + total) - 3 * _PADDING
        self._item_width = max(item, 10)
        self.clear(columns=True)
        self.add_column("Item", width=self._item_width, key="item")
        self.add_column(Text("Qty", justify="right"), width=_QTY, key="qty")
        if not self.narrow:
            self.add_column(Text("Price", justify="right"), width=price, key="price")
        self.add_column(Text("Total", justify="right"), width=total, key="total")
        if not self.narrow:
            self.add_column(Text("Free", justify="right"), width=_FREE, key="free")

    def show(self, view: BasketView) -> None:
        """Show the priced basket, keeping the selection where it was (or on the newest line)."""
        grown = self._view is None or len(view.quote.lines) > len(self._view.quote.lines)
        self._view = view
        row = self.cursor_row
        widths = (
            max([_PRICE, *(len(money(q.line.unit_price)) for q in view.quote.lines)]),
            max([_TOTAL, *(len(money(q.line_total)) for q in view.quote.lines)]),
        )
        if widths != self._widths:  # an amount wider than its column: the column grows
            self._widths = widths
            self._columns()
        self.clear()
        for index, qline in enumerate(view.quote.lines):
            line = qline.line
            name = Text(line.name, no_wrap=True, overflow="ellipsis")
            qty = Text(str(line.qty), justify="right")
            total = Text(money(qline.line_total), justify="right")
            if self.narrow:
                if qline.free_units:  # after the name, shortened so that it still shows
                    free = Text(f" · {qline.free_units} free", style="bold")
                    name.truncate(max(self._item_width - free.cell_len, 1), overflow="ellipsis")
                    name.append_text(free)
                self.add_row(name, qty, total, key=str(index))
                continue
            self.add_row(
                name,
                qty,
                Text(money(line.unit_price), justify="right"),
                total,
                Text(str(qline.free_units) if qline.free_units else "", justify="right"),
                key=str(index),
            )
        if self.row_count:
            target = self.row_count - 1 if grown else min(row, self.row_count - 1)
            self.move_cursor(row=target)

    def step(self, delta: int) -> None:
        if self.row_count:
            self.move_cursor(row=min(max(self.cursor_row + delta, 0), self.row_count - 1))
