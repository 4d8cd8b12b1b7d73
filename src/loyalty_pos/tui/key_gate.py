"""Keys that come right behind a key that opens a window go to that window.

Textual hands each key to the widget that has the focus as the key arrives, and runs a key's
binding (F8: the PIN window) only once the key has come back up to the app, behind the widget's
queue: keys sent in one burst right after it (a fast typist, a keyboard wedge, a macro key) were
all in the item field before the window was there, and their Enter looked the manager PIN up as
an item ("Unknown code '1234'", the PIN on screen). Likewise an Enter in a form moves the focus to
the next field only after the keys behind it had gone to the field just entered ("4.99⏎gro" left
"4.99gro" in the amount field).

So a key that does not type into the focused field (a function key, Enter, Esc, Tab, any key at a
window without a field) holds the keys behind it back until it has been handled all the way: its
way up through the widgets to the app has been followed, the window it opened is mounted with its
field focused, and the window has no step under way on the service thread (a card looked up at
its Enter, the PIN checked: ``PosModal.step_under_way``). Then they go on, in order, to whatever
has the focus. Keys typed into a field (a scan's digits) are never held, nor are the keys behind a
scan's Enter (``WedgeKeys`` takes it, and the code goes on as a message): a scan, and one right
behind it, is as quick as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from textual import events
from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.widgets import Input

from .screens.base import PosModal

#: The longest the keys behind a step wait for it: past this they go where the focus is. A
#: step that takes longer (a cache held by another process, a widget that went away with its
#: queue) must not leave the keyboard dead.
MOST_WAIT_S = 2.0
#: How often a window's step on the service thread is looked at while keys wait for it.
STEP_POLL_S = 0.005


class KeyGate:
    """Mix into the App, before the key handling that should see keys in their final order
    (``WedgeKeys``)."""

    #: The keys waiting for a step to be handled; None while none is under way.
    _waiting: deque[events.Key] | None = None
    _settling: asyncio.Task[None] | None = None

    @property
    def keys_waiting(self) -> bool:
        return self._waiting is not None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._waiting is not None:
                self._waiting.append(event)
                return
            await self._key(event)
            return
        await super().on_event(event)  # type: ignore[misc]

    def key_next(self, key: str) -> None:
        """A key a window took and passed on after closing itself (F9 at the help): it goes
        before the keys that came after it, to what has the focus once the window is gone."""
        app: Any = self
        event = events.Key(key, None)
        if self._waiting is not None:
            self._waiting.appendleft(event)
        else:
            app.call_after_refresh(app.post_message, event)

    async def _key(self, event: events.Key) -> None:
        app: Any = self
        moves = self._moves_on(event)
        target = app.focused or app.screen
        await super().on_event(event)  # type: ignore[misc]
        if app.scan_ended_by is event:  # a scan: its code goes on as a message, not as keys
            return
        if moves and self._waiting is None:
            self._waiting = deque()
            self._settling = asyncio.create_task(self._settle(target))

    def _moves_on(self, event: events.Key) -> bool:
        """True unless ``event`` types into the focused field (a character, or a key the field
        itself binds: Backspace, the arrows)."""
        app: Any = self
        focused = app.focused
        if not isinstance(focused, Input) or event.key == "enter":
            return True
        if event.is_printable:
            return False
        bound = app.active_bindings.get(event.key)
        return bound is None or bound.node is not focused

    async def _settle(self, target: DOMNode) -> None:
        """Follow the step's key through the widgets until nothing moves any more, then let
        the keys behind it go on (on the app's own loop, as the keys themselves go)."""
        app: Any = self
        deadline = time.monotonic() + MOST_WAIT_S
        try:
            rounds = 0
            while time.monotonic() < deadline:
                before = (app.screen, app.focused)
                # The key, and what it posted on its way (a field's Submitted, a focus), go up
                # from widget to parent; each is reached once its queue has passed them.
                for pump in _path(target):
                    await _caught_up(pump, deadline)
                for pump in _path(app.screen):  # a window just opened: mounted, focused
                    await _caught_up(pump, deadline)
                rounds += 1
                screen = app.screen
                if isinstance(screen, PosModal) and screen.step_under_way():
                    await asyncio.sleep(STEP_POLL_S)
                elif rounds >= 2 and (app.screen, app.focused) == before:
                    break
                target = app.focused or app.screen
        finally:
            app.call_later(self._let_go)

    async def _let_go(self) -> None:
        """The step is handled: the keys behind it go on, until one of them is a step too."""
        waiting, self._waiting = self._waiting or deque(), None
        while waiting:
            if self._waiting is not None:  # a key let go was a step: the rest wait for it
                self._waiting.extend(waiting)
                return
            await self._key(waiting.popleft())


def _path(node: DOMNode) -> list[DOMNode]:
    """``node`` and the widgets above it, up to the app: the way a key goes up."""
    return list(node.ancestors_with_self)


async def _caught_up(pump: MessagePump, deadline: float) -> None:
    """Wait until ``pump`` has handled what was in its queue so far (or ``deadline``)."""
    done = asyncio.get_running_loop().create_future()

    def caught_up() -> None:
        if not done.done():  # not given up on already
            done.set_result(None)

    if not pump.call_later(caught_up):
        return
    try:
        await asyncio.wait_for(done, max(deadline - time.monotonic(), 0.0))
    except TimeoutError:
        pass
