"""Enter in any field of the app takes what was typed before it, however fast the keys after it
come: a field's text and its Enter, then more keys, all in one burst (a fast typist, a paste, a
scanner right behind), once took the later keys in too, as Textual's Input submits through a
binding that waits behind them (QA: a short code before a scan was lost in the item field)."""

from __future__ import annotations

import pytest

from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.points import PointsScreen
from loyalty_pos.tui.screens.refund import RefundScreen
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import ANNA, BEN
from .pilot import manager_view, press, send_keys, settle, text_in, until
from .test_points import basket, give_points
from .test_sale_and_refund import sell


async def said_or_closed(pilot, window) -> str:
    """Wait until ``window`` closes or says something is wrong: what it says ("" if closed)."""

    def said() -> str:
        return text_in(window, "#error") if window in pilot.app.screen_stack else ""

    await until(pilot, lambda: window not in pilot.app.screen_stack or said())
    return said()


def burst(pilot, typed: str, after: str) -> None:
    """``typed`` and its Enter, then ``after``, handed to the app all at once."""
    send_keys(pilot, typed, enter=True)
    send_keys(pilot, after)


def _member_status_asked(app) -> bool:
    """The manager menu took the key typed behind the PIN's Enter: 4, the member status."""
    return isinstance(app.screen, FormScreen) and app.screen.title_text == "Member status"


@pytest.mark.parametrize(
    ("key", "typed", "after", "then"),
    [
        ("f8", "1234", "4", _member_status_asked),  # the manager PIN, then the menu's choice
        ("f2", BEN, "9", lambda app: app.checkout.view.member.name == "Ben Carter"),  # a card
    ],
    ids=["pin", "card"],
)
async def test_a_forms_field_takes_what_was_typed_before_enter(
    make_app, terminal, key, typed, after, then
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, key)
        form = app.screen
        assert isinstance(form, FormScreen)
        burst(pilot, typed, after)
        assert await said_or_closed(pilot, form) == ""
        await until(pilot, lambda: then(app))
    assert terminal.store.meta("pin_failures", "0") in ("0", None)


async def test_a_card_in_a_manager_action_is_the_one_typed_before_enter(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "4")  # the member status: a card, and Enter shows it
        form = app.screen
        assert isinstance(form, FormScreen)
        burst(pilot, BEN, "7")
        assert await said_or_closed(pilot, form) == ""
        assert isinstance(app.screen, TextScreen)
        assert "Ben Carter (M0002)" in text_in(app.screen, ".body-text")


async def test_the_receipt_at_the_refund_is_the_one_typed_before_enter(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        await press(pilot, "enter")  # the sale's preview closed
        await press(pilot, "f6")
        screen = app.screen
        assert isinstance(screen, RefundScreen)
        burst(pilot, "DEMO1-000001", "9")
        await until(pilot, lambda: screen.lines or text_in(screen, "#error"))
        assert text_in(screen, "#error") == ""
        assert [line.sku for line in screen.lines] == ["MASCARA"]


async def test_the_points_paid_are_the_ones_typed_before_enter(make_app, terminal):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        await press(pilot, "f5")
        screen = app.screen
        assert isinstance(screen, PointsScreen)
        burst(pilot, "300", "5")
        assert await said_or_closed(pilot, screen) == ""
        assert app.screen is app.checkout
        assert app.checkout.view.quote.points_redeemed == 300
