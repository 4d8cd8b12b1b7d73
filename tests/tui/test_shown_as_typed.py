"""What a cashier typed or scanned, a member's name, an item's name and a manager's reason are
shown as they are: square brackets in them are text, never the screen's markup ("[/]" stopped
the app with a markup error, "[b]" was dropped)."""

from __future__ import annotations

from loyalty_pos.tui.screens.points import PointsScreen
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import ANNA, BEN
from .pilot import fill, press, screen_lines, settle, text_in, type_text
from .test_manager import adjust_points_of, question

BRACKETS = "[b]x[/b] [/]"


def shown(app) -> str:
    return " ".join(" ".join(line.split()) for line in screen_lines(app))


async def test_a_code_typed_with_brackets_is_refused_as_typed_and_the_app_stays_up(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await type_text(pilot, "[/]")
        await pilot.pause()
        assert "Unknown code '[/]'" in shown(app)
        await type_text(pilot, "[b]MILK")
        await pilot.pause()
        assert "Unknown code '[b]MILK'" in shown(app)
        await fill(pilot, "MILK")  # the till goes on
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK"]


async def test_an_items_name_with_brackets_is_on_the_receipt_preview_as_it_is(make_app, terminal):
    with terminal.store.transaction() as conn:
        conn.execute("UPDATE catalog SET name = ? WHERE sku = 'MASCARA'", (f"Mascara {BRACKETS}",))
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await press(pilot, "f9")
        assert isinstance(app.screen, TextScreen)
        await pilot.pause()
        assert f"Mascara {BRACKETS}" in text_in(app.screen, ".body-text")


async def test_a_members_name_with_brackets_shows_as_it_is(make_app, terminal):
    with terminal.store.transaction() as conn:
        conn.execute("UPDATE members SET name = ? WHERE member_id = 'M0001'", (f"Anna {BRACKETS}",))
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "MILK")
        await fill(pilot, BEN)  # "Card ... was replaced on this basket by Ben Carter's card."
        await fill(pilot, ANNA)  # ... by Anna [b]x[/b] [/]'s card
        await pilot.pause()
        assert f"by Anna {BRACKETS}'s card" in shown(app)
        await press(pilot, "f5")
        assert isinstance(app.screen, PointsScreen)
        await pilot.pause()
        assert f"Anna {BRACKETS}" in text_in(app.screen, "#info")


async def test_a_reason_with_brackets_is_asked_about_as_typed(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await adjust_points_of(pilot)
        await fill(pilot, "500")
        await fill(pilot, f"goodwill {BRACKETS}")
        assert f"goodwill {BRACKETS}" in await question(pilot)


async def test_ctrl_c_says_in_plain_words_that_ctrl_q_quits(make_app):
    """Textual's own hint said "Press [b]ctrl+q[/b]" once toasts no longer read markup."""
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await press(pilot, "ctrl+c")
        await pilot.pause()
        assert "Ctrl+Q quits the app." in shown(app)
        assert "[b]" not in shown(app)
        assert app.return_code is None  # still open
