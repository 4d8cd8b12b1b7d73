"""Pay with points (F5): the spendable balance, the most allowed now and which rule caps it, the
money value as the cashier types, and a refusal in plain words before anything is kept."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from loyalty_pos.checkout import shown
from loyalty_pos.domain.quote import Quote

from ..messages import BasketChanged, CodeScanned, ServiceDone, ServiceRefused
from ..session import BasketView
from ..widgets.ordered_input import OrderedInput
from ..words import money, points
from .base import PosModal


class PointsScreen(PosModal[BasketView]):
    """Dismisses with the re-priced basket when a points payment was set (or removed).

    F9 pays what is typed, as Enter does, and then completes the sale (``complete_after``): the
    cashier who typed the points the customer asked for and presses F9 means both. The
    checkout's other keys would change the basket behind the window, as a scan would: they are
    refused, with what to do."""

    BINDINGS = [
        ("escape", "cancel", "Close"),
        ("f5", "maximum", "Maximum"),
        ("f9", "complete", "Pay"),
    ]

    def __init__(self, view: BasketView) -> None:
        super().__init__()
        self.view = view
        self.busy = False
        self.complete_after = False  # F9: the sale is completed once the payment is set

    def compose(self) -> ComposeResult:
        view = self.view
        current = view.basket.redeem
        with Vertical(classes="dialog points") as dialog:
            dialog.border_title = "Pay with points"
            yield Static(_info(view), id="info")
            yield OrderedInput(
                value=str(view.quote.points_redeemed) if current else "",
                placeholder="points to pay",
                # Not restricted as typed: a key the field dropped changed the number without a
                # word ("-200" paid 200, "1e3x 4" 134). What is typed shows, and is refused.
                id="points",
                compact=True,
            )
            yield Static(id="value")
            yield Static(id="error", classes="error")
            yield Static(
                Text(
                    "Enter: pay · F5: the most allowed · 0: no points\n"
                    "F9: pay and complete the sale · Esc: cancel"
                ),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#points", Input).focus()
        self._preview(self.query_one("#points", Input).value)
        # The member as the cache holds them now, not as the checkout last showed them: a
        # sync or a manager may have changed the balance or frozen the member since.
        session = self.pos.session
        self.submit("fresh", session.refresh, done=lambda view: ServiceDone("fresh", view))

    def take_scan(self, message: CodeScanned) -> bool:
        """A card or an item scanned while this window is open would change the basket behind
        it, and the window would pay for the basket and member it shows, not the new ones (QA:
        F5 then charged the next customer's points): the scan is not taken."""
        self.notify(
            "A scan is not taken while paying with points: close this window (Esc) first, "
            "then scan again.",
            severity="warning",
        )
        return True

    REFUSED_WHERE = "while paying with points"

    def holds_typing(self) -> bool:
        """Always: the checkout's other keys would change the basket behind the window, as a
        scan would, so they are refused (``PosModal.on_key``) even with nothing typed."""
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._preview(event.value)

    def _preview(self, text: str) -> None:
        self.query_one("#error", Static).update("")
        if problem := _points_problem(text):
            self.query_one("#value", Static).update("")
            self.query_one("#error", Static).update(Text(problem, style="bold red"))
            return
        if not text or int(text) == 0:
            self.query_one("#value", Static).update(Text("No points payment.", style="dim"))
            return
        asked = int(text)
        session = self.pos.session
        self.submit(
            f"preview:{asked}",
            lambda: session.preview_points(asked),
            done=lambda quote: ServiceDone(f"preview:{asked}", quote),
        )

    def _still_asked(self, what: str) -> bool:
        return what == f"preview:{self.query_one('#points', Input).value.lstrip('0')}"

    def on_service_done(self, message: ServiceDone) -> None:
        message.stop()
        if message.what == "fresh":
            self.view = message.result
            self.query_one("#info", Static).update(_info(self.view))
            self.pos.checkout.show(self.view)
        elif message.what.startswith("preview:") and self._still_asked(message.what):
            quote: Quote = message.result
            cur = self.view.currency
            self.query_one("#value", Static).update(
                Text.assemble(
                    (f"{quote.points_redeemed} points pay ", ""),
                    (money(quote.points_value, cur), "bold"),
                    f"; due after: {money(quote.due, cur)}",
                )
            )

    def refused(self, message: ServiceRefused) -> None:
        self.busy = False
        if message.what == "pay-points":
            self.complete_after = False  # the refusal is read here: no sale
        if message.what.startswith("preview:") and not self._still_asked(message.what):
            return
        self.query_one("#value", Static).update("")
        self.query_one("#error", Static).update(Text(message.message, style="bold red"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if _points_problem(event.value):
            return  # the error is on screen already
        self._pay(int(event.value) if event.value else None)

    def action_maximum(self) -> None:
        self._pay("max")

    def action_complete(self) -> None:
        """F9: the points typed paid (as Enter), then the sale completed; a number that is not
        one stays on screen with its error, and nothing is paid or recorded."""
        text = self.query_one("#points", Input).value
        if _points_problem(text):
            return  # the error is on screen already
        self.complete_after = True
        self._pay(int(text) if text else None)

    def _pay(self, redeem: int | str | None) -> None:
        if self.busy:
            return
        self.busy = True
        session = self.pos.session
        self.submit("pay-points", lambda: session.pay_points(redeem), done=BasketChanged)

    def on_basket_changed(self, message: BasketChanged) -> None:
        message.stop()
        self.dismiss(message.view)


def _info(view: BasketView) -> Table:
    """The member's balance, the amount due, the most allowed and the rule that caps it."""
    cap, member = view.quote.cap, view.member
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim")
    info.add_column()
    name = (member.name or "(no name)") if member else "-"  # enrolled with the card alone
    if member is not None and member.status != "active":
        name = f"{name} ({member.status.upper()})"
    info.add_row("Member", Text(name))  # a name is never markup (QA: "[/]" stopped the app)
    info.add_row("Balance", points(member.balance if member else None))
    info.add_row("Amount due", money(view.quote.total, view.currency))
    info.add_row(
        "Most allowed",
        Text(f"{points(cap.points)} = {money(cap.value, view.currency)}", style="bold"),
    )
    info.add_row("Because", Text(view.cap_reason))
    return info


def _points_problem(text: str) -> str | None:
    """Why ``text`` is not a number of points, or None (empty is no points payment)."""
    if not text:
        return None
    typed = text if len(text) <= 32 else shown(text)
    digits = text[1:] if text[0] in "+-" else text
    if text[0] == "-" and digits.isascii() and digits.isdigit():
        return f"Points paid cannot be negative ({typed}): type 0 for no points payment."
    if not (text.isascii() and text.isdigit()):
        return f"Points are a whole number: {typed} is not one."
    if len(text) > 9:
        return "That is more points than one sale may pay."
    return None
