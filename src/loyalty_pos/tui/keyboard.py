"""Every key passes the keyboard-wedge detector before the focused widget sees it.

A scanner that types is so recognised wherever the focus is, even in the middle of the cashier's
typing: the burst becomes one ``CodeScanned`` (source ``wedge``), its Enter is swallowed, and the
field gets back what the cashier had typed (a quantity such as ``3*`` applies to the scanned item).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events
from textual.widgets import Input

from loyalty_pos.domain.errors import Refused

from .messages import CodeScanned
from .router import QUANTITY_GIVEN, parse_entry, pending_quantity
from .screens.base import FREE_TEXT
from .screens.text import ClosesOnTyping
from .wedge import WedgeDetector

KeyClock = Callable[[events.Key], float]


class WedgeKeys:
    """Mix into the App, before ``App`` itself."""

    wedge: WedgeDetector
    key_clock: KeyClock
    _before_burst: tuple[Input, str, int] | None = None
    #: What a field gets back after a scan, until it has: a scan right behind another finds the
    #: first one's code in the field, which the cashier never typed.
    _restoring: tuple[Input, str, int] | None = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._wedge_key(event):
            return
        await super().on_event(event)  # type: ignore[misc]

    def _wedge_key(self, event: events.Key) -> bool:
        """Watch the key; True when it ended a scanner burst (the Enter is then swallowed)."""
        app: Any = self
        if isinstance(app.focused, Input) and app.focused.has_class(FREE_TEXT):
            self.wedge.reset()  # a burst never runs on from, or into, a free-text field
            return False
        character = event.character if event.is_printable else None
        verdict = self.wedge.feed(event.key, character, self.key_clock(event))
        if verdict.starts_burst:
            focused = app.focused
            screen = app.screen
            if (
                not isinstance(focused, Input)
                and isinstance(screen, ClosesOnTyping)
                and screen.typed
            ):
                # A window that hands typed keys on to the item field (the receipt preview):
                # a scanner's keys land there too, and must leave it as it was.
                focused = app.checkout.item_field
            if not isinstance(focused, Input):
                self._before_burst = None
            elif self._restoring is not None and self._restoring[0] is focused:
                self._before_burst = self._restoring
            else:
                self._before_burst = (focused, focused.value, focused.cursor_position)
        if verdict.scan is None:
            return False
        qty = 1
        deliver = app.post_message
        if self._before_burst is not None:
            field, value, cursor = self._before_burst
            qty = pending_quantity(value) or 1
            kept = "" if qty > 1 else value
            # The burst's keys are still queued for the field: put its text back after them, and
            # only then hand on the scan, which a window may write into that very field (F2).
            restoring = (field, kept, min(cursor, len(kept)))
            self._restoring = restoring
            field.call_later(self._restore, restoring)

            def deliver(message: CodeScanned) -> bool:
                return field.call_later(app.post_message, message)

        try:
            code, typed_qty = parse_entry(verdict.scan)  # "3*COFFEE" typed or pasted fast
        except Refused as e:
            if QUANTITY_GIVEN.match(verdict.scan):  # "0*MILK": the quantity is what is wrong
                app.notify(str(e), severity="warning")
                return True
            code, typed_qty = verdict.scan, 1
        deliver(CodeScanned(code, "wedge", qty=typed_qty if typed_qty > 1 else qty))
        return True

    def _restore(self, restoring: tuple[Input, str, int]) -> None:
        field, value, cursor = restoring
        field.value = value
        field.cursor_position = cursor
        if self._restoring is restoring:
            self._restoring = None
