"""Every key passes the keyboard-wedge detector before the focused widget sees it.

A scanner that types is so recognised wherever the focus is, even in the middle of the cashier's
typing: the burst becomes one ``CodeScanned`` (source ``wedge``), its Enter is swallowed, and the
field gets back what the cashier had typed (a quantity such as ``3*`` applies to the scanned item).

In a window whose single keys act (the manager menu's 1-6, a question's Y and N, the refund's
+ and -), a key that would act is held back until the next key shows it was not the first of a
burst: a scan's characters never act there, a key typed by a person acts twice ``max_gap_ms`` late
(80 ms by default). Keys that keep coming within that time and end in Enter are a code even when
they come slower than ``max_gap_ms`` (a scanner set to a delay between characters): a scan, not
choices.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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
    _before_burst: _Before | None = None
    #: What a field gets back after a scan, until it has: a scan right behind another finds the
    #: first one's code in the field, which the cashier never typed.
    _restoring: tuple[Input, str, int] | None = None
    #: Keys held back from a window's single-key bindings until it is known they were typed.
    _held: tuple[events.Key, ...] = ()
    _held_at = 0.0  # when the last of them came (``key_clock``)
    _held_round = 0
    #: The characters that came each within ``hold_s`` of the one before, up to this key: a
    #: scan held back from its first key that acts in the window on (the refund's '-') began
    #: before it, its first keys not held (a receipt id's 'DEMO1').
    _chain: tuple[str, ...] = ()
    _chain_at = 0.0
    #: The last Enter taken as the end of a scan (the scan goes on as a message, not as keys).
    scan_ended_by: events.Key | None = None

    @property
    def keys_held(self) -> bool:
        return bool(self._held)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            swallowed, typed = self._wedge_key(event)
            if typed:  # keys held back that were not the start of a burst: they act now
                await self._dispatch_held(typed)
            if swallowed:
                return
        await super().on_event(event)  # type: ignore[misc]

    def _wedge_key(self, event: events.Key) -> tuple[bool, tuple[events.Key, ...]]:
        """Watch the key. First: True when it ended a scanner burst (the Enter is then
        swallowed) or is held back (``_hold``); then the keys held before that this key shows
        were typed, to act before it."""
        app: Any = self
        if isinstance(app.focused, Input) and app.focused.has_class(FREE_TEXT):
            self.wedge.reset()  # a burst never runs on from, or into, a free-text field
            return False, ()
        character = event.character if event.is_printable else None
        at = self.key_clock(event)
        verdict = self.wedge.feed(event.key, character, at)
        chain = self._chain if at - self._chain_at <= self.hold_s else ()
        self._chain = (*chain, character) if character is not None else ()
        self._chain_at = at
        typed: tuple[events.Key, ...] = ()
        soon = bool(self._held) and at - self._held_at <= self.hold_s
        if soon and event.key == "enter" and len(self._held) >= self.wedge.min_length:
            # A code and its Enter, every key sooner than a person presses the next one, though
            # not all as fast as `max_gap_ms` (a scanner set to a delay between its characters,
            # or one that stalled mid-code: the burst is then only its tail): a scan all the
            # same, the whole of it, and its digits are not the window's choices. The whole of
            # it is the chain of quick keys, the held ones its end: a code's keys before the
            # first that acts here were not held, and did nothing outside a field.
            code = "".join(chain)
            self._held = ()
            self._deliver(code, app.post_message)
            self.scan_ended_by = event
            return True, ()
        if verdict.scan is not None:
            self._held = ()  # the scan's own keys: they are the code, not choices
        elif self._held and (character is None or not soon):
            typed, self._held = self._held, ()  # they began no code: a person typed them
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
            else:
                pending = self._restoring
                if pending is not None and pending[0] is focused:
                    before = _Before(*pending)  # what the scan before is putting back
                else:
                    before = _Before.of(focused)
                self._before_burst = before
                if focused is app.focused:
                    # The keys typed just before (a short code and its Enter at scanner speed,
                    # a scan's restore) may still be queued for the field: what it holds before
                    # the burst is read there, once it has taken them.
                    focused.call_later(before.read)
        if verdict.scan is None:
            return character is not None and self._hold(event, at), typed
        if self._before_burst is not None:
            before, scanned = self._before_burst, verdict.scan
            field = before.field
            # The burst's keys are still queued for the field: put its text back after them, and
            # only then hand on the scan, which a window may write into that very field (F2).
            self._restoring = restoring = before.kept()

            def restore_then_deliver() -> None:
                self._restore(restoring, before.kept())
                self._deliver(scanned, app.post_message, before.qty())

            field.call_later(restore_then_deliver)
        else:
            self._deliver(verdict.scan, app.post_message)
        self.scan_ended_by = event
        return True, typed

    @property
    def hold_s(self) -> float:
        """How long a key held back waits for the next one: twice the gap, as the next key of a
        burst may be a little late getting here; a person's next key comes later still."""
        return 2 * self.wedge.max_gap_s

    def _deliver(self, scanned: str, deliver: Callable[[CodeScanned], Any], qty: int = 1) -> None:
        """Hand on the code of a scan (``3*COFFEE`` typed or pasted fast counts 3)."""
        app: Any = self
        try:
            code, typed_qty = parse_entry(scanned)
        except Refused as e:
            if QUANTITY_GIVEN.match(scanned):  # "0*MILK": the quantity is what is wrong
                app.notify(str(e), severity="warning")
                return
            code, typed_qty = scanned, 1
        deliver(CodeScanned(code, "wedge", qty=typed_qty if typed_qty > 1 else qty))

    def _hold(self, event: events.Key, at: float) -> bool:
        """Hold ``event`` back if it would act in a window (a binding of its own, outside a
        field), or if keys are held already: it may be the first key of a scanner's burst."""
        app: Any = self
        if not self._held and (
            isinstance(app.focused, Input) or event.key not in app.screen.active_bindings
        ):
            return False
        self._held = (*self._held, event)
        self._held_at = at
        self._held_round += 1
        # The release is queued behind the keys that arrive meanwhile, which may go on with a
        # burst or a slower scanner's code.
        release = partial(app.call_later, self._release, self._held_round)
        app.set_timer(self.hold_s, release)
        return True

    async def _release(self, round_: int) -> None:
        """No key followed the held ones in time: a person typed them."""
        if round_ == self._held_round and self._held:
            held, self._held = self._held, ()
            await self._dispatch_held(held)

    async def _dispatch_held(self, held: tuple[events.Key, ...]) -> None:
        for key in held:
            await super().on_event(events.Key(key.key, key.character))  # type: ignore[misc]

    def _restore(
        self, restoring: tuple[Input, str, int], kept: tuple[Input, str, int] | None = None
    ) -> None:
        field, value, cursor = kept or restoring
        field.value = value
        field.cursor_position = cursor
        if self._restoring is restoring:
            self._restoring = None


class _Before:
    """What a field held as a scanner's burst began (``read`` on the field itself, once it has
    taken the keys queued for it before the burst), and what it gets back after the scan."""

    def __init__(self, field: Input, value: str, cursor: int) -> None:
        self.field, self.value, self.cursor = field, value, cursor

    @classmethod
    def of(cls, field: Input) -> _Before:
        return cls(field, field.value, field.cursor_position)

    def read(self) -> None:
        self.value, self.cursor = self.field.value, self.field.cursor_position

    def qty(self) -> int:
        """A quantity typed before the scan (``3*``) applies to the scanned item."""
        return pending_quantity(self.value) or 1

    def kept(self) -> tuple[Input, str, int]:
        """The field as it is put back: without a quantity the scan took, else as it was."""
        kept = "" if self.qty() > 1 else self.value
        return self.field, kept, min(self.cursor, len(kept))
