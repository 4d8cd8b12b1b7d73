"""The checkout screen: the basket, the totals, the member, the status line and the item field.

It turns keys into jobs for the session (on the service thread) and shows what comes back. The
item field keeps the focus whenever no window is open; every other window opens over this screen.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from loyalty_pos.checkout import (
    check_manager_pin,
    enrolment_email_problem,
    enrolment_text_problem,
    mask,
    new_card_problem,
    product_barcode,
    shown,
)
from loyalty_pos.domain.errors import Refused
from loyalty_pos.domain.money import parse_typed_amount

from ..edge import StaysUp
from ..messages import (
    BasketChanged,
    CardUnknown,
    CheckoutReady,
    CodeScanned,
    SaleCompleted,
    ServiceDone,
    ServiceRefused,
    StatusRefreshed,
)
from ..router import is_receipt_id
from ..session import BasketView, ScanResult
from ..widgets.basket_table import BasketTable
from ..widgets.item_field import ItemField
from ..widgets.member_panel import MemberPanel
from ..widgets.status_bar import StatusBar
from ..widgets.totals_panel import TotalsPanel
from ..words import punch_card, sync_problems
from .forms import Field, FormScreen, Values
from .manager import ManagerScreen
from .points import PointsScreen
from .refund import RefundScreen
from .text import TextScreen, VoidScreen

if TYPE_CHECKING:
    from ..app import CheckoutApp


class CheckoutScreen(StaysUp, Screen[None]):
    AUTO_FOCUS = "#item"
    BINDINGS = [
        Binding("f2", "card", "Card", key_display="F2"),
        Binding("f3", "detach", "No card", show=False),
        Binding("f4", "enrol", "Enrol", key_display="F4"),
        Binding("f5", "points", "Points", key_display="F5"),
        Binding("f6", "refund", "Refund", key_display="F6"),
        Binding("f7", "open_line", "Amount", show=False),
        Binding("f8", "manager", "Manager", key_display="F8"),
        Binding("f9", "complete", "Pay", key_display="F9"),
        # Not "-": a key that types would go into the item field (a code may hold one).
        Binding("f10", "one_less", "-1", key_display="F10"),
        Binding("up", "select(-1)", show=False),
        Binding("down", "select(1)", show=False),
        Binding("delete", "remove_line", "Remove line", show=False, priority=True),
        Binding("escape", "escape", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: BasketView | None = None
        self.busy = False
        self.unknown_card = ""
        self.sync_problem_shown = ""  # what a background sync said last (shown once)

    @property
    def pos(self) -> CheckoutApp:
        return cast("CheckoutApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield BasketTable(id="basket")
            with Vertical(id="side"):
                yield MemberPanel(id="member")
                yield TotalsPanel(id="totals")
        yield ItemField(id="item")
        yield Footer()

    @property
    def item_field(self) -> ItemField:
        return self.query_one(ItemField)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def has_basket(self) -> bool:
        return self.view is not None and not self.view.basket.is_empty

    def on_screen_resume(self) -> None:
        self.item_field.focus()

    # -- showing --------------------------------------------------------------------------------

    def show(self, view: BasketView) -> None:
        self.view = view
        self.query_one(BasketTable).show(view)
        self._show_side(view)
        if view.note:
            self.notify(view.note)

    def _show_side(self, view: BasketView) -> None:
        """The totals whole, and the member in the room they leave: the amount due is never
        pushed off the screen (QA: two punch cards and a long name did at 80x24)."""
        totals = self.query_one(TotalsPanel).show(view)
        side = self.query_one("#side").size.height
        self.query_one(MemberPanel).show(view, max(side - totals, 3) if side else None)

    def on_resize(self) -> None:
        if self.view is not None:
            self.call_after_refresh(self._show_side, self.view)

    def on_basket_changed(self, message: BasketChanged) -> None:
        if not message.after_refusal:
            self.pos.clear_refusals()
        self.show(message.view)

    def on_status_refreshed(self, message: StatusRefreshed) -> None:
        self.status_bar.show_status(message.status)

    def on_card_unknown(self, message: CardUnknown) -> None:
        self.unknown_card = message.card
        self.notify(
            f"Card {mask(message.card)} is not known here. Press F4 to enrol it.",
            title="Unknown card",
            severity="warning",
            timeout=8,
        )

    def on_service_refused(self, message: ServiceRefused) -> None:
        if message.what == "complete":
            self.busy = False
            # Show the basket as it stands now (a member's balance that changed since, a points
            # payment no longer possible taken off), beside the refusal that says why.
            session = self.pos.session
            self.pos.submit(
                "refresh",
                # Not the frozen member's note: the refusal says it (QA: both, and the note
                # again from F5, stacked over the amount due).
                lambda: session.refresh(frozen_note=False),
                target=self,
                done=lambda view: BasketChanged(view, after_refusal=True),
            )
        if message.what.startswith("sync"):
            self.pos.refresh_status()
            if message.what == "sync-background":
                return  # the status line says OFFLINE; no message every minute
        self.notify(message.message, severity="error" if message.code == "internal" else "warning")

    def on_service_done(self, message: ServiceDone) -> None:
        if message.what == "restored":
            view, restored = message.result
            self.show(view)
            self.app.post_message(CheckoutReady(restored))
        elif message.what == "reloaded":
            if message.result is not None:
                self.show(message.result)
        elif message.what == "reprint":
            receipt_id, text, copy = message.result
            title = f"Receipt {receipt_id} (copy)" if copy else f"Receipt {receipt_id}"
            self.app.push_screen(TextScreen(title, text))
            self.pos.print_receipt(receipt_id)
        elif message.what == "print-queued":
            queued: list[str] = message.result
            self.notify(
                f"Printing {len(queued)} receipt(s) that did not print: {', '.join(queued)}.",
                title="Printer",
            )
            for receipt_id in queued:
                self.pos.print_receipt(receipt_id)
        elif message.what.startswith("sync"):
            self.pos.refresh_status()
            result = message.result
            problems = sync_problems(result)  # the sync's own words are in the error log
            if message.what == "sync":
                if not result.get("blocked"):  # a sync whose sales do not reach it did not sync
                    self.notify(
                        f"Synced: {result.get('pushed', 0)} sent, {result.get('pulled', 0)} "
                        f"member updates, {result.get('waiting', 0)} still waiting.",
                        title="Sync",
                    )
                for said in problems:
                    self.notify(said, title="Sync", severity="error", timeout=30)
            elif result.get("blocked") or result.get("clock"):
                # Said by a background sync too, once until it changes: a second till under
                # this terminal id, or a clock hours off, is news at the start of a shift,
                # not only when someone presses F12 (QA: "OFFLINE · sync never" alone).
                said = " ".join(problems)
                if said != self.sync_problem_shown:
                    self.sync_problem_shown = said
                    self.notify(said, title="Sync", severity="error", timeout=30)
            if not result.get("blocked") and not result.get("clock"):
                self.sync_problem_shown = ""
        elif message.what == "show-text":
            title, text = message.result
            self.app.push_screen(TextScreen(title, text))
        elif message.what == "manager":  # an adjustment, a card blocked or replaced (F8)
            title, said = message.result
            self.notify(said, title=title)
            self.pos.reprice()

    # -- codes from every source ----------------------------------------------------------------

    def route(self, message: CodeScanned) -> None:
        """Receipt id -> refund; anything else -> the session (item, else card, else unknown)."""
        text = message.text.strip()
        if message.kind == "code" and is_receipt_id(text):
            if self.app.screen is not self:
                self.notify("Close this window first, then scan the receipt again to refund it.")
            else:
                self.action_refund(text)
            return
        # No need to wait for a sale being recorded: jobs run in order, so this scan goes to the
        # next customer's basket.
        session, qty, kind, aim = self.pos.session, message.qty, message.kind, message.symbology
        self.pos.submit(
            "scan", lambda: session.scan(text, qty, kind, aim), target=self, done=_scanned
        )

    # -- keys -----------------------------------------------------------------------------------

    def action_card(self) -> None:
        def typed(values: Values | None) -> None:
            if values and values["card"]:
                self.route(CodeScanned(values["card"], "typed", kind="card"))

        product = partial(product_barcode, self.pos.terminal)
        form = FormScreen(
            "Member card", [Field("card", "Card number", scannable=True, card_check=product)]
        )
        self.app.push_screen(form, typed)

    def action_detach(self) -> None:
        if self.view is not None and self.view.basket.card is None:  # QA: F3 did nothing
            self.notify("No card is on this basket.", severity="warning")
            return
        self.pos.submit("detach", self.pos.session.detach, target=self, done=BasketChanged)

    def action_enrol(self) -> None:
        session = self.pos.session

        def job(v: Values) -> Any:
            return lambda: session.enrol(v["card"], v["name"], v["email"], v["phone"])

        def enrolled(done: tuple[dict[str, Any], BasketView] | None) -> None:
            if done is None:
                return
            result, view = done
            self.show(view)
            extra = (
                " The card earns now and can pay with points once the ledger has seen it "
                "(at the next sync)."
                if result["status"] == "provisional"
                else ""
            )
            self.notify(f"Welcome! Member {result['member_id']}, card {result['card']}.{extra}")
            self.pos.refresh_status()
            self.pos.sync_soon()

        terminal = self.pos.terminal
        fields = [
            Field(
                "card",
                "Card",
                self.unknown_card,
                scannable=True,
                lookup=lambda card: new_card_problem(terminal, card),
                card_check=partial(product_barcode, terminal),
            ),
            # Each field's problem is said at its Enter, the cursor kept there: a name too long
            # was said only at the phone's Enter, the cursor left on the phone (QA).
            Field("name", "Name", check=partial(enrolment_text_problem, what="The name")),
            Field("email", "Email", check=enrolment_email_problem, placeholder="email or phone"),
            Field(
                "phone",
                "Phone",
                placeholder="email or phone",
                check=partial(enrolment_text_problem, what="The phone number"),
            ),
        ]
        form = FormScreen("Enrol a new member", fields, submit=job, check=_check_enrol)
        self.app.push_screen(form, enrolled)

    def action_points(self) -> None:
        if self.view is None or self.view.member is None:
            self.notify(
                "Points can only be paid with a member card: scan or type the card first (F2).",
                severity="warning",
            )
            return
        window = PointsScreen(self.view)

        def paid(view: BasketView | None) -> None:
            self._shown(view)
            if view is not None and window.complete_after:  # F9 in the window
                self.action_complete()

        self.app.push_screen(window, paid)

    def _shown(self, view: BasketView | None) -> None:
        if view is not None:
            self.show(view)

    def action_refund(self, receipt_id: str = "") -> None:
        def done(outcome: dict[str, Any] | None) -> None:
            if not outcome:
                return
            result = outcome["result"]
            summary = f"Money back {result['refunded']}"
            if result.get("member_id"):
                # The refund window's and the slip's words: taken back, given back (QA: the
                # window said "taken back", the summary after the PIN "reversed").
                summary += (
                    f" · points taken back -{result['points_reversed']}"
                    f" · given back +{result['points_restored']} · new balance {result['balance']}"
                )
            self.app.push_screen(
                TextScreen(
                    f"Refund recorded: {result['receipt_id']}",
                    outcome["text"],
                    summary=summary,
                    closes_on_scan=True,
                    typed=self.type_on,
                    classes="receipt",
                )
            )
            self.pos.print_receipt(result["receipt_id"])
            self.pos.reprice()
            self.pos.refresh_status()
            self.pos.sync_soon()

        self.app.push_screen(RefundScreen(receipt_id), done)

    def action_open_line(self) -> None:
        session = self.pos.session

        currency = self.view.currency if self.view else ""

        def job(v: Values) -> Any:
            return lambda: session.add_open_line(v["amount"], v["category"])

        def amount_problem(text: str) -> str | None:
            if not currency:  # the basket is not shown yet: the session refuses it then
                return None
            try:
                parse_typed_amount(text, currency)
            except Refused as e:
                return str(e)
            return None

        form = FormScreen(
            "Free-amount line",
            [
                # Not restricted as typed: a key the field dropped ("-5" read 5, "1e3" 13) changed
                # the amount without a word; what is not an amount is refused at its Enter.
                Field("amount", "Amount", placeholder="4.99", check=amount_problem),
                Field("category", "Category", placeholder="e.g. grocery"),
            ],
            submit=job,
        )
        self.app.push_screen(form, self._shown)

    def action_manager(self) -> None:
        terminal = self.pos.terminal

        def checked(v: Values) -> Any:
            def run() -> str:
                check_manager_pin(terminal, v["pin"])
                return v["pin"]

            return run

        def opened(pin: str | None) -> None:
            if pin:
                card = self.view.basket.card if self.view else None
                self.app.push_screen(ManagerScreen(pin, card, self.type_on))

        form = FormScreen(
            "Manager",
            [Field("pin", "Manager PIN", password=True)],
            submit=checked,
            check=lambda v: None if v["pin"] else "Type the manager PIN.",
        )
        self.app.push_screen(form, opened)

    def action_complete(self) -> None:
        if self.busy:
            return
        if self.view is None or not self.view.basket.lines:
            self.notify("The basket is empty: scan the items first.", severity="warning")
            return
        if typed := self.item_field.value.strip():
            # QA: the sale was recorded without the item typed but not yet entered, and the
            # code stayed in the field, where the next Enter sold it to the next customer.
            self.notify(
                f"{shown(typed)} is typed but not in the basket: press Enter to add it, or Esc "
                "to clear it, then F9 again.",
                severity="warning",
            )
            return
        self.busy = True
        session, on_screen, basket = self.pos.session, self.view.quote, self.view.basket
        self.pos.submit(
            "complete",
            lambda: session.complete(on_screen, basket),
            target=self,
            done=lambda r: SaleCompleted(*r),
        )

    def on_sale_completed(self, message: SaleCompleted) -> None:
        self.busy = False
        self.unknown_card = ""
        self.pos.clear_refusals()  # a refusal left up would read as said of the sale
        self.show(message.view)
        result = message.result
        summary = f"Due {result['due']}"
        if result.get("member_id"):
            summary += (
                f" · points earned +{result['points_earned']} · new balance {result['balance']}"
            )
        for card in message.punch_cards:  # the customer asks how far the coffee card is
            summary += f"\n{punch_card(card)}"
        self.app.push_screen(
            TextScreen(
                f"Sale recorded: {result['receipt_id']}",
                message.receipt_text,
                summary=summary,
                hint="Enter, Esc, scan, type: next customer · ↑↓ scroll",
                closes_on_scan=True,
                typed=self.type_on,
                classes="receipt",
            )
        )
        self.pos.print_receipt(result["receipt_id"])
        self.pos.refresh_status()
        self.pos.sync_soon()

    def action_select(self, delta: int) -> None:
        self.query_one(BasketTable).step(delta)

    def recording(self) -> bool:
        """A sale is being recorded (F9): its lines are no longer the basket's, and a key meant
        for one of them would find the next customer's empty basket ("Select a line first")."""
        if self.busy:
            self.notify(
                "The sale is being recorded: its lines can no longer change.",
                severity="warning",
            )
        return self.busy

    def action_remove_line(self) -> None:
        field = self.item_field
        if field.value:
            field.action_delete_right()
            return
        if self.recording():
            return
        table = self.query_one(BasketTable)
        if not table.row_count:  # said, as F10 says it: a key that did nothing was pressed again
            self.notify("The basket is empty: there is no line to remove.", severity="warning")
            return
        index, session = table.cursor_row, self.pos.session
        self.pos.submit("remove", lambda: session.remove(index), target=self, done=BasketChanged)

    def action_one_less(self) -> None:
        """One unit off the selected line (a customer puts back one of three milks), whatever
        the item field holds: F10 types nothing, so it never collides with a code."""
        if self.recording():
            return
        table = self.query_one(BasketTable)
        if not table.row_count:
            self.notify("The basket is empty: there is no unit to take off.", severity="warning")
            return
        index, session = table.cursor_row, self.pos.session
        self.pos.submit(
            "one-less", lambda: session.one_less(index), target=self, done=BasketChanged
        )

    def action_escape(self) -> None:
        field = self.item_field
        if field.value:
            field.value = ""
            return
        if self.has_basket:

            def answered(yes: bool | None) -> None:
                if yes:
                    self.pos.submit("void", self.pos.session.clear, target=self, done=BasketChanged)

            self.app.push_screen(
                VoidScreen("Remove every line and the card from the basket?", self.type_on),
                answered,
            )

    def type_on(self, text: str) -> None:
        """Keys typed into a window that closed on them (the receipt preview, the void
        question) go on into the item field, "\n" being its Enter: the code is not lost."""
        field = self.item_field
        if text == "\n":
            field.call_later(field.action_submit)
        else:
            field.insert_text_at_cursor(text)


def _scanned(result: ScanResult) -> BasketChanged | CardUnknown:
    if result.unknown_card is not None:
        return CardUnknown(result.unknown_card, result.message)
    assert result.view is not None
    return BasketChanged(result.view)


def _check_enrol(v: Values) -> str | None:
    """Only the card is needed (as for `loyalty-pos enroll`): a customer in a queue may give
    a name, an email or a phone, or none of them."""
    if not v["card"]:
        return "Scan or type the new card."
    return None
