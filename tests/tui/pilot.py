"""Helpers that drive the app as a cashier would: type like a person, scan like a scanner, and
wait until the service thread has answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.events import Key
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from loyalty_pos.tui.app import CheckoutApp
from loyalty_pos.tui.screens.forms import FormScreen

HUMAN_GAP_S = 0.2
SCANNER_GAP_S = 0.004


class KeyClock:
    """Key times for the wedge detector: a person's rhythm unless ``scanning``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.gap = HUMAN_GAP_S

    def __call__(self, event: Key) -> float:
        self.now += self.gap
        return self.now


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every job sent to the service thread has answered and the answer is shown, and
    a key held back from a window's binding (``WedgeKeys``) has acted."""
    app = pilot.app
    assert isinstance(app, CheckoutApp)
    for _ in range(2000):
        if app.services.idle and not (app.keys_held or app.keys_waiting):
            await pilot.pause()  # let the screens handle what the service thread posted
            if app.services.idle and not (app.keys_held or app.keys_waiting):
                return
        await asyncio.sleep(0.002)
    raise AssertionError("the service thread did not go quiet")


def send_keys(pilot: Pilot[None], text: str, *, enter: bool = False) -> None:
    """Hand keys to the app at once, without waiting for it: for keys that arrive while the
    app is still busy with earlier ones (two scans back to back)."""
    _send(pilot, text, enter)


def _send(pilot: Pilot[None], text: str, enter: bool) -> None:
    """Hand keys to the app as the terminal driver does: all at once, in order."""
    for char in text:
        pilot.app.post_message(Key(_KEY_NAMES.get(char, char), char))
    if enter:
        pilot.app.post_message(Key("enter", "\r"))


_KEY_NAMES = {"*": "asterisk", "-": "minus", "+": "plus", " ": "space", ".": "full_stop"}
#: Keys by name for ``press_at_once``, with the character each types.
_NAMED_KEYS = {
    **{f"f{n}": None for n in range(1, 13)},
    "enter": "\r",
    "escape": None,
    "tab": "\t",
}


def press_at_once(pilot: Pilot[None], *keys: str) -> None:
    """Keys handed to the app in one burst, each without waiting for the app to handle the one
    before (a fast typist, a keyboard wedge, keys a terminal read at once): a key's name
    ("f8", "enter") or text, a key per character. ``pilot.press`` waits for the app to go idle
    between keys, so a key's window is always up before the next key comes."""
    for key in keys:
        if key in _NAMED_KEYS:
            pilot.app.post_message(Key(key, _NAMED_KEYS[key]))
        else:
            _send(pilot, key, enter=False)


async def type_text(pilot: Pilot[None], text: str, *, enter: bool = True) -> None:
    """Type ``text`` at a person's pace (the key clock says 200 ms a key), then Enter."""
    _send(pilot, text, enter)
    await settle(pilot)


async def scan(
    pilot: Pilot[None], clock: KeyClock, code: str, gap_s: float = SCANNER_GAP_S
) -> None:
    """A keyboard-wedge scanner: the code and Enter, ``gap_s`` (a few milliseconds) per key."""
    clock.now += 1.0  # the scanner starts well after the last key a person typed
    clock.gap = gap_s
    _send(pilot, code, True)
    await settle(pilot)
    clock.gap = HUMAN_GAP_S


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait (settling the app) until ``condition()`` holds: for what arrives from a worker or a
    device thread rather than from the service thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await settle(pilot)
        await asyncio.sleep(0.02)


async def press(pilot: Pilot[None], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


async def quit_with(pilot: Pilot[None], key: str, timeout: float = 5.0) -> None:
    """Press ``key``, which ends the app, and wait until it has ended. Not ``press``: its wait
    for the screens to take their messages races the app's shutdown (screens that stop taking
    messages half-way make Textual's wait time out after 30 s)."""
    app = pilot.app
    app.post_message(Key(key, key if len(key) == 1 else None))
    deadline = time.monotonic() + timeout
    while app.return_code is None:
        assert time.monotonic() < deadline, "the app did not end"
        await asyncio.sleep(0.01)


def notes(app: CheckoutApp) -> list[str]:
    """The notifications shown so far (newest last)."""
    return [n.message for n in app._notifications]


async def fill(pilot: Pilot[None], text: str, *, enter: bool = True) -> None:
    """Put ``text`` in the focused field at once (and Enter): for tests where typing is not the
    point; ``type_text`` types key by key."""
    app = pilot.app
    # A screen just pushed focuses its first field when it is resumed, a message or two after the
    # push: under load that can be after the key that pushed it has settled.
    deadline = time.monotonic() + 5.0
    while not hasattr(app.focused, "value") and time.monotonic() < deadline:
        await pilot.pause(0.01)
    field = app.focused
    assert field is not None and hasattr(field, "value"), f"no field has the focus ({field!r})"
    field.value = text  # type: ignore[attr-defined]
    if enter:
        await pilot.press("enter")
    await settle(pilot)


async def open_menu(pilot: Pilot[None], pin: str = "1234") -> None:
    """From the checkout: F8 and the manager PIN; at the manager menu."""
    await press(pilot, "f8")
    await fill(pilot, pin)


async def manager_view(pilot: Pilot[None], key: str, card: str | None = None) -> Screen[Any]:
    """From the checkout: the manager menu, its action ``key`` (1-6), and ``card`` typed in the
    action's first field with Enter; the window that is up then."""
    await open_menu(pilot)
    await press(pilot, key)
    if card is not None:
        await fill(pilot, card)
    return pilot.app.screen


async def form_field(pilot: Pilot[None], key: str, name: str) -> tuple[FormScreen, Input]:
    """Press ``key``, which opens a form window: the window and its field ``name`` (its id
    without ``field-``: ``card``, ``amount``)."""
    await press(pilot, key)
    form = pilot.app.screen
    assert isinstance(form, FormScreen)
    return form, form.query_one(f"#field-{name}", Input)


def text_in(widget: Widget, selector: str | None = None) -> str:
    """The text ``widget`` (or its descendant ``selector``) shows, spaces collapsed."""
    if selector is not None:
        widget = widget.query_one(selector)
    width, height = widget.size
    strips = widget.render_lines(Region(0, 0, width, height))
    return " ".join(" ".join(strip.text.split()) for strip in strips).strip()


def screen_lines(app: CheckoutApp) -> list[str]:
    """The lines of the screen as the terminal shows them (what is cut off is not there)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
