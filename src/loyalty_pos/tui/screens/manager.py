"""The manager menu (F8, after the PIN): adjust points, block a lost card, link a new card, the
member's status (read-only), reprint the last receipt, and today's summary.

The menu closes as an action ends (its result shown, or N at its question): a cashier back at
the till after a manager finds the checkout, not the menu, which took the next code's Enter as
"1 Adjust points" (QA). A code typed or scanned while the menu is up closes it and goes to the
till, as at the receipt preview. Esc in an action's form, before anything is done, goes back to
the menu."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from loyalty_pos.checkout import (
    MemberView,
    Terminal,
    adjust,
    block_card,
    blocked_already,
    card_in_use,
    card_row,
    find_member,
    mask,
    product_barcode,
    replace_lost_card,
    shown,
)
from loyalty_pos.domain.errors import NotFound, Refused
from loyalty_pos.domain.events import MAX_POINTS, reason_problem
from loyalty_pos.printing import receipt_text
from loyalty_pos.reports import day_report, report_text

from ..messages import CodeScanned, ServiceDone
from .base import PosModal
from .forms import Field, FormScreen, Values
from .text import ClosesOnTyping, ConfirmScreen, TextScreen

ACTIONS: tuple[tuple[str, str], ...] = (
    ("adjust", "Adjust a member's points"),
    ("block", "Block a lost card"),
    ("replace", "Replace a lost card (link a new card)"),
    ("status", "Member status (frozen / active)"),
    ("reprint", "Print receipts that did not print, else reprint the last (COPY)"),
    ("summary", "End-of-day summary"),
)


def _entry(number: int, label: str) -> Table:
    """A menu entry: its number, then its text, which wraps under itself (at 80 columns entry
    5 took two lines, its second one under the number, like an entry of its own)."""
    entry = Table.grid(padding=(0, 2))
    entry.add_column(no_wrap=True)
    entry.add_column()
    entry.add_row(str(number), Text(label))
    return entry


#: The keys that choose an action (``BINDINGS``).
_CHOICES = {str(n) for n in range(1, len(ACTIONS) + 1)}


class ManagerScreen(ClosesOnTyping, PosModal[None]):
    """Holds the PIN the manager typed, for the actions that need it again."""

    BINDINGS = [
        ("escape", "cancel", "Close"),
        # F8 again closes the menu: a manager back from a result (Esc) who thinks it closed and
        # presses F8 for it again would otherwise type the PIN's digits into the menu's 1-6 (QA).
        Binding("f8", "cancel", "Close", show=False),
        *(Binding(str(n), f"pick('{key}')", show=False) for n, (key, _) in enumerate(ACTIONS, 1)),
    ]
    OWN_KEYS = frozenset({"f8"})

    def __init__(
        self, pin: str, card: str | None, typed: Callable[[str], None] | None = None
    ) -> None:
        """``typed``: where a code typed at the menu goes (the item field), closing it."""
        super().__init__()
        self.pin = pin
        self.card = card or ""
        self.typed = typed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog manager") as dialog:
            dialog.border_title = "Manager"
            yield OptionList(
                *(Option(_entry(n, label), id=key) for n, (key, label) in enumerate(ACTIONS, 1)),
                id="actions",
            )
            yield Static("Enter or 1-6: choose · Esc or F8: close", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.action_pick(event.option.id)

    def on_key(self, event: events.Key) -> None:
        # A letter, 0, 7-9, '*': a code for the till; F9, F2, ...: the till's key.
        if event.key not in _CHOICES and not self.passes_on(event):
            self.hand_on(event)

    def take_scan(self, message: CodeScanned) -> bool:
        """A scan closes the menu and goes to the till as if the menu was not there."""
        self._end()
        self.app.call_after_refresh(self.app.post_message, message)
        return True

    def action_pick(self, key: str) -> None:
        if not self.closed_by_typing:
            getattr(self, f"_{key}")()

    def _product(self, code: str, symbology: str | None) -> str | None:
        """A card field's check (``Field.card_check``): a product's barcode is no card."""
        return product_barcode(self.pos.terminal, code, symbology)

    def _end(self) -> None:
        """The action is over (or the till was wanted): back to the checkout."""
        if not self.closed_by_typing:
            self.closed_by_typing = True
            self.dismiss(None)

    # -- actions ------------------------------------------------------------------------------

    def _confirmed(
        self,
        title: str,
        fields: list[Field],
        question: Callable[[Values, Any], str],
        job: Callable[[Values], Callable[[], Any]],
        said: Callable[[Values, Any, Any], str],
        nothing: str,
        check: Callable[[Values], str | None] | None = None,
        blocked_ok: bool = False,
        precheck: Callable[[Values], None] | None = None,
    ) -> None:
        """The form, then the member of its first field's card by name, with what the action
        will do, to confirm: a mistyped card or sign must not move points or block a card
        unseen. Nothing is recorded before Y. ``blocked_ok``: the card may be blocked already
        (a lost card to replace, reported lost before). ``precheck`` refuses what the action
        would refuse anyway, on the service thread, before the question is asked."""
        t = self.pos.terminal
        card_field = fields[0].name
        # The card is looked up at its own Enter, before the rest is typed (QA: an unknown card
        # was said after the points and the reason, the cursor left on the reason).
        fields = [
            dataclasses.replace(
                fields[0], lookup=lambda card: _card_problem(t, card, blocked_ok=blocked_ok)
            ),
            *fields[1:],
        ]

        def look_up(v: Values) -> Callable[[], Any]:
            def run() -> tuple[Values, Any]:
                member = _member(t, v[card_field], blocked_ok=blocked_ok)
                if precheck is not None:
                    precheck(v)
                return v, member

            return run

        def found(answer: tuple[Values, Any] | None) -> None:
            if answer is None:
                return
            v, member = answer
            who = f"{member.name or 'Member'} ({member.member_id}, card {mask(member.card)})"

            def answered(yes: bool | None) -> None:
                pos = self.pos
                self._end()
                if not yes:
                    pos.notify(nothing, title=title)
                    return
                pos.submit(  # done and refused over the checkout, where the menu closed
                    title,
                    job(v),
                    target=pos.checkout,
                    done=lambda r: ServiceDone("manager", (title, said(v, member, r))),
                )

            self.app.push_screen(
                ConfirmScreen(title, f"{who}: {question(v, member)}", self.typed), answered
            )

        self.app.push_screen(FormScreen(title, fields, submit=look_up, check=check), found)

    def _adjust(self) -> None:
        """Card, points and reason; then the member with the balance before and after."""
        t, pin = self.pos.terminal, self.pin
        self._confirmed(
            "Adjust points",
            [
                Field("card", "Card", self.card, scannable=True, card_check=self._product),
                Field("points", "Points", placeholder="+500 or -200", check=_points_problem),
                Field("reason", "Reason", placeholder="why (kept on the record)"),
            ],
            lambda v, m: (
                f"{int(v['points']):+d} points, for “{v['reason']}”.\n"
                f"Balance {m.balance} now, {m.balance + int(v['points'])} after."
            ),
            lambda v: lambda: adjust(t, v["card"], int(v["points"]), v["reason"], pin),
            lambda v, m, r: (
                f"{m.name or r['member_id']}: {r['points']:+d} points; "
                f"the balance is now {r['balance']}."
            ),
            "Nothing was adjusted.",
            check=_check_adjust,
        )

    def _block(self) -> None:
        t, pin, session = self.pos.terminal, self.pin, self.pos.session

        def job(v: Values) -> Callable[[], Any]:
            def run() -> Any:
                result = block_card(t, v["card"], pin)
                if session.holds_card(v["card"]):
                    session.detach()
                return result

            return run

        self._confirmed(
            "Block a lost card",
            # Typed, not taken from the basket: the basket's card is in the customer's hand
            # (QA: two Enters blocked the working card of the customer at the till).
            [
                Field(
                    "card",
                    "Lost card",
                    placeholder="the card reported lost",
                    card_check=self._product,
                )
            ],
            lambda v, m: (
                f"block this card? Balance {m.balance}: the member keeps their points; "
                "the card no longer works at any till."
            ),
            job,
            lambda v, m, r: f"Card {r['card']} is blocked; the member keeps their points.",
            "No card was blocked.",
            blocked_ok=True,  # a card blocked already is refused in the manager's words below
            precheck=lambda v: _refuse_blocked_already(t, v["card"]),
        )

    def _replace(self) -> None:
        t, pin, session = self.pos.terminal, self.pin, self.pos.session

        def job(v: Values) -> Callable[[], Any]:
            def run() -> Any:
                result = replace_lost_card(t, v["old"], v["new"], pin)
                if session.holds_card(v["old"]):
                    session.scan(v["new"], kind="card")
                return result

            return run

        def new_card_is_free(v: Values) -> None:
            if said := card_in_use(t, v["new"]):
                raise Refused(
                    f"{said} The new card must be one not enrolled yet. Nothing was blocked."
                )

        # The lost card is typed, not taken from the basket: a card scanned at the till is in
        # the customer's hand, not lost (QA: the basket's card was proposed for blocking, and
        # the form started in "New card", where the lost card's number was then typed).
        self._confirmed(
            "Replace a lost card",
            [
                Field(
                    "old",
                    "Lost card",
                    placeholder="the card reported lost",
                    card_check=self._product,
                ),
                Field(
                    "new",
                    "New card",
                    placeholder="scan or type the new card",
                    scannable=True,
                    card_check=self._product,
                ),
            ],
            lambda v, m: (
                f"{_block_and(m)}link the new card {mask(v['new'])}? Balance "
                f"{m.balance} and history go with the member."
            ),
            job,
            lambda v, m, r: (
                f"New card {r['card']} linked to member {r['member_id']}; "
                f"card {r['blocked']} is blocked."
            ),
            "No card was replaced.",
            blocked_ok=True,
            precheck=new_card_is_free,
        )

    def _status(self) -> None:
        t = self.pos.terminal

        def shown(member: Any) -> None:
            if member is None:
                return
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="dim")
            grid.add_column()
            grid.add_row("Member", Text(f"{member.name} ({member.member_id})"))
            blocked = " blocked (reported lost)" if member.card_blocked else ""
            grid.add_row("Card", Text(f"{mask(member.card)}{blocked}"))
            style = "bold red" if member.status == "frozen" else "bold"
            grid.add_row("Status", Text(member.status, style=style))
            note = Text(
                "Freezing and unfreezing a member is done at the central office; "
                "this terminal only shows it.",
                style="dim",
            )
            self._end()
            self.app.push_screen(TextScreen("Member status (read-only)", grid, summary=note))

        self.app.push_screen(
            FormScreen(
                "Member status",
                [Field("card", "Card", self.card, scannable=True, card_check=self._product)],
                # A lost card still shows its member: the manager looks them up by it.
                submit=lambda v: lambda: _member(t, v["card"], blocked_ok=True),
            ),
            shown,
        )

    def _reprint(self) -> None:
        """Receipts whose print failed come first (the customer waiting for one after the
        printer ran out of paper); with none queued, the last receipt again, marked COPY."""
        t = self.pos.terminal

        def job() -> tuple[str, str, bool] | list[str]:
            queued: list[str] = self.pos.unprinted_here()
            if queued:
                return queued
            rid = t.store.last_receipt_id()
            if rid is None:
                raise NotFound("No receipt has been made on this terminal yet.")
            # A copy only of a receipt that came out of the printer (a till without one, or
            # one that printed nothing yet, shows it as it is), as the printer then marks it.
            copy = t.store.was_printed(rid)
            return rid, receipt_text(t, rid, copy=copy), copy

        self._end()
        self.pos.submit("reprint", job, target=self.pos.checkout, done=_reprinted)

    def _summary(self) -> None:
        t = self.pos.terminal

        def job() -> tuple[str, str]:
            return "End-of-day summary", report_text(day_report(t, t.now().date()))

        self._end()
        self.pos.submit("summary", job, target=self.pos.checkout, done=_text)


#: What the adjustment's points field takes: ASCII digits with a sign at most, not ``1_000``, ``1e3``.
_WHOLE_POINTS = re.compile(r"[-+]?[0-9]{1,13}")


def _points_problem(text: str) -> str | None:
    """The points field's check, said at its Enter (an empty field went on to the reason, and
    the form then said ":  is not one")."""
    if not text:
        return "Type the points: a whole number, e.g. 500 or -200."
    if not _WHOLE_POINTS.fullmatch(text):
        typed = text if len(text) <= 32 else shown(text)
        return f"Points must be a whole number, e.g. 500 or -200: {typed} is not one."
    if int(text) == 0:
        return "An adjustment of 0 points changes nothing."
    if abs(int(text)) > MAX_POINTS:
        return f"An adjustment moves at most {MAX_POINTS:,} points (asked {int(text):,})."
    return None


def _check_adjust(v: Values) -> str | None:
    """Before the question, what the adjustment would refuse after its Y (QA: a reason of a
    few thousand characters was asked about whole, over the screen, then refused)."""
    if problem := _points_problem(v["points"]):
        return problem
    if not v["reason"]:
        return "Give a reason: it is kept on the record."
    if problem := reason_problem(v["reason"]):
        return f"{problem[0].upper()}{problem[1:]}."
    return None


def _reprinted(found: tuple[str, str, bool] | list[str]) -> ServiceDone:
    return ServiceDone("print-queued" if isinstance(found, list) else "reprint", found)


def _text(found: tuple[str, str]) -> ServiceDone:
    return ServiceDone("show-text", found)


def _member(t: Terminal, card: str, *, blocked_ok: bool = False) -> MemberView:
    """``find_member`` refused in the manager's words (on the service thread): the cashier's
    "enrol it, or sell without a card" and "ask for the new card" are no use to a manager."""
    try:
        return find_member(t, card, blocked_ok=blocked_ok)
    except NotFound as e:
        if "card" not in e.details:
            raise
        raise NotFound(
            f"Card {mask(card)} is not known here: check the number.", card=mask(card)
        ) from e
    except Refused as e:
        if e.details.get("reason") != "blocked":
            raise
        raise Refused(
            f"Card {mask(card)} is blocked (reported lost): the member's points are adjusted "
            "on their new card (3 Replace a lost card links one).",
            reason="blocked",
        ) from e


def _card_problem(t: Terminal, card: str, *, blocked_ok: bool = False) -> str | None:
    """A manager form's card field's lookup (``Field.lookup``): what ``_member`` refuses."""
    try:
        _member(t, card, blocked_ok=blocked_ok)
    except Refused as e:
        return str(e)
    return None


def _refuse_blocked_already(t: Terminal, card: str) -> None:
    """F8 2 on a card blocked before (on the service thread): the manager is told so, and what
    to do for the customer (not the cashier's "ask for the new card" that a sale with it gets)."""
    if said := blocked_already(card_row(t, card)):
        raise Refused(f"{said} For the member's new card: 3 Replace a lost card.")


def _block_and(member: MemberView) -> str:
    """How the replace question begins: the lost card is blocked with it, or was already."""
    if member.card_blocked:
        return "this card is blocked already (reported lost); "
    return "block this card and "
