"""The totals: total, free-item discount, points payment, amount due and points to earn."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..session import BasketView
from ..words import money


class TotalsPanel(Static):
    def on_mount(self) -> None:
        self.border_title = "Totals"

    def show(self, view: BasketView) -> None:
        q, cur = view.quote, view.currency
        grid = Table.grid(expand=True)
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_row("Total", money(q.total))
        if q.discount:
            grid.add_row("Free items", f"-{money(q.discount)}")
        if q.points_redeemed or view.basket.redeem:
            grid.add_row(f"Points ({q.points_redeemed})", f"-{money(q.points_value)}")
        grid.add_row(Text("Due", style="bold"), Text(money(q.due, cur), style="bold"))
        if view.member is not None:
            grid.add_row(Text("Earns", style="dim"), Text(f"{q.points_earned} pts", style="dim"))
        self.update(grid)
