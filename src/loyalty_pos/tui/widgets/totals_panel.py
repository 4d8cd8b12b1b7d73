"""The totals, top to bottom as the receipt prints them: total (free units already left out),
points payment, amount due; then what the free units saved and the points to earn."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..session import BasketView
from ..words import money


class TotalsPanel(Static):
    def on_mount(self) -> None:
        self.border_title = "Totals"

    def show(self, view: BasketView) -> int:
        """Show the totals of ``view``; the lines the panel takes, borders included."""
        q, cur = view.quote, view.currency
        grid = Table.grid(expand=True)
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_row("Total", money(q.total))
        if q.points_redeemed:
            grid.add_row(f"Points ({q.points_redeemed})", f"-{money(q.points_value)}")
        elif view.basket.redeem:  # "most allowed" asked, and it is none (QA: "Points (0) -0.00")
            grid.add_row(Text("Points", style="dim"), Text("none payable", style="dim"))
        grid.add_row(Text("Due", style="bold"), Text(money(q.due, cur), style="bold"))
        if q.discount:
            # Already left out of the total (the free units cost nothing): said after the amount
            # due, as the receipt says it, so that nothing is taken off twice. Between the total
            # and the due ("Saved (free items) 2.40") it read as one more amount to take off.
            grid.add_row(
                Text("Free items saved", style="dim"), Text(money(q.discount), style="dim")
            )
        if view.member is not None:
            grid.add_row(Text("Earns", style="dim"), Text(f"{q.points_earned} pts", style="dim"))
        self.update(grid)
        return grid.row_count + 2
