"""Windows that show text: the receipt preview, the refund slip, summaries, help; and yes/no."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ..messages import CodeScanned
from .base import PosModal


class TextScreen(PosModal[None]):
    """A titled text (monospaced, scrollable) with a summary line; Enter or Esc closes it.

    With ``closes_on_scan`` the next scan closes the window and is handled as usual: the receipt
    preview must not hold up the next customer.
    """

    BINDINGS = [
        ("escape", "cancel", "Close"),
        ("enter", "cancel", "Close"),
        ("up", "scroll(-1)", "Up"),
        ("down", "scroll(1)", "Down"),
    ]

    def __init__(
        self,
        title: str,
        body: RenderableType,
        *,
        summary: RenderableType = "",
        hint: str = "Enter or Esc: close · ↑↓: scroll",
        closes_on_scan: bool = False,
        classes: str = "",
    ) -> None:
        super().__init__(classes=classes)
        self.title_text = title
        self.body = body
        self.summary = summary
        self.hint = hint
        self.closes_on_scan = closes_on_scan

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog text") as dialog:
            dialog.border_title = self.title_text
            if self.summary:
                yield Static(self.summary, classes="summary")
            with VerticalScroll(classes="body", can_focus=False):
                yield Static(self.body, classes="body-text")
            yield Static(self.hint, classes="hint")

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)

    def take_scan(self, message: CodeScanned) -> bool:
        """With ``closes_on_scan``: close, then hand the scan on as if the window was not there."""
        if not self.closes_on_scan:
            return False
        self.dismiss(None)
        self.app.call_after_refresh(self.app.post_message, message)
        return True


class ConfirmScreen(PosModal[bool]):
    """A yes/no question: Y or Enter = yes, N or Esc = no."""

    BINDINGS = [
        ("y,enter", "answer(True)", "Yes"),
        ("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.question)
            yield Static(Text("Y / Enter: yes · N / Esc: no", style="dim"), classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class VoidScreen(PosModal[bool]):
    """The question before the basket is thrown away: Y and then Enter voids it; any other key
    keeps it. Esc opens this window, and Esc is also a cashier's reflex after a refused code, so
    the next code typed must not answer it: with "Y / Enter: yes", the Enter that ends a code
    (or a code starting with Y) voided the basket. The keys of a code that close the window
    here are handed to ``typed`` (the item field; "\n" for its Enter), so the code is not lost
    either."""

    def __init__(self, question: str, typed: Callable[[str], None]) -> None:
        super().__init__()
        self.question = question
        self.typed = typed
        self.armed: str | None = None  # the Y pressed, once it was
        self.closed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm") as dialog:
            dialog.border_title = "Void the basket"
            yield Static(self.question)
            yield Static(self._hint(), id="hint", classes="hint")

    def _hint(self) -> Text:
        if self.armed:
            return Text("Enter: void it now · any other key: keep the basket", style="bold")
        return Text("Y then Enter: void · Esc or any other key: keep the basket", style="dim")

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            return  # the window's Esc binding closes it: the basket stays
        event.stop()
        event.prevent_default()
        printable = event.character if event.is_printable and event.character else ""
        if self.closed:  # keys of that code already on their way here: on to the item field
            if printable or event.key == "enter":
                self.typed(printable or "\n")
            return
        if printable in ("y", "Y") and not self.armed:
            self.armed = printable
            self.query_one("#hint", Static).update(self._hint())
            return
        if event.key == "enter" and self.armed:
            self.dismiss(True)
            return
        self.closed = True
        self.dismiss(False)
        if printable:  # a code typed on ("YOGURT", "MILK"): its keys go to the item field
            self.typed((self.armed or "") + printable)
