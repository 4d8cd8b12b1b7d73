"""The manager menu (F8): the PIN and its lockout, points adjustments, lost cards, reprints and the
end-of-day summary."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from loyalty_pos.checkout import block_card
from loyalty_pos.tui.messages import CodeScanned
from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.manager import ManagerScreen
from loyalty_pos.tui.screens.text import ConfirmScreen, TextScreen

from .conftest import ANNA, BEN, COFFEE_EAN
from .pilot import (
    fill,
    form_field,
    manager_view,
    notes,
    open_menu,
    press,
    scan,
    send_keys,
    settle,
    text_in,
    type_text,
    until,
)


async def sell_then_open_menu(pilot, code: str = "MASCARA") -> None:
    """Sell ``code``, wait for the sale's preview, close it, then open the manager menu."""
    await fill(pilot, code)
    await press(pilot, "f9")  # the sale recorded and its preview up, then
    await press(pilot, "enter")
    await open_menu(pilot)


async def question(pilot) -> str:
    """The manager's Y/N question, once it is on screen: its text."""
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
    return text_in(pilot.app.screen, "Static")


async def adjust_points_of(pilot, card: str = BEN) -> None:
    """From the checkout: the manager menu, its adjustment, ``card`` typed in; at the points."""
    await manager_view(pilot, "1", card)


async def ask_to_adjust(pilot, card: str = BEN, points: str = "500") -> str:
    """From the checkout: the manager menu, an adjustment of ``points`` to ``card`` ("goodwill"),
    up to its Y/N question; the question's text."""
    await adjust_points_of(pilot, card)
    await fill(pilot, points)
    await fill(pilot, "goodwill")
    return await question(pilot)


async def test_five_wrong_pins_lock_manager_actions_for_15_minutes(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f8")
        for tries_left in (4, 3, 2, 1):
            await fill(pilot, "0000")
            tries = "try" if tries_left == 1 else "tries"
            assert f"Wrong manager PIN. {tries_left} {tries} left." in text_in(app.screen, "#error")
        await fill(pilot, "0000")
        assert "locked for 15 minutes" in text_in(app.screen, "#error")
        await fill(pilot, "1234")  # even the right PIN is refused now
        assert "locked after 5 wrong PINs until 14:15" in text_in(app.screen, "#error")
        assert isinstance(app.screen, FormScreen)


async def test_an_empty_pin_is_asked_for_again_and_uses_up_no_try(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f8")
        await fill(pilot, "")
        assert "Type the manager PIN." in text_in(app.screen, "#error")
        assert isinstance(app.screen, FormScreen)
    assert terminal.store.meta("pin_failures", "0") in ("0", None)


async def test_the_right_pin_opens_the_manager_menu(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        assert isinstance(app.screen, ManagerScreen)
        await press(pilot, "escape")
        assert app.screen is app.checkout


async def test_a_scan_while_the_menu_is_open_is_a_scan_and_chooses_nothing(make_app, key_clock):
    """QA F5: the keys of a scanner's burst ran the menu's 1-6 (a German EAN opened Member
    status, a code with 5s printed copies, a card with a 2 opened "Block a lost card" for it).
    A burst is a scan as in any window; a digit typed by a person still chooses."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        menu = app.screen
        await scan(pilot, key_clock, COFFEE_EAN)  # 4000010000003: 4 is Member status
        await scan(pilot, key_clock, ANNA)  # 04A1B2C3D4E500: 4, 1, 2, 3 and 5
        await scan(pilot, key_clock, "5000000000005")  # 5 is reprint: twice
        assert app.screen is app.checkout  # the first scan closed the menu
        assert menu not in app.screen_stack
        assert app.checkout.view.member.name == "Anna Schmidt"
        assert [line.sku for line in app.checkout.view.basket.lines] == ["COFFEE"]
        assert "Unknown code '5000000000005'" in notes(app)[-1]
        assert not any("No receipt has been made" in note for note in notes(app))
        assert app.checkout.item_field.value == ""
        await manager_view(pilot, "4")
        assert isinstance(app.screen, FormScreen)
        assert app.screen.title_text == "Member status"


async def test_an_adjustment_not_confirmed_records_nothing(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await adjust_points_of(pilot)
        await fill(pilot, "-200")
        await fill(pilot, "test")
        assert "Balance 0 now, -200 after." in await question(pilot)
        await press(pilot, "n")
        assert "Nothing was adjusted." in notes(app)[-1]
    assert list(terminal.store.events()) == []


async def test_a_manager_adjusts_points_with_a_reason(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await manager_view(pilot, "1")
        form = app.screen
        assert form.query_one("#field-card", Input).value == ANNA  # the basket's card
        assert app.focused is form.query_one("#field-points", Input)
        await fill(pilot, "250")
        await fill(pilot, "goodwill: broken bag")
        # Who and what, before anything is recorded: the name, the balance before and after.
        asked = await question(pilot)
        assert "Anna Schmidt (M0001" in asked and "+250 points" in asked
        assert "Balance 0 now, 250 after." in asked
        assert list(terminal.store.events()) == []
        await press(pilot, "y")
        await until(
            pilot, lambda: "Anna Schmidt: +250 points; the balance is now 250." in notes(app)
        )
        assert app.screen is app.checkout  # the menu closed with the adjustment
        assert app.checkout.view.member.balance == 250
    event = list(terminal.store.events())[-1]
    assert (event["type"], event["points"], event["reason"]) == (
        "adjust",
        250,
        "goodwill: broken bag",
    )


async def test_a_lost_card_is_blocked_and_a_new_card_linked_to_the_member(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await open_menu(pilot)
        # QA: the lost card was taken from the basket and the form began at "New card": a
        # card scanned at the till is in the customer's hand. Both are typed, lost card first.
        await press(pilot, "3")
        await fill(pilot, ANNA)
        await fill(pilot, "LC00777001")
        # Whose card, before anything is recorded.
        asked = await question(pilot)
        assert "Anna Schmidt (M0001" in asked and "link the new card" in asked
        assert terminal.store.card("LC00777001") is None
        await press(pilot, "y")
        await until(pilot, lambda: "New card" in notes(app)[-1])
        assert "is blocked" in notes(app)[-1]
        assert app.screen is app.checkout
        view = app.checkout.view
        assert view.basket.card == "LC00777001" and view.member.member_id == "M0001"
        await fill(pilot, ANNA)  # the old card no longer works
        assert "blocked" in notes(app)[-1]
    assert terminal.store.card(ANNA)["card_status"] == "blocked"
    assert terminal.store.card("LC00777001")["member_id"] == "M0001"


async def test_a_new_card_that_belongs_to_a_member_is_refused_before_the_question(
    make_app, terminal
):
    """QA: the new card was checked only after Y; a card of another member was refused then,
    and one not yet checked would have been linked with the wrong card blocked."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "3", ANNA)
        await fill(pilot, BEN)
        await settle(pilot)
        said = text_in(app.screen, "Static")
        assert "already belongs to Ben Carter" in said and "Nothing was blocked" in said
        assert not isinstance(app.screen, ConfirmScreen)
    assert terminal.store.card(ANNA)["card_status"] == "active"


async def test_a_lost_card_reported_and_blocked_before_is_replaced_later_in_the_app(
    make_app, terminal
):
    """QA: a customer who reported the loss first (the card blocked, F8 2) came back for a new
    card, and F8 3 refused the blocked card: the points were out of reach at the till."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "2", ANNA)
        await question(pilot)
        await press(pilot, "y")
        await until(pilot, lambda: "is blocked" in (notes(app) or [""])[-1])
        assert terminal.store.card(ANNA)["card_status"] == "blocked"
        await manager_view(pilot, "3", ANNA)  # days later, the customer is back
        await fill(pilot, "LC00777002")
        asked = await question(pilot)
        assert "Anna Schmidt (M0001" in asked and "blocked already" in asked
        assert "link the new card" in asked
        assert terminal.store.card("LC00777002") is None  # nothing before Y
        await press(pilot, "y")
        await until(pilot, lambda: "New card" in notes(app)[-1])
    assert terminal.store.card("LC00777002")["member_id"] == "M0001"
    assert terminal.store.card(ANNA)["card_status"] == "blocked"


async def test_a_card_to_block_shows_its_member_first_and_n_blocks_nothing(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "2", BEN)
        assert "Ben Carter (M0002" in await question(pilot)
        await press(pilot, "n")
        assert "No card was blocked." in notes(app)[-1]
        assert terminal.store.card(BEN)["card_status"] == "active"
        assert app.screen is app.checkout  # N ends the action too
        await manager_view(pilot, "2", BEN)
        await question(pilot)
        await press(pilot, "y")
        await until(pilot, lambda: "is blocked" in notes(app)[-1])
    assert terminal.store.card(BEN)["card_status"] == "blocked"
    assert [e["type"] for e in terminal.store.events()] == ["card_block"]


async def test_block_a_lost_card_does_not_propose_the_card_on_the_basket(make_app, terminal):
    """QA: F8 2 began with the basket's card filled in: that card is in the customer's hand,
    and two Enters blocked it."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await until(pilot, lambda: app.checkout.view.member is not None)
        await manager_view(pilot, "2")
        assert isinstance(app.screen, FormScreen)
        assert app.screen.query_one("#field-card", Input).value == ""
        await press(pilot, "enter", "enter")
        assert not isinstance(app.screen, ConfirmScreen)
    assert terminal.store.card(ANNA)["card_status"] == "active"


async def test_blocking_a_card_blocked_already_tells_the_manager_what_to_do_instead(
    make_app, terminal
):
    """QA: F8 2 on a card blocked before said the cashier's "ask for the new card"."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "2", BEN)
        await question(pilot)
        await press(pilot, "y")
        await until(pilot, lambda: "is blocked" in notes(app)[-1])
        await manager_view(pilot, "2", BEN)
        await settle(pilot)
        said = text_in(app.screen, "Static")
        assert "blocked already (reported lost): nothing to block" in said
        assert "3 Replace a lost card" in said and "ask for the new card" not in said
        assert not isinstance(app.screen, ConfirmScreen)
    assert [e["type"] for e in terminal.store.events()] == ["card_block"]


async def test_an_adjustment_says_at_its_card_in_a_managers_words_a_card_unknown_or_blocked(
    make_app, terminal
):
    """QA: F8 1 took an unknown or a blocked card, then the points and the reason, and only then
    said the cashier's "enrol it, or sell without a card" or "ask for the new card", the cursor
    on the reason. It is said at the card's Enter, the cursor kept there, in the manager's
    words: check the number; a lost card's member is adjusted on the new card."""
    block_card(terminal, BEN, "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        form, card = await form_field(pilot, "1", "card")  # the adjustment's card
        await fill(pilot, "LC99999998")
        said = text_in(form, "#error")
        assert "Card ******9998 is not known here: check the number" in said
        assert "enrol" not in said and "sell without" not in said
        assert app.focused is card
        card.value = BEN
        await type_text(pilot, "")
        said = text_in(form, "#error")
        assert "Card ******0037 is blocked (reported lost)" in said
        assert "new card" in said and "3 Replace a lost card" in said
        assert "ask for the new card" not in said
        assert app.focused is card
        card.value = ANNA
        await type_text(pilot, "")
        assert app.focused is form.query_one("#field-points", Input)
        assert text_in(form, "#error") == ""
    assert [e["type"] for e in terminal.store.events()] == ["card_block"]


async def test_manager_actions_say_a_card_not_known_in_a_managers_words(make_app, terminal):
    """Block a lost card, replace one, member status: a card not known here is "check the
    number", not the cashier's "enrol it, or sell without a card"."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for choice in ("2", "3", "4"):
            await manager_view(pilot, choice, "LC99999998")
            said = text_in(app.screen, "#error")
            assert "Card ******9998 is not known here: check the number" in said, choice
            assert "enrol" not in said and "sell without" not in said
            assert isinstance(app.screen, FormScreen)
            await press(pilot, "escape", "escape")
            assert app.screen is app.checkout
    assert list(terminal.store.events()) == []


async def test_the_member_status_of_a_blocked_card_shows_the_member_and_the_card_blocked(
    make_app, terminal
):
    """QA: F8 4 on a lost card said the cashier's "ask for the new card" and showed nothing:
    the manager looking up a member by it sees them, and that this card is blocked."""
    block_card(terminal, BEN, "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "4", BEN)
        assert isinstance(app.screen, TextScreen)
        body = text_in(app.screen, ".body-text")
        assert "Ben Carter (M0002)" in body
        assert "******0037 blocked (reported lost)" in body
        assert "Status active" in body


async def test_the_member_status_is_shown_read_only(make_app, terminal):
    terminal.store.conn.execute("UPDATE members SET status = 'frozen' WHERE member_id = 'M0001'")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "4", ANNA)
        assert isinstance(app.screen, TextScreen)
        assert "Status frozen" in text_in(app.screen, ".body-text")
        assert "done at the central office" in text_in(app.screen, ".summary")


async def test_reprint_shows_the_last_receipt_again(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sell_then_open_menu(pilot)
        await press(pilot, "5")
        await until(
            pilot, lambda: isinstance(app.screen, TextScreen)
        )  # a job on the service thread
        assert "DEMO1-000001" in text_in(app.screen, ".body-text")


async def test_end_of_day_summary_counts_todays_sales(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await sell_then_open_menu(pilot)
        await press(pilot, "6")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        text = text_in(app.screen, ".body-text")
        assert "Checkouts 1" in text and "with a loyalty card 1" in text


async def test_an_adjustment_it_would_refuse_after_y_is_refused_before_the_question(
    make_app, terminal
):
    """QA: a reason of thousands of characters, or more points than an adjustment moves, was
    asked about (the reason whole, over the screen) and refused only after Y."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await adjust_points_of(pilot)
        form = app.screen
        for points, reason, said in (
            ("500", "why " * 200, "The reason is 799 characters long (at most 500)."),
            (
                "9999999999999",
                "goodwill",
                "An adjustment moves at most 1,000,000,000,000 points (asked 9,999,999,999,999).",
            ),
        ):
            form.query_one("#field-points", Input).value = points
            form.query_one("#field-reason", Input).value = reason
            form.query_one("#field-reason", Input).focus()
            await press(pilot, "enter")
            assert app.screen is form
            assert text_in(form, "#error") == said
    assert list(terminal.store.events()) == []


async def test_an_adjustment_typed_with_letters_shows_them_and_is_refused(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await adjust_points_of(pilot)
        form = app.screen
        await press(pilot, "minus", "2", "e", "2")
        assert form.query_one("#field-points", Input).value == "-2e2"
        await press(pilot, "enter")  # said at once: the reason is not asked for
        assert app.screen is form
        assert "Points must be a whole number, e.g. 500 or -200: -2e2 is not one." in text_in(
            form, "#error"
        )
        assert app.focused is form.query_one("#field-points", Input)
    assert list(terminal.store.events()) == []


async def test_an_adjustment_without_points_asks_for_them_at_the_points_field(make_app, terminal):
    """QA: Enter on an empty points field went on to the reason, where the number typed next
    landed, and the form then said 'Points must be a whole number ...:  is not one.'"""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await adjust_points_of(pilot)
        form = app.screen
        await press(pilot, "enter")
        assert "Type the points: a whole number, e.g. 500 or -200." in text_in(form, "#error")
        assert app.focused is form.query_one("#field-points", Input)
        await fill(pilot, "0")
        assert "An adjustment of 0 points changes nothing." in text_in(form, "#error")
    assert list(terminal.store.events()) == []


async def test_a_reason_typed_in_a_quick_burst_stays_in_its_field(make_app, terminal, key_clock):
    """A fast typist (or a paste) in a field where no code is expected is not a scanner: the
    reason is not sent to the basket as an unknown code."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await adjust_points_of(pilot)
        await fill(pilot, "500")
        await scan(pilot, key_clock, "welcome gift")  # keys 4 ms apart, then Enter
        assert "+500 points, for “welcome gift”" in await question(pilot)
        assert not any("Unknown code" in n for n in notes(app))


async def test_f8_in_the_manager_menu_closes_it(make_app):
    """QA: back in the menu from the end-of-day summary, a manager pressed F8 to open it and
    typed the PIN: its first digit opened "Adjust points"."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        assert isinstance(app.screen, ManagerScreen)
        await press(pilot, "f8")
        assert app.screen is app.checkout
        await open_menu(pilot)  # and it opens again, asking the PIN, as before
        assert isinstance(app.screen, ManagerScreen)


async def test_closing_the_summary_returns_to_the_checkout_and_the_next_code_is_sold(
    make_app, terminal
):
    """QA: F8 6 then Esc left the menu open; the cashier's next code went into it, and its
    Enter opened "Adjust points" with the code in it."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await manager_view(pilot, "6")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await press(pilot, "escape")
        assert app.screen is app.checkout
        assert not any(isinstance(s, ManagerScreen) for s in app.screen_stack)
        await type_text(pilot, "MILK")
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK"]
    assert list(terminal.store.events()) == []


async def test_every_manager_action_ends_at_the_checkout(make_app, terminal):
    """The member status, a reprint and an adjustment done: Esc on the result (or the toast
    alone) leaves the cashier at the checkout. Esc in an action's form, before anything is
    done, goes back to the menu."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await sell_then_open_menu(pilot)
        await press(pilot, "4")
        await fill(pilot, ANNA)
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await press(pilot, "escape")
        assert app.screen is app.checkout
        await manager_view(pilot, "5")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await press(pilot, "escape")
        assert app.screen is app.checkout
        await manager_view(pilot, "1")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await press(pilot, "escape")  # the form, nothing done: back to the menu
        await until(pilot, lambda: isinstance(app.screen, ManagerScreen))
        await press(pilot, "1")
        await fill(pilot, BEN)
        await fill(pilot, "100")
        await fill(pilot, "goodwill")
        await question(pilot)
        await press(pilot, "y")
        await until(pilot, lambda: "the balance is now 100" in notes(app)[-1])
        assert app.screen is app.checkout
    assert [e["type"] for e in terminal.store.events()] == ["checkout", "adjust"]


async def test_a_code_typed_at_the_menu_closes_it_and_goes_to_the_basket(make_app, terminal):
    """Letters never choose: the cashier typing an item at a menu left open gets the item,
    and its Enter opens nothing."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        await type_text(pilot, "MILK")
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK"]
        assert app.checkout.item_field.value == ""
    assert list(terminal.store.events()) == []


async def test_a_slow_wedge_scanners_code_at_the_menu_goes_to_the_basket_and_chooses_nothing(
    make_app, terminal, key_clock
):
    """QA: a scanner set to send its characters 60 ms apart (slower than `max_gap_ms`, far
    faster than a person) had its code's digits taken as the menu's choices: 4 opened Member
    status, and the rest of the code went into its card field. A code, Enter and all, arriving
    faster than a person presses keys is a code: the menu closes and it goes to the basket."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        await scan(pilot, key_clock, COFFEE_EAN, gap_s=0.06)
        await until(pilot, lambda: app.checkout.view.basket.lines)
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["COFFEE"]
        assert app.checkout.item_field.value == ""
        await open_menu(pilot)  # a digit a person presses still chooses
        await press(pilot, "6")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
    assert list(terminal.store.events()) == []


async def test_a_serial_scanners_code_at_the_menu_goes_to_the_basket(make_app, terminal):
    """A serial scanner hands over a whole code: it closes the menu and is sold."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        app.post_message(CodeScanned(COFFEE_EAN, "serial", device="/dev/ttyACM0"))
        await until(pilot, lambda: app.checkout.view.basket.lines)
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["COFFEE"]
    assert list(terminal.store.events()) == []


async def test_f9_at_the_menu_closes_it_and_completes_the_sale(make_app, terminal):
    """QA: F9 pressed at a menu opened in the middle of a sale did nothing; like a code typed
    there, the till's key closes the menu and acts. F8 still closes the menu only."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await open_menu(pilot)
        await press(pilot, "f8")
        assert app.screen is app.checkout
        await open_menu(pilot)
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "Sale recorded" in app.screen.title_text
    assert [e["type"] for e in terminal.store.events()] == ["checkout"]


async def test_a_code_typed_at_the_managers_question_answers_no_and_goes_to_the_basket(
    make_app, terminal, key_clock
):
    """QA: the question's Enter is a yes, and the Enter that ends a code typed there (or
    scanned by a scanner slower than `max_gap_ms`) adjusted the points unseen. As at the void
    question, a code typed on is a no, and it goes to the basket."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await ask_to_adjust(pilot)
        await type_text(pilot, "MILK")
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK"]
        assert "Nothing was adjusted." in notes(app)
        assert app.checkout.item_field.value == ""
        await ask_to_adjust(pilot)  # a scan at the question: the same
        await scan(pilot, key_clock, COFFEE_EAN)
        await until(pilot, lambda: len(app.checkout.view.basket.lines) == 2)
        assert app.screen is app.checkout
        assert app.checkout.item_field.value == ""
    assert list(terminal.store.events()) == []


@pytest.mark.parametrize("key", ["y", "Y"])
async def test_y_typed_at_the_managers_question_still_does_it(make_app, terminal, key):
    """A person's Y, either case, is the question's yes (a scan's leading Y is not: below)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await ask_to_adjust(pilot)
        await press(pilot, key)
        await until(pilot, lambda: "the balance is now 500" in notes(app)[-1])
    assert [e["type"] for e in terminal.store.events()] == ["adjust"]


async def test_a_scanner_that_stalls_mid_code_at_the_menu_sends_the_whole_code(
    make_app, terminal, key_clock
):
    """Its first digits slow, the rest a fast burst: the burst alone would be the code's tail
    (an unknown code), and the digits before it were dropped."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        gaps = [0.06] * 4 + [0.004] * (len(COFFEE_EAN) - 4 + 1)  # the code, then its Enter
        times = iter(key_clock.now + 1.0 + sum(gaps[: n + 1]) for n in range(len(gaps)))
        app.key_clock = lambda event: next(times)
        send_keys(pilot, COFFEE_EAN, enter=True)
        await until(pilot, lambda: app.checkout.view.basket.lines)
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["COFFEE"]
    assert list(terminal.store.events()) == []


async def test_a_code_beginning_with_y_scanned_at_the_managers_question_is_a_no(
    make_app, terminal, key_clock
):
    """A code's leading Y is not the question's yes: held back as the first key of a burst, it
    goes with the code, which is a no and goes to the basket, whichever the Y's case."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for code in ("y1234567", "Y7654321"):
            await ask_to_adjust(pilot)
            await scan(pilot, key_clock, code)
            await until(pilot, lambda: app.screen is app.checkout)
            assert notes(app)[-2:] == [
                "Nothing was adjusted.",
                f"Unknown code '{code}': it is not an item, a member card or a receipt.",
            ]
            assert app.checkout.item_field.value == ""
    assert list(terminal.store.events()) == []


@pytest.mark.parametrize(
    ("on_basket", "typed"), [(BEN, BEN.lower()), (ANNA.lower(), ANNA), (BEN.lower(), BEN)]
)
async def test_the_basket_card_blocked_as_typed_in_another_case_is_taken_off_the_basket(
    make_app, terminal, on_basket, typed
):
    """QA: LC00100037 on the basket, blocked at F8 2 typed as lc00100037: the card stayed on the
    basket as if it worked, and every item scanned after was refused with "Card ... is blocked
    (reported lost)", until the cashier thought of F3."""
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await fill(pilot, on_basket)
        await until(pilot, lambda: app.checkout.view.member is not None)
        await manager_view(pilot, "2", typed)
        await question(pilot)
        await press(pilot, "y")
        await until(pilot, lambda: "is blocked" in (notes(app) or [""])[-1])
        await settle(pilot)
        assert app.checkout.view.basket.card is None and app.checkout.view.member is None
        await fill(pilot, "MILK")
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK"]
    assert terminal.store.card(on_basket.upper())["card_status"] == "blocked"


async def test_the_basket_card_replaced_as_typed_in_another_case_gives_the_basket_the_new_card(
    make_app, terminal
):
    """QA: as above, F8 3 with the lost card typed in lower case left the blocked card on the
    basket, not the new one."""
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await fill(pilot, BEN)
        await until(pilot, lambda: app.checkout.view.member is not None)
        await manager_view(pilot, "3", BEN.lower())
        await fill(pilot, "LC00777003")
        await question(pilot)
        await press(pilot, "y")
        await until(pilot, lambda: any("New card" in said for said in notes(app)))
        await settle(pilot)
        view = app.checkout.view
        assert view.basket.card == "LC00777003" and view.member.member_id == "M0002"
        await fill(pilot, "MILK")
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK"]
    assert terminal.store.card(BEN)["card_status"] == "blocked"
