"""The checkout's function keys (F2 ... F10) pressed in a window: where nothing typed would be
lost the window closes and the key acts; where something was typed it stays, and a toast says
to finish or close the window first. Never a key that does nothing."""

from __future__ import annotations

from textual.widgets import Input

from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.help import HelpScreen
from loyalty_pos.tui.screens.refund import RefundScreen
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import BEN
from .pilot import fill, notes, press, settle, type_text, until
from .test_manager import open_menu


async def test_f9_in_an_empty_card_window_closes_it_and_completes_the_sale(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await press(pilot, "f2")
        assert isinstance(app.screen, FormScreen)
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Sale recorded" in app.screen.title_text
        assert not any(isinstance(s, FormScreen) for s in app.screen_stack)
    assert [e["type"] for e in terminal.store.events()] == ["checkout"]


async def test_a_function_key_in_a_form_with_typing_keeps_it_and_says_so(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await press(pilot, "f4")
        await type_text(pilot, "LC999", enter=False)
        form = app.screen
        await press(pilot, "f9")
        assert app.screen is form
        assert app.screen.query_one("#field-card", Input).value == "LC999"
        assert "F9 is not taken here" in notes(app)[-1]
        assert "close it (Esc)" in notes(app)[-1]
    assert list(terminal.store.events()) == []


async def test_a_function_key_at_the_help_closes_it_and_does_its_action(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f1")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "f2")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        assert app.screen.title_text == "Member card"
        assert not any(isinstance(s, HelpScreen) for s in app.screen_stack)
        await type_text(pilot, BEN)
        assert app.checkout.view.member.name == "Ben Carter"


async def test_the_refund_window_passes_a_key_on_when_empty_and_keeps_a_receipt_typed(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f6")
        await type_text(pilot, "DEMO1-0000", enter=False)
        await press(pilot, "f2")
        assert isinstance(app.screen, RefundScreen)
        assert "F2 is not taken here" in notes(app)[-1]
        await press(pilot, "escape")
        await press(pilot, "f6")
        assert isinstance(app.screen, RefundScreen)
        await press(pilot, "f2")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        assert not any(isinstance(s, RefundScreen) for s in app.screen_stack)


async def test_f9_in_an_empty_manager_form_closes_it_and_the_menu_and_completes_the_sale(
    make_app, terminal
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await open_menu(pilot)
        await press(pilot, "2")  # block a lost card: its card field empty
        assert isinstance(app.screen, FormScreen)
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Sale recorded" in app.screen.title_text
        assert len(app.screen_stack) == 2  # the checkout and the receipt preview
    assert [e["type"] for e in terminal.store.events()] == ["checkout"]


async def test_a_function_key_at_the_managers_question_is_a_no_and_acts(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await open_menu(pilot)
        await press(pilot, "1")
        await fill(pilot, BEN)
        await fill(pilot, "500")
        await fill(pilot, "goodwill")
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Sale recorded" in app.screen.title_text
        assert "Nothing was adjusted." in notes(app)
    assert [e["type"] for e in terminal.store.events()] == ["checkout"]
