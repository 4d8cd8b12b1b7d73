"""Windows that show text: the receipt preview, the refund slip, summaries, help; and yes/no."""

from __future__ import annotations

import re
from collections.abc import Callable

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ..messages import CodeScanned
from .base import PosModal

_FUNCTION_KEY = re.compile(r"f\d{1,2}")


class ClosesOnTyping:
    """For a window a cashier types through (the receipt preview, the void question): the
    first key of a code closes it, and that key and the rest of the code, already on their way
    to this window, go to ``typed`` ("\n" for the Enter), which puts them in the item field."""

    typed: Callable[[str], None] | None = None
    closed_by_typing = False
    #: Function keys the window binds itself (the manager menu's F8 closes it).
    OWN_KEYS: frozenset[str] = frozenset()

    def passes_on(self, event: events.Key, result: object = None) -> bool:
        """A function key of the checkout (F2 a card, F6 a refund, F9, ...) pressed in the
        window closes it (with ``result``) and does its action, as if the window was not there:
        the cashier serving the next customer from the receipt preview, or back from the
        manager menu, lost it without a word. True when ``event`` was one (then it is handled)."""
        if (
            self.typed is None
            or self.closed_by_typing
            or not _FUNCTION_KEY.fullmatch(event.key)
            or event.key in self.OWN_KEYS
        ):
            return False
        event.stop()
        event.prevent_default()
        self.closed_by_typing = True
        self.dismiss(result)  # type: ignore[attr-defined]
        app = self.app  # type: ignore[attr-defined]
        app.call_after_refresh(app.post_message, events.Key(event.key, None))
        return True

    def hand_on(self, event: events.Key) -> bool:
        """True when ``event`` was a key of a code typed on (then it is handled)."""
        printable = event.character if event.is_printable and event.character else ""
        if self.typed is None or not (
            printable or (self.closed_by_typing and event.key == "enter")
        ):
            return False
        event.stop()
        event.prevent_default()
        if not self.closed_by_typing:
            self.closed_by_typing = True
            self.dismiss(None)  # type: ignore[attr-defined]
        self.typed(printable or "\n")
        return True


class TextScreen(ClosesOnTyping, PosModal[None]):
    """A titled text (monospaced, scrollable) with a summary line; Enter or Esc closes it.

    With ``closes_on_scan`` the next scan closes the window and is handled as usual, and with
    ``typed`` so does the next code typed (``ClosesOnTyping``): the receipt preview must not hold
    up the next customer, nor swallow the first item typed for them.
    """

    BINDINGS = [
        ("escape", "cancel", "Close"),
        ("enter", "cancel", "Close"),
        ("up", "scroll('up')", "Up"),
        ("down", "scroll('down')", "Down"),
        ("pageup", "scroll('page_up')", "Page up"),
        ("pagedown", "scroll('page_down')", "Page down"),
        ("home", "scroll('home')", "Top"),
        ("end", "scroll('end')", "End"),
    ]

    def __init__(
        self,
        title: str,
        body: RenderableType,
        *,
        summary: RenderableType = "",
        hint: str = "Enter or Esc: close · ↑↓ PgUp PgDn: scroll",
        closes_on_scan: bool = False,
        typed: Callable[[str], None] | None = None,
        classes: str = "",
    ) -> None:
        super().__init__(classes=classes)
        self.typed = typed
        self.title_text = title
        self.body = body
        self.summary = summary
        self.hint = hint
        self.closes_on_scan = closes_on_scan

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog text") as dialog:
            dialog.border_title = self.title_text
            if self.summary:
                yield Static(self.summary, classes="summary", markup=False)
            with VerticalScroll(classes="body", can_focus=False):
                yield Static(self.body, classes="body-text", markup=False)
            yield Static(self.hint, classes="hint")

    def on_key(self, event: events.Key) -> None:
        if not self.passes_on(event):
            self.hand_on(event)

    def action_cancel(self) -> None:
        if not self.closed_by_typing:  # closed already by the code typed on
            super().action_cancel()

    def action_scroll(self, where: str) -> None:
        """Scroll the text at once, from where the step before went: a burst of Down keys (a
        key held down, or pressed quickly) moved one or two lines, each step deferred to the
        next refresh and taken from where the text stood when last drawn."""
        body = self.query_one(VerticalScroll)
        page = body.scrollable_content_region.height
        step = {"up": -1, "down": 1, "page_up": -page, "page_down": page}.get(where)
        if step is None:
            y = 0 if where == "home" else body.max_scroll_y
        else:
            y = min(max(round(body.scroll_target_y) + step, 0), body.max_scroll_y)
        body.scroll_to(y=y, animate=False, immediate=True)

    def take_scan(self, message: CodeScanned) -> bool:
        """With ``closes_on_scan``: close, then hand the scan on as if the window was not there."""
        if not self.closes_on_scan:
            return False
        self.dismiss(None)
        self.app.call_after_refresh(self.app.post_message, message)
        return True


class ConfirmScreen(ClosesOnTyping, PosModal[bool]):
    """A yes/no question: Y or Enter = yes, N or Esc = no.

    With ``typed``, any other key of a code closes it as a no and goes on to the item field
    with the rest of the code (``ClosesOnTyping``): the Enter that ends a code typed or scanned
    at the question (a scanner slower than ``max_gap_ms``) is not its yes."""

    # Y and N in either case (a capital Y, caps lock on, did nothing). Being bindings, they are
    # held back twice `max_gap_ms` by the keyboard-wedge detector (``keyboard``) to see whether
    # a scan's burst follows: a code beginning with Y is a scan, not a yes.
    BINDINGS = [
        ("y,Y,enter", "answer(True)", "Yes"),
        ("n,N,escape", "answer(False)", "No"),
    ]

    def __init__(
        self, title: str, question: str, typed: Callable[[str], None] | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.typed = typed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.question, markup=False)
            yield Static(Text("Y / Enter: yes · N / Esc: no", style="dim"), classes="hint")

    def on_key(self, event: events.Key) -> None:
        if self.passes_on(event, False):  # F9, F2, ...: a no, and the key acts
            return
        if event.character not in ("y", "Y", "n", "N"):
            self.hand_on(event)

    def action_answer(self, yes: bool) -> None:
        if not self.closed_by_typing:
            self.dismiss(yes)

    def take_scan(self, message: CodeScanned) -> bool:
        """With ``typed``, a code scanned at the question is a no, as a code typed there is,
        and goes on to the basket (the question was left up over it, or, from a scan
        beginning with Y, answered yes)."""
        if self.typed is not None and not self.closed_by_typing:
            self.closed_by_typing = True
            self.dismiss(False)
        return False


class VoidScreen(ClosesOnTyping, PosModal[bool]):
    """The question before the basket is thrown away: Y and then Enter voids it; any other key
    keeps it. Esc opens this window, and Esc is also a cashier's reflex after a refused code, so
    the next code typed must not answer it: with "Y / Enter: yes", the Enter that ends a code
    (or a code starting with Y) voided the basket. A code typed on goes to the item field; the
    answer itself (Y, then a change of mind; N) does not, it would be refused with the code."""

    def __init__(self, question: str, typed: Callable[[str], None]) -> None:
        super().__init__()
        self.question = question
        self.typed = typed
        self.armed = ""  # the Y pressed, once it was

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm") as dialog:
            dialog.border_title = "Void the basket"
            yield Static(self.question, markup=False)
            yield Static(self._hint(), id="hint", classes="hint")

    def _hint(self) -> Text:
        if self.armed:
            return Text("Enter: void it now · any other key: keep the basket", style="bold")
        return Text("Y then Enter: void · Esc or any other key: keep the basket", style="dim")

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            return  # the window's Esc binding closes it: the basket stays
        if self.passes_on(event, False):  # F5, F9, ...: the basket stays, the key acts
            return
        printable = event.character if event.is_printable and event.character else ""
        if not self.closed_by_typing:
            if printable in ("y", "Y"):
                event.stop()
                if not self.armed:
                    self.armed = printable
                    self.query_one("#hint", Static).update(self._hint())
                return
            if event.key == "enter" and self.armed:
                event.stop()
                self.dismiss(True)
                return
            if printable in ("n", "N"):  # no: the answer, not the first key of a code
                event.stop()
                self.closed_by_typing = True
                self.dismiss(False)
                return
        if not self.hand_on(event) and not self.closed_by_typing:
            event.stop()  # Tab, an arrow, Enter without Y: keep the basket
            self.closed_by_typing = True
            self.dismiss(False)
