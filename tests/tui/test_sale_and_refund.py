"""Completing a sale (F9), refunding it (F6) with the manager's PIN, and the receipt preview."""

from __future__ import annotations

import threading
import time

from textual.widgets import DataTable, Input

from loyalty_pos.checkout import adjust, checkout, resolve_items
from loyalty_pos.domain.program import parse_program_text
from loyalty_pos.tui.messages import CodeScanned
from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.refund import RefundScreen
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import ANNA, BEN, NOW, ROOT
from .pilot import (
    fill,
    notes,
    press,
    press_at_once,
    scan,
    screen_lines,
    settle,
    text_in,
    type_text,
    until,
)


async def punch_card_basket_paid_with_points(pilot) -> None:
    """Anna's card, six coffees (the sixth free) and a mascara, the most points paid (F5 F5)."""
    for code in (ANNA, "6*COFFEE", "MASCARA"):
        await fill(pilot, code)
    await press(pilot, "f5", "f5")


def shown_lines(app) -> list[str]:
    """The terminal's lines as shown, runs of spaces as one."""
    return [" ".join(line.split()) for line in screen_lines(app)]


async def sell(pilot, *codes: str, card: str | None = ANNA) -> None:
    await settle(pilot)
    if card:
        await fill(pilot, card)
    for code in codes:
        await fill(pilot, code)
    await press(pilot, "f9")


async def refund_window_after(pilot, *codes: str, card: str | None = ANNA) -> RefundScreen:
    """``sell`` of ``codes``, the sale's preview closed, then the refund window (F6), empty."""
    await sell(pilot, *codes, card=card)
    await press(pilot, "escape", "f6")
    refund = pilot.app.screen
    assert isinstance(refund, RefundScreen)
    return refund


async def test_f9_records_the_sale_shows_the_receipt_and_clears_for_the_next_customer(
    make_app, terminal
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", "2*COFFEE")
        preview = app.screen
        assert isinstance(preview, TextScreen)
        summary = text_in(preview, ".summary")
        # 17.75 EUR: 17 base points + 12 for the Sunday beauty promotion on the mascara
        assert "points earned +29" in summary and "new balance 29" in summary
        assert "DEMO1-000001" in text_in(preview, ".body-text")
        assert app.checkout.view.basket.is_empty
        await press(pilot, "enter")
        assert app.screen is app.checkout
    sale = terminal.store.event_by_receipt("DEMO1-000001")
    assert sale["member_id"] == "M0001"
    assert [(line["sku"], line["qty"]) for line in sale["lines"]] == [("MASCARA", 1), ("COFFEE", 2)]
    assert terminal.store.draft() is None


async def test_the_sale_summary_says_how_far_the_punch_card_of_an_item_sold_is(make_app):
    """The customer buying coffee asks how far the coffee card is: F9's summary says it, as the
    sale leaves it; a sale without coffee (the card has punches) does not."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "3*COFFEE", card=BEN)
        summary = text_in(app.screen, ".summary")
        assert "Coffee card: 6th free · 3 of 5, free after 2 more" in summary
        await press(pilot, "enter")
        await sell(pilot, "MILK", card=BEN)
        assert isinstance(app.screen, TextScreen)
        assert "Coffee card" not in text_in(app.screen, ".summary")
        assert "3 of 5" in text_in(app.screen, ".body-text")  # the receipt still shows it


async def test_the_member_panel_and_the_receipt_show_the_coffee_card(make_app, terminal):
    """The coffee card (the 6th free) as it stands when the card is scanned, and on the receipt
    as the sale leaves it; a basket without a card shows no card."""
    checkout(terminal, ANNA, resolve_items(terminal, [("COFFEE", 3)]))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        assert "Coffee card" not in text_in(app.checkout, "#member")
        await fill(pilot, ANNA)
        assert "Coffee card: 6th free 3 of 5, free after 2 more" in text_in(
            app.checkout, "#punch-cards"
        )
        await fill(pilot, "3*COFFEE")  # the 6th is free: the card starts again
        assert app.checkout.view.quote.lines[1].free_units == 1
        await press(pilot, "f9")
        preview = app.screen
        assert isinstance(preview, TextScreen)
        assert "Coffee card: 6th free 0 of 5, free after 5 more" in text_in(preview, ".body-text")
        await press(pilot, "enter")
        await fill(pilot, ANNA)
        assert "0 of 5, free after 5 more" in text_in(app.checkout, "#punch-cards")
        await press(pilot, "f3")
        assert "Coffee card" not in text_in(app.checkout, "#member")


async def test_a_long_punch_card_name_does_not_push_the_amount_due_off_an_80x24_screen(
    make_app, terminal
):
    """The fullest panels there are: a name on two lines, points paid, a free unit saved."""
    text = (ROOT / "config" / "program.example.toml").read_text()
    text = text.replace('"Coffee card: 6th free"', '"Filter coffee to go card: the 6th cup free"')
    with terminal.store.transaction():
        terminal.store.save_program(
            parse_program_text(text.replace("version = 1 ", "version = 2 "), "t"), NOW
        )
        terminal.store.conn.execute(
            "UPDATE members SET name = ? WHERE member_id = 'M0001'",
            ("Annabel Schmidt-Hohenberger-Wolff",),
        )
    adjust(terminal, ANNA, 5000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await punch_card_basket_paid_with_points(pilot)
        assert app.checkout.view.quote.lines[0].free_units == 1
        totals, side = app.checkout.query_one("#totals"), app.checkout.query_one("#side")
        assert totals.region.bottom <= side.region.bottom  # all of it on the screen


async def test_the_next_scan_closes_the_receipt_and_starts_the_next_basket(make_app, key_clock):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        assert isinstance(app.screen, TextScreen)
        await scan(pilot, key_clock, "4000010000003")
        assert app.screen is app.checkout
        assert [line.sku for line in app.checkout.view.basket.lines] == ["COFFEE"]


async def test_the_next_code_typed_closes_the_receipt_and_starts_the_next_basket(make_app):
    """A cashier serving a queue types the next customer's first item at once: the preview
    closes on its first key and the whole code reaches the item field (it was swallowed)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        assert isinstance(app.screen, TextScreen)
        await type_text(pilot, "2*COFFEE")
        assert app.screen is app.checkout
        assert [(x.sku, x.qty) for x in app.checkout.view.basket.lines] == [("COFFEE", 2)]
        assert app.checkout.item_field.value == ""


async def test_f9_that_overtakes_an_item_still_being_added_says_so_and_records_nothing(
    make_app, terminal
):
    """QA: an item scanned while the till was busy, then F9 at once: the sale was refused as
    "The member's points changed since the amount was shown", in a sale without a member."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MILK")
        held = threading.Event()
        app.submit("hold", held.wait)  # the service thread busy: the scan waits its turn
        try:
            app.checkout.route(CodeScanned("BREAD", "wedge"))
            await pilot.press("f9")
        finally:
            held.set()
        await settle(pilot)
        assert notes(app)[-1].startswith(
            "An item or a card was still being added when F9 was pressed: it is now due 4.68 EUR"
        )
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MILK", "BREAD"]
    assert list(terminal.store.events()) == []


async def test_f9_with_a_code_typed_but_not_added_records_nothing_and_says_so(make_app, terminal):
    """QA: the sale was recorded without the bread typed but not entered, and BREAD stayed in
    the item field, where the next Enter put it in the next customer's basket."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MILK")
        await type_text(pilot, "BREAD", enter=False)
        await press(pilot, "f9")
        assert list(terminal.store.events()) == []
        assert notes(app)[-1] == (
            "'BREAD' is typed but not in the basket: press Enter to add it, or Esc to clear it, "
            "then F9 again."
        )
        assert app.screen is app.checkout and app.checkout.item_field.value == "BREAD"
        await press(pilot, "enter", "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
    (sale,) = terminal.store.events()
    assert [line["sku"] for line in sale["lines"]] == ["MILK", "BREAD"]


async def test_f9_on_an_empty_basket_records_nothing(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f9")
        assert "The basket is empty" in notes(app)[-1]
    assert terminal.store.last_receipt_id() is None


async def test_refund_with_the_manager_pin_reverses_the_points(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", "2*COFFEE")
        await press(pilot, "enter", "f6")
        refund = app.screen
        assert isinstance(refund, RefundScreen)
        await fill(pilot, "DEMO1-000001")
        table = refund.query_one("#lines", DataTable)
        assert table.row_count == 2
        # What the choice gives back shows before the PIN: all three units, then the mascara.
        await until(pilot, lambda: "Money back 17.75" in text_in(refund, "#preview"))
        assert "points taken back -29" in text_in(refund, "#preview")
        await press(pilot, "down", "minus", "minus")  # keep both coffees
        await until(pilot, lambda: "Money back 12.95" in text_in(refund, "#preview"))
        assert "points taken back -25 · given back +0" in text_in(refund, "#preview")
        assert "balance 29 → 4" in text_in(refund, "#preview")  # before the PIN (QA)
        assert terminal.store.event_by_receipt("DEMO1-000002") is None  # a preview records nothing
        await press(pilot, "enter")
        assert isinstance(app.focused, Input) and app.focused.id == "pin"
        await fill(pilot, "1234")
        slip = app.screen
        assert isinstance(slip, TextScreen)
        summary = text_in(slip, ".summary")
    event = terminal.store.event_by_receipt("DEMO1-000002")
    assert event["type"] == "refund" and event["lines"] == [{"sku": "MASCARA", "qty": 1}]
    assert event["refund_minor"] == 1295
    assert f"points taken back -{event['points_reversed']} · given back +0" in summary
    assert event["points_reversed"] == 25  # 29 earned; the two coffees alone would earn 4
    assert "Money back 12.95" in summary and "new balance 4" in summary


async def test_scanning_a_receipt_opens_its_refund_even_over_the_last_receipt(make_app, key_clock):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        assert isinstance(app.screen, TextScreen)  # the receipt preview
        await scan(pilot, key_clock, "DEMO1-000001")
        await settle(pilot)
        assert isinstance(app.screen, RefundScreen)
        assert app.screen.query_one("#lines", DataTable).row_count == 1


async def test_a_receipt_scanned_into_the_refund_window_over_another_opens_it_whole(
    make_app, key_clock
):
    """The lines of one receipt up, the customer hands over the right one: its id's '-' is the
    window's own key (one unit fewer), held back to see whether a scan follows, and the code
    was taken from there on ('-000002 is not a receipt'), its 'DEMO1' dropped."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        await press(pilot, "escape")
        refund = await refund_window_after(pilot, "2*COFFEE", card=None)
        await fill(pilot, "DEMO1-000001")
        assert isinstance(app.focused, DataTable)  # the lines, where + and - choose
        await scan(pilot, key_clock, "DEMO1-000002")
        assert text_in(refund, "#error") == ""
        await until(pilot, lambda: refund.receipt_id == "DEMO1-000002" and refund.lines)
        assert app.screen is refund
        assert refund.query_one("#receipt", Input).value == "DEMO1-000002"
        assert [line.sku for line in refund.lines] == ["COFFEE"]
        assert refund.back == {"COFFEE": 2}


async def test_a_receipt_not_found_over_another_leaves_none_of_the_others_lines(
    make_app, terminal, key_clock
):
    """QA: with one receipt's lines up, a receipt id not found (mistyped, a refund's) said so
    under the first receipt's lines, its member and its money back, as if they were the new
    receipt's. They go; the PIN then asks for the receipt, and nothing is recorded."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        refund = await refund_window_after(pilot, "MASCARA")
        await fill(pilot, "DEMO1-000001")
        await until(pilot, lambda: "Money back 12.95" in text_in(refund, "#preview"))
        await scan(pilot, key_clock, "DEMO1-000099")
        await until(pilot, lambda: "No sale with receipt id" in text_in(refund, "#error"))
        assert refund.query_one("#lines", DataTable).row_count == 0
        assert text_in(refund, "#sale-member") == ""
        assert "Money back" not in text_in(refund, "#preview")
        refund.query_one("#pin", Input).focus()
        await fill(pilot, "1234")
        assert app.screen is refund
        assert text_in(refund, "#error") == "Scan or type the receipt id first."
    assert [e["type"] for e in terminal.store.events()] == ["checkout"]


async def test_an_items_long_name_leaves_the_refunds_units_and_price_on_the_screen(
    make_app, terminal
):
    """QA: an item named with 200 characters widened the refund's item column past the
    window: Sold, Left, Back and Price were cut off, and + / - changed units the cashier could
    not see. The name is cut with '…', at 80x24 and at 120x40."""
    long_name = ("Extra large family pack of hand-picked organic mascara " * 4)[:200]
    with terminal.store.transaction():
        terminal.store.conn.execute(
            "UPDATE catalog SET name = ? WHERE sku = 'MASCARA'", (long_name,)
        )
    checkout(terminal, ANNA, resolve_items(terminal, [("MASCARA", 1), ("MILK", 3)]))

    async def two_milks_back(size: tuple[int, int]) -> list[str]:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await press(pilot, "f6")
            await fill(pilot, "DEMO1-000001")
            await until(pilot, lambda: "Money back" in text_in(app.screen, "#preview"))
            await press(pilot, "down", "minus")
            await until(pilot, lambda: "Money back 15.33" in text_in(app.screen, "#preview"))
            return shown_lines(app)

    for size in ((80, 24), (120, 40)):
        lines = await two_milks_back(size)
        assert any("Item Sold Left Back Price" in line for line in lines), lines
        assert any("Extra large family" in ln and "… 1 1 1 12.95" in ln for ln in lines)
        assert any("Whole milk 1L 3 3 2 1.19" in line for line in lines), lines


async def test_a_wrong_pin_refuses_the_refund_and_records_nothing(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        await press(pilot, "escape", "f6")
        await fill(pilot, "DEMO1-000001")
        await press(pilot, "enter")
        await fill(pilot, "9999")
        assert "Wrong manager PIN. 4 tries left." in text_in(app.screen, "#error")
        assert isinstance(app.screen, RefundScreen)
    assert terminal.store.refunds_of("DEMO1-000001") == []


async def test_a_code_scanned_into_the_pin_field_is_no_pin_and_uses_up_no_try(
    make_app, terminal, key_clock
):
    """A receipt scanned at the PIN (the wedge does not look for scans in a PIN field): its
    letters reach the check, which says it is no PIN and counts no try; five of them no longer
    lock the manager out for 15 minutes. A wrong PIN typed after still has all its tries."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        await press(pilot, "escape", "f6")
        await fill(pilot, "DEMO1-000001")
        await press(pilot, "enter")
        for _ in range(6):
            await scan(pilot, key_clock, "DEMO1-000001")
            await settle(pilot)
            assert isinstance(app.screen, RefundScreen)
            assert "not a manager PIN" in text_in(app.screen, "#error")
        await fill(pilot, "9999")
        assert "Wrong manager PIN. 4 tries left." in text_in(app.screen, "#error")
    assert terminal.store.refunds_of("DEMO1-000001") == []


async def test_a_points_payment_is_restored_on_refund(make_app, terminal):
    adjust(terminal, ANNA, 1000, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, ANNA)
        await fill(pilot, "MASCARA")
        await press(pilot, "f5", "f5")
        await press(pilot, "f9")  # the sale recorded and its preview up, then
        await press(pilot, "enter", "f6")
        await fill(pilot, "DEMO1-000002")
        await press(pilot, "enter")
        await fill(pilot, "1234")
        assert "given back +1000" in text_in(app.screen, ".summary")


async def test_an_item_scanned_into_the_refund_window_is_refused_there_not_sold(
    make_app, key_clock
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await fill(pilot, "MASCARA")
        await press(pilot, "f6")
        refund = app.screen
        assert isinstance(refund, RefundScreen)
        await scan(pilot, key_clock, "4000010000003")  # the coffee's EAN
        await settle(pilot)
        assert app.screen is refund
        assert "4000010000003 is not a receipt" in text_in(refund, "#error")
        assert [line.sku for line in app.checkout.view.basket.lines] == ["MASCARA"]


def two_punch_cards_and_a_long_name(terminal) -> None:
    """Anna, renamed long, with a coffee card and an espresso card under way and 5000 points."""
    text = (ROOT / "config" / "program.example.toml").read_text()
    text = text.replace("version = 1 ", "version = 2 ")
    text += (
        '\n[[promotions]]\nid = "espresso-card"\nname = "Espresso beans card: the 10th bag free"'
        '\nkind = "nth_free"\nsku = "ESPRESSO"\nevery = 10\nscope = "member"\n'
    )
    with terminal.store.transaction():
        terminal.store.save_program(parse_program_text(text, "t"), NOW)
        terminal.store.conn.execute(
            "UPDATE members SET name = ? WHERE member_id = 'M0001'",
            ("Annabel Schmidt-Hohenberger-Wolff von Rabenstein",),
        )
    checkout(terminal, ANNA, resolve_items(terminal, [("COFFEE", 2), ("ESPRESSO", 3)]))
    adjust(terminal, ANNA, 5000, "test setup", "1234")


async def test_two_punch_cards_and_a_long_name_leave_the_amount_due_on_an_80x24_screen(
    make_app, terminal
):
    """QA: a member with two punch cards and a long name pushed the Due line off the bottom of
    an 80x24 screen. The name is cut with "…", and Due is always on the screen."""
    two_punch_cards_and_a_long_name(terminal)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await punch_card_basket_paid_with_points(pilot)
        view = app.checkout.view
        assert len(view.member.punch_cards) == 2
        assert view.quote.points_redeemed and view.quote.discount
        shown = shown_lines(app)
        assert any(f"Due {view.quote.due} EUR" in line for line in shown), "\n".join(shown)
        assert any("Annabel Schmidt-Hohenberger…" in line for line in shown), "\n".join(shown)
        assert any("Total" in line for line in shown)


async def test_a_function_key_at_the_receipt_preview_closes_it_and_does_its_action(make_app):
    """QA: serving the next customer from the receipt preview, F2 (type their card) and F6
    (their return) did nothing; as at the void question, the key closes the window and acts."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA", card=None)
        assert isinstance(app.screen, TextScreen)
        await press(pilot, "f2")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        assert app.screen.title_text == "Member card"
        assert not any(isinstance(s, TextScreen) for s in app.screen_stack)
        await type_text(pilot, BEN)
        assert app.checkout.view.member.name == "Ben Carter"
        await press(pilot, "f9")  # the basket is empty: said, as at the checkout
        assert "The basket is empty" in notes(app)[-1]


async def test_refusals_one_after_another_leave_the_amount_due_readable_at_80x24(
    make_app, terminal
):
    """QA: three refusals in a row (codes the till does not know) stacked three toasts over
    the totals of an 80x24 screen, Due among them, for their whole time. The newest refusal
    replaces the ones before it; the same toast again is not stacked on itself."""
    two_punch_cards_and_a_long_name(terminal)
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await punch_card_basket_paid_with_points(pilot)
        for code in ("NOSUCH1", "NOSUCH2", "NOSUCH3", "NOSUCH3"):
            await fill(pilot, code)
        await pilot.pause(0.1)
        view = app.checkout.view
        shown = shown_lines(app)
        assert any(f"Due {view.quote.due} EUR" in line for line in shown), "\n".join(shown)
        assert notes(app) == [
            "Unknown code 'NOSUCH3': it is not an item, a member card or a receipt."
        ], notes(app)


async def test_a_resize_while_a_window_is_open_leaves_the_amount_due_on_the_screen(
    make_app, terminal
):
    """Shrunk to 80x24 with F2's window open, the member panel takes the room of 80x24, not
    of 100x30, once the window closes: Due stays on the screen (the checkout under a window
    is told of the resize too, and works the panel's room out again)."""
    two_punch_cards_and_a_long_name(terminal)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await punch_card_basket_paid_with_points(pilot)
        await press(pilot, "f2")
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        await press(pilot, "escape")
        await pilot.pause(0.1)
        assert app.screen is app.checkout
        view = app.checkout.view
        shown = shown_lines(app)
        assert any(f"Due {view.quote.due} EUR" in line for line in shown), "\n".join(shown)
        assert not any("━" in line for line in shown)  # no room for the tier's progress
        await press(pilot, "f8")  # two windows over it, grown back meanwhile
        await fill(pilot, "1234")
        await press(pilot, "4")
        await pilot.resize_terminal(100, 30)
        await settle(pilot)
        await press(pilot, "escape")
        await press(pilot, "escape")
        await pilot.pause(0.1)
        assert app.screen is app.checkout
        shown = screen_lines(app)
        assert any("━" in line for line in shown), "\n".join(shown)


async def test_plus_and_minus_at_the_pin_are_refused_there_and_never_typed_into_it(
    make_app, terminal
):
    """Enter in the lines moves on to the PIN; a '-' or '+' typed right after (one unit fewer,
    the cashier thought) went into the PIN, and the PIN was then "a scanned code, perhaps".
    They are the lines' keys: at the PIN they are refused with where they act, the PIN and the
    units chosen stay as they were, and the PIN typed after them refunds."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        refund = await refund_window_after(pilot, "2*COFFEE", card=None)
        await fill(pilot, "DEMO1-000001")
        await until(pilot, lambda: "Money back 4.80" in text_in(refund, "#preview"))
        await press(pilot, "enter")
        pin = refund.query_one("#pin", Input)
        assert app.focused is pin
        await type_text(pilot, "12-", enter=False)
        assert pin.value == "12"
        said = text_in(refund, "#error")
        assert said == (
            "+ and - choose the units back, in the lines: Shift+Tab goes back to them. "
            "The PIN takes digits only."
        )
        await type_text(pilot, "+", enter=False)
        assert pin.value == "12" and refund.back == {"COFFEE": 2}
        await press(pilot, "shift+tab")  # back to the lines, where '-' keeps one coffee
        assert isinstance(app.focused, DataTable)
        await type_text(pilot, "-", enter=False)
        await until(pilot, lambda: "Money back 2.40" in text_in(refund, "#preview"))
        await press(pilot, "enter")
        assert app.focused is pin and pin.value == "12"
        await type_text(pilot, "1234")  # over the "12" kept, selected as the field is entered
        assert isinstance(app.screen, TextScreen), text_in(refund, "#error")
    event = terminal.store.event_by_receipt("DEMO1-000002")
    assert event["lines"] == [{"sku": "COFFEE", "qty": 1}]


async def test_a_minus_typed_right_behind_the_receipt_s_enter_takes_a_unit_off_once_it_is_loaded(
    make_app, monkeypatch
):
    """The receipt id, Enter and '-' (one unit fewer back) typed in one burst: the '-' went
    into the receipt field while its lines were still being read, leaving "DEMO1-000001-"
    there and every unit back. It waits for the lines and takes one unit off, as typed slowly."""
    from loyalty_pos.tui.screens import refund as refund_screen

    read = refund_screen.refundable_lines

    def slow_lines(*args, **kwargs):  # a cache busy with the nightly backup, say
        time.sleep(0.3)
        return read(*args, **kwargs)

    monkeypatch.setattr(refund_screen, "refundable_lines", slow_lines)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        refund = await refund_window_after(pilot, "2*COFFEE", card=None)
        press_at_once(pilot, "DEMO1-000001", "enter", "-")
        await until(pilot, lambda: "Money back 2.40" in text_in(refund, "#preview"))
        assert refund.query_one("#receipt", Input).value == "DEMO1-000001"
        assert refund.back == {"COFFEE": 1}


async def test_a_free_coffee_back_says_why_no_money_comes_back_and_what_one_more_gives(
    make_app, terminal
):
    """Six coffees on Anna's card, the sixth free: one coffee back showed "Money back 0.00"
    and no reason. The free one is returned first (the sale without it is five paid coffees),
    and the window says so, and what one more back would give, at 80x24."""
    checkout(terminal, ANNA, resolve_items(terminal, [("COFFEE", 6), ("MASCARA", 1)]))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f6")
        refund = app.screen
        assert isinstance(refund, RefundScreen)
        await fill(pilot, "DEMO1-000001")
        await until(pilot, lambda: "Money back" in text_in(refund, "#preview"))
        await press(pilot, "minus", "minus", "minus", "minus", "minus", "down", "minus")
        await until(pilot, lambda: "Money back 0.00" in text_in(refund, "#preview"))
        assert text_in(refund, "#preview") == (
            "Money back 0.00 "
            "Filter coffee to go: the free one is returned first, so no money back for this "
            "unit. One more back: money back 2.40."
        )
        shown = shown_lines(app)  # on the screen, each on a line, at 80x24
        for said in ("the free one is returned first", "One more back: money back 2.40."):
            assert any(said in line for line in shown), shown
        await press(pilot, "up", "plus")  # two coffees back: one paid, one free
        await until(pilot, lambda: "Money back 2.40" in text_in(refund, "#preview"))
        preview = text_in(refund, "#preview")
        assert preview.startswith("Money back 2.40 · points taken back -2")
        assert preview.endswith(
            "Filter coffee to go: the free one is returned first, so money back for 1 of the "
            "2. One more back: money back 4.80."
        )
