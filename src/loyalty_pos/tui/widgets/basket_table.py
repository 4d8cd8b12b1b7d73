"""The basket: one row per line with quantity, unit price, line total and free units."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..session import BasketView
from ..words import money

# Fixed columns (qty, price, total, free) and the cell padding around five columns.
_FIXED = 3 + 7 + 8 + 4 + 2 * 5


class BasketTable(DataTable[Text]):
    """Never takes the focus: the item field keeps it; the arrow keys move the selection."""

    can_focus = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._view: BasketView | None = None

    def on_mount(self) -> None:
        self.border_title = "Basket"
        self._columns()

    def on_resize(self) -> None:
        self._columns()
        if self._view is not None:
            self.show(self._view)

    def _columns(self) -> None:
        item = max(self.size.width - _FIXED - 2, 10)
        self.clear(columns=True)
        self.add_column("Item", width=item, key="item")
        self.add_column(Text("Qty", justify="right"), width=3, key="qty")
        self.add_column(Text("Price", justify="right"), width=7, key="price")
        self.add_column(Text("Total", justify="right"), width=8, key="total")
        self.add_column(Text("Free", justify="right"), width=4, key="free")

    def show(self, view: BasketView) -> None:
        """Show the priced basket, keeping the selection where it was (or on the newest line)."""
        grown = self._view is None or len(view.quote.lines) > len(self._view.quote.lines)
        self._view = view
        row = self.cursor_row
        self.clear()
        for index, qline in enumerate(view.quote.lines):
            line = qline.line
            self.add_row(
                Text(line.name, no_wrap=True, overflow="ellipsis"),
                Text(str(line.qty), justify="right"),
                Text(money(line.unit_price), justify="right"),
                Text(money(qline.line_total), justify="right"),
                Text(str(qline.free_units) if qline.free_units else "", justify="right"),
                key=str(index),
            )
        if self.row_count:
            target = self.row_count - 1 if grown else min(row, self.row_count - 1)
            self.move_cursor(row=target)

    def step(self, delta: int) -> None:
        if self.row_count:
            self.move_cursor(row=min(max(self.cursor_row + delta, 0), self.row_count - 1))
