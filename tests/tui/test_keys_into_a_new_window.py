"""Keys typed right behind a key that opens a window go to that window's field, and keys typed
right behind a form field's Enter go to the field it moves on to.

Textual hands a key to the focused widget as it arrives and runs a key's binding only once the
key has come back up to the app: keys sent in one burst right after F8 were in the item field
before the PIN window was there, and their Enter looked the manager PIN up as an item ("Unknown
code '1234'", the PIN on screen). In a form, "4.99⏎gro" left "4.99gro" in the amount field."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from loyalty_pos.checkout import new_card_problem
from loyalty_pos.tui.screens import checkout as checkout_screen
from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.manager import ManagerScreen
from loyalty_pos.tui.screens.points import PointsScreen
from loyalty_pos.tui.screens.refund import RefundScreen

from .conftest import ANNA
from .pilot import SCANNER_GAP_S, fill, notes, press, press_at_once, settle, until


async def test_a_pin_typed_right_behind_f8_opens_the_manager_menu_and_is_never_shown(
    make_app, terminal
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        press_at_once(pilot, "f8", "1234", "enter")
        await until(pilot, lambda: isinstance(app.screen, ManagerScreen))
        assert app.checkout.item_field.value == ""
        assert not any("1234" in said for said in notes(app))
    assert terminal.store.meta("pin_failures", "0") in ("0", None)


async def test_a_pin_sent_at_scanner_speed_behind_f8_is_the_pin(make_app, key_clock):
    """A keyboard wedge or a macro key sends F8 and the PIN in a few milliseconds."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        key_clock.gap = SCANNER_GAP_S
        press_at_once(pilot, "f8", "1234", "enter")
        await until(pilot, lambda: isinstance(app.screen, ManagerScreen))
        assert app.checkout.item_field.value == ""
        assert not any("1234" in said for said in notes(app))


@pytest.mark.parametrize(
    ("key", "window", "field"),
    [
        ("f8", FormScreen, "#field-pin"),
        ("f2", FormScreen, "#field-card"),
        ("f4", FormScreen, "#field-card"),
        ("f7", FormScreen, "#field-amount"),
        ("f6", RefundScreen, "#receipt"),
        ("f5", PointsScreen, "#points"),
    ],
    ids=["manager", "card", "enrol", "open-line", "refund", "points"],
)
async def test_keys_right_behind_a_window_key_go_to_the_windows_field(make_app, key, window, field):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if key == "f5":
            await fill(pilot, ANNA)  # points are paid with a member card
        press_at_once(pilot, key, "1234")
        await until(pilot, lambda: isinstance(app.screen, window))
        await settle(pilot)
        assert app.screen.query_one(field, Input).value == "1234"
        assert app.focused is app.screen.query_one(field, Input)
        assert app.checkout.item_field.value == ""


async def test_keys_behind_a_window_key_at_another_window_go_to_the_new_windows_field(make_app):
    """F8 at the help closes it and opens the PIN window: the PIN behind it goes there too."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        press_at_once(pilot, "f1", "f8", "1234")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await settle(pilot)
        assert app.screen.query_one("#field-pin", Input).value == "1234"
        assert app.checkout.item_field.value == ""


async def test_keys_right_behind_a_fields_enter_go_to_the_next_field(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "f7")
        form = app.screen
        assert isinstance(form, FormScreen)
        press_at_once(pilot, "4.99", "enter", "gro")
        await settle(pilot)
        assert form.query_one("#field-amount", Input).value == "4.99"
        assert form.query_one("#field-category", Input).value == "gro"
        press_at_once(pilot, "cery", "enter")
        await until(pilot, lambda: app.screen is app.checkout)
        await until(pilot, lambda: app.checkout.view.basket.lines)
        line = app.checkout.view.basket.lines[0]
        assert (line.sku, str(line.unit_price)) == ("OPEN:grocery", "4.99")


async def test_keys_behind_a_cards_enter_wait_for_its_lookup_and_go_to_the_name(
    make_app, terminal, monkeypatch
):
    """F4's card is looked up in the cache at its Enter (here a slow one); the name typed right
    behind it goes to the name field once the card is found free."""

    def slow_lookup(terminal, card):
        time.sleep(0.2)
        return new_card_problem(terminal, card)

    monkeypatch.setattr(checkout_screen, "new_card_problem", slow_lookup)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        press_at_once(pilot, "f4", "LC99990001", "enter", "Zoe", "enter", "enter", "enter")
        await until(pilot, lambda: app.checkout.view.member is not None)
        assert app.checkout.view.member.name == "Zoe"
    enrolled = [e for e in terminal.store.events() if e["type"] == "enroll"]
    assert [(e["card"], e["name"]) for e in enrolled] == [("LC99990001", "Zoe")]
