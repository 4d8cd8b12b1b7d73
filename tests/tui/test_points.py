"""Paying with points (F5): the limit and why, the value as you type, and every refusal."""

from __future__ import annotations

import dataclasses

from textual.widgets import Input

from loyalty_pos.bootstrap import open_terminal
from loyalty_pos.checkout import adjust, enroll
from loyalty_pos.config import LedgerConfig
from loyalty_pos.domain.program import parse_program_text
from loyalty_pos.tui.screens.points import PointsScreen
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import ANNA, BEN, NOW, ROOT
from .pilot import fill, notes, press, scan, settle, text_in, until


def give_points(terminal, card: str, points: int) -> None:
    adjust(terminal, card, points, "test setup", "1234")


def text_of(screen, selector: str) -> str:
    return text_in(screen, selector)


async def basket(pilot, *codes: str, card: str | None = ANNA) -> None:
    await settle(pilot)
    if card:
        await fill(pilot, card)
    for code in codes:
        await fill(pilot, code)


async def open_points(pilot, points: str) -> PointsScreen:
    await press(pilot, "f5")
    screen = pilot.app.screen
    assert isinstance(screen, PointsScreen)
    screen.query_one("#points", Input).value = points
    await settle(pilot)
    return screen


async def test_the_points_window_shows_the_limit_its_reason_and_the_value_as_typed(
    make_app, terminal
):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", "3*COFFEE")  # 12.95 + 7.20 = 20.15
        screen = await open_points(pilot, "1250")
        info = text_in(screen, "Static")
        assert "1915 pts = 19.15 EUR" in info
        assert "at least 1.00 EUR must be paid in money" in info
        assert "1250 points pay 12.50 EUR; due after: 7.65 EUR" in text_of(screen, "#value")
        await press(pilot, "enter")
        assert app.screen is app.checkout
        quote = app.checkout.view.quote
        assert (quote.points_redeemed, str(quote.due)) == (1250, "7.65")


async def test_f5_twice_pays_the_most_allowed(make_app, terminal):
    give_points(terminal, ANNA, 500)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        await press(pilot, "f5", "f5")
        assert app.checkout.view.quote.points_redeemed == 500
        assert app.checkout.view.basket.redeem == "max"


async def test_f9_records_nothing_when_the_points_shown_are_no_longer_the_members(
    make_app, terminal
):
    """The balance changed behind the screen (a manager at another till): F9 would record
    another amount due than the customer was shown, so it records nothing, says what the sale
    is now and shows it; the next F9 records that."""
    give_points(terminal, ANNA, 2000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "2*ESPRESSO")  # 29.80
        await press(pilot, "f5", "f5")
        shown = app.checkout.view.quote
        assert (shown.points_redeemed, str(shown.due)) == (2000, "9.80")
        elsewhere = open_terminal(terminal.home)
        elsewhere.clock = terminal.clock
        adjust(elsewhere, ANNA, -1900, "taken back at the office", "1234")
        elsewhere.store.close()
        head = terminal.store.head()
        await press(pilot, "f9")
        await settle(pilot)
        assert terminal.store.head() == head  # nothing recorded
        assert "points changed since the amount was shown" in " ".join(notes(app))
        assert "due 28.80 EUR, 100 points paid" in " ".join(notes(app))
        now = app.checkout.view.quote
        assert (now.points_redeemed, str(now.due)) == (100, "28.80")
        assert app.checkout.view.member is not None and app.checkout.view.member.balance == 100
        await press(pilot, "f9")
        await settle(pilot)
        assert terminal.store.head()[0] == head[0] + 1
        sale = terminal.store.event_at(head[0] + 1)
        assert sale is not None and (sale["points_redeemed"], sale["due_minor"]) == (100, 2880)


async def test_points_without_a_member_card_are_refused(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", card=None)
        await press(pilot, "f5")
        assert app.screen is app.checkout
        assert "Points can only be paid with a member card" in notes(app)[-1]


async def test_more_points_than_the_balance_are_refused(make_app, terminal):
    give_points(terminal, ANNA, 500)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        screen = await open_points(pilot, "600")
        assert "600 points asked but the balance is 500" in text_of(screen, "#error")
        await press(pilot, "enter")
        assert isinstance(app.screen, PointsScreen)  # still open: nothing was kept
        assert app.checkout.view.quote.points_redeemed == 0


async def test_a_refusal_in_the_window_is_shown_there_once_not_also_as_a_toast(make_app, terminal):
    """QA: each key typed into F5 whose preview was refused also raised a toast (Textual ran
    the base window's handler after the points window's own), and at 80x24 the toasts covered
    the window's own error line. The refund window and the forms (F4, F7, F8) did the same."""
    give_points(terminal, ANNA, 500)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        before = len(notes(app))
        screen = await open_points(pilot, "9")
        for typed in ("99", "999"):
            screen.query_one("#points", Input).value = typed
            await settle(pilot)
        assert "999 points asked but the balance is 500" in text_of(screen, "#error")
        await press(pilot, "enter")
        assert isinstance(app.screen, PointsScreen)
        assert len(notes(app)) == before  # said in the window only
        await press(pilot, "escape")
        await press(pilot, "f7")  # a free amount with a category one letter off
        await fill(pilot, "4,99")
        await fill(pilot, "grocry")
        await settle(pilot)
        assert "did you mean" in text_in(app.screen, "Static")
        assert len(notes(app)) == before


async def test_a_card_scanned_while_the_points_window_is_open_is_not_taken(
    make_app, terminal, key_clock
):
    """QA: a card scanned over F5 switched the basket's member behind the window, which still
    showed the first member; F5 there then paid the new member's points."""
    give_points(terminal, ANNA, 5000)
    give_points(terminal, BEN, 250)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await basket(pilot, "MASCARA", "3*COFFEE")
        screen = await open_points(pilot, "")
        await scan(pilot, key_clock, BEN)
        assert app.screen is screen
        assert "not taken while paying with points: close this window (Esc)" in notes(app)[-1]
        await press(pilot, "f5")  # the most allowed, for the member the window shows
        assert app.screen is app.checkout
        view = app.checkout.view
        assert view.member is not None and view.member.card == ANNA
        assert view.quote.points_redeemed == 1915


async def test_points_never_leave_less_than_the_minimum_cash(make_app, terminal):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "COFFEE")  # 2.40
        screen = await open_points(pilot, "200")
        assert "At least 1.00 EUR must be paid in money" in text_of(screen, "#error")


async def test_points_are_capped_at_the_programs_share(make_app, terminal):
    text = (ROOT / "config" / "program.example.toml").read_text()
    text = text.replace('max_share = "1.0"', 'max_share = "0.5"').replace(
        "version = 1 ", "version = 2 "
    )
    with terminal.store.transaction():
        terminal.store.save_program(parse_program_text(text, "test"), NOW)
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")  # 12.95
        screen = await open_points(pilot, "700")
        assert "points may pay at most 50% of the total" in text_in(screen, "Static")
        assert "Points may pay at most 50% of the total" in text_of(screen, "#error")


async def test_offline_a_member_may_pay_only_the_daily_offline_cap(make_app, terminal):
    give_points(terminal, ANNA, 8000)
    terminal.config = dataclasses.replace(
        terminal.config, ledger=LedgerConfig(url="http://127.0.0.1:9")
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "4*ESPRESSO", "4*MASCARA")
        screen = await open_points(pilot, "6000")
        assert "the terminal is offline" in text_in(screen, "Static")
        assert "Offline, this member can pay at most 5000 more points today" in text_of(
            screen, "#error"
        )
        assert "OFFLINE" in text_in(app.checkout.status_bar)


async def test_a_card_enrolled_offline_cannot_pay_yet(make_app, terminal):
    terminal.config = dataclasses.replace(
        terminal.config, ledger=LedgerConfig(url="http://127.0.0.1:9")
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        for value in ("LC99990003", "Zoe Quinn", "", "+32 470 00 00 00"):
            await fill(pilot, value)
        assert app.checkout.view.member.status == "provisional"
        await fill(pilot, "MASCARA")
        screen = await open_points(pilot, "100")
        assert "can pay once a sync has taken it to the ledger" in text_of(screen, "#error")


async def test_a_frozen_member_is_refused_and_the_basket_stays(make_app, terminal):
    terminal.store.conn.execute("UPDATE members SET status = 'frozen' WHERE member_id = 'M0001'")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", card=None)
        await fill(pilot, ANNA)
        assert "This member is frozen" in notes(app)[-1]
        assert app.checkout.view.member is None
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MASCARA"]


async def test_removing_a_line_drops_a_points_payment_that_no_longer_fits(make_app, terminal):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "COFFEE", "MASCARA")
        await open_points(pilot, "1000")
        await press(pilot, "enter")
        await press(pilot, "delete")  # the mascara: 2.40 left cannot carry 10.00 in points
        assert app.checkout.view.quote.points_redeemed == 0
        assert "The points payment was removed" in notes(app)[-1]


async def test_a_decimal_point_in_the_points_field_is_refused_not_dropped(make_app, terminal):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", "3*COFFEE")
        await press(pilot, "f5")
        await press(pilot, "1", "2", ".", "5")  # typed as a person would: 12.5 is not 125
        screen = app.screen
        assert isinstance(screen, PointsScreen)
        assert screen.query_one("#points", Input).value == "12.5"
        assert "Points are a whole number: 12.5 is not one." in text_of(screen, "#error")
        await press(pilot, "enter")
        assert app.screen is screen  # nothing paid
        assert app.checkout.view.quote.points_redeemed == 0


async def test_a_minus_sign_in_the_points_field_shows_and_is_refused_not_dropped(
    make_app, terminal
):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", "3*COFFEE")
        await press(pilot, "f5")
        await press(pilot, "minus", "2", "0", "0")
        screen = app.screen
        assert isinstance(screen, PointsScreen)
        assert screen.query_one("#points", Input).value == "-200"
        assert "Points paid cannot be negative (-200)" in text_of(screen, "#error")
        await press(pilot, "enter")
        assert app.screen is screen  # nothing paid
        assert app.checkout.view.quote.points_redeemed == 0


async def test_letters_and_spaces_in_the_points_field_show_and_are_refused(make_app, terminal):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", "3*COFFEE")
        await press(pilot, "f5")
        await press(pilot, "1", "e", "3", "x", "space", "4")
        screen = app.screen
        assert isinstance(screen, PointsScreen)
        assert screen.query_one("#points", Input).value == "1e3x 4"
        assert "Points are a whole number: 1e3x 4 is not one." in text_of(screen, "#error")
        await press(pilot, "enter")
        assert app.screen is screen
        assert app.checkout.view.quote.points_redeemed == 0


async def test_most_allowed_that_is_none_shows_none_payable_not_points_0(make_app, terminal):
    """QA: F5 F5 for a member with a negative balance put "Points (0) -0.00" in the totals."""
    from textual.geometry import Region

    from loyalty_pos.tui.widgets.totals_panel import TotalsPanel

    give_points(terminal, ANNA, -100)  # a debt: nothing can be paid with points
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        await press(pilot, "f5", "f5")
        await settle(pilot)
        assert app.checkout.view.basket.redeem == "max"
        panel = app.checkout.query_one(TotalsPanel)
        strips = panel.render_lines(Region(0, 0, *panel.outer_size))
        shown = " ".join(" ".join(strip.text.split()) for strip in strips)
        assert "Points none payable" in shown and "Points (0)" not in shown


async def test_f9_in_the_points_window_pays_the_points_typed_and_completes_the_sale(
    make_app, terminal
):
    """QA: F9 pressed in the points window was lost. The cashier typed the points the customer
    asked for and pressed F9: the points are paid, as Enter pays them, and the sale is done."""
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        await open_points(pilot, "300")
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Sale recorded" in app.screen.title_text
        assert app.checkout.view.basket.is_empty
    sale = terminal.store.event_by_receipt("DEMO1-000002")  # 000001 is the points given
    assert sale["points_redeemed"] == 300


async def test_f9_in_the_points_window_records_nothing_while_the_points_are_refused(
    make_app, terminal
):
    give_points(terminal, ANNA, 200)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        screen = await open_points(pilot, "2.5")  # not a number of points: shown, and no sale
        await press(pilot, "f9")
        assert app.screen is screen
        screen.query_one("#points", Input).value = "900"  # more than the balance
        await settle(pilot)
        await press(pilot, "f9")
        assert app.screen is screen
        assert "200" in text_of(screen, "#error")
        await press(pilot, "escape")
        await press(pilot, "f9")  # the basket's own F9, later: no points paid
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
    assert [e["type"] for e in terminal.store.events()] == ["adjust", "checkout"]
    assert terminal.store.event_by_receipt("DEMO1-000002")["points_redeemed"] == 0


async def test_the_checkouts_other_keys_in_the_points_window_say_why_they_do_nothing(
    make_app, terminal
):
    give_points(terminal, ANNA, 5000)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA")
        screen = await open_points(pilot, "")
        await press(pilot, "f3")
        assert app.screen is screen
        assert "F3 is not taken while paying with points" in notes(app)[-1]
        assert app.checkout.view.member is not None


async def test_the_points_window_names_a_member_enrolled_without_a_name_as_the_panel_does(
    make_app, terminal
):
    """A card enrolled alone (no name): F5's Member line was blank, or " (FROZEN)"."""
    enroll(terminal, "LC99990009")
    give_points(terminal, "LC99990009", 500)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await basket(pilot, "MASCARA", card="LC99990009")
        screen = await open_points(pilot, "")
        assert "Member (no name) Balance 500 pts" in text_in(screen, "Static")
