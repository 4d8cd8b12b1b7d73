"""The checkout's function keys (F2 ... F10) pressed in a window: where nothing typed would be
lost the window closes and the key acts; where something was typed it stays, and a toast says
to finish or close the window first. Never a key that does nothing."""

from __future__ import annotations

from textual.widgets import Input

from loyalty_pos.checkout import adjust
from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.help import HelpScreen
from loyalty_pos.tui.screens.points import PointsScreen
from loyalty_pos.tui.screens.refund import RefundScreen
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import ANNA, BEN
from .pilot import fill, manager_view, notes, open_menu, press, settle, text_in, type_text, until


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
        await manager_view(pilot, "1", BEN)
        await fill(pilot, "500")
        await fill(pilot, "goodwill")
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Sale recorded" in app.screen.title_text
        assert "Nothing was adjusted." in notes(app)
    assert [e["type"] for e in terminal.store.events()] == ["checkout"]


async def test_f1_and_f12_act_over_a_window_holding_what_was_typed(make_app, terminal):
    """F1 and F12 are the app's, for any window (as the README's keys table says): in a form, the
    refund or the points window, whose field has the cursor, they did nothing. The help opens over
    the window, and Esc goes back to it with what was typed."""
    adjust(terminal, ANNA, 500, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "MASCARA")
        for key, typed, field in (
            ("f4", "LC999", "#field-card"),
            ("f6", "DEMO1-0000", "#receipt"),
            ("f5", "200", "#points"),
            ("f8", "12", "#field-pin"),
        ):
            await press(pilot, key)
            window = app.screen
            if key == "f5":
                window.query_one(field, Input).value = ""
            await type_text(pilot, typed, enter=False)
            await press(pilot, "f1")
            assert isinstance(app.screen, HelpScreen), key
            await press(pilot, "escape")
            assert app.screen is window, key
            assert window.query_one(field, Input).value == typed, key
            await press(pilot, "f12")
            assert notes(app)[-1].startswith("No ledger configured"), key
            assert app.screen is window, key
            await press(pilot, "escape")
            assert app.screen is app.checkout, key
    assert [e["type"] for e in terminal.store.events()] == ["adjust"]


async def test_the_demos_tap_and_scan_reach_a_window(make_app):
    """`loyalty-pos demo`'s Ctrl+T (a card tapped on the simulated reader) and Ctrl+G (a code
    scanned) did nothing in a window: F4's card field never got the tapped card, and the points
    window never said that a scan is not taken there."""
    app = make_app(simulate=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        form = app.screen
        await press(pilot, "ctrl+t")
        await until(pilot, lambda: form.query_one("#field-card", Input).value == ANNA)
        await until(pilot, lambda: "already belongs" in text_in(form, "#error"))
        await press(pilot, "escape")
        await press(pilot, "ctrl+t", "ctrl+g")
        await until(pilot, lambda: app.checkout.view.basket.lines)
        await press(pilot, "f5")
        points = app.screen
        assert isinstance(points, PointsScreen)
        await press(pilot, "ctrl+g")
        assert "A scan is not taken while paying with points" in notes(app)[-1]
        assert len(app.checkout.view.basket.lines) == 1
