"""Building a basket the way a cashier does: the member, items, quantities, mistakes."""

from __future__ import annotations

import threading
from decimal import Decimal

from textual.widgets import Input

from loyalty_pos.checkout import adjust
from loyalty_pos.tui.router import pending_quantity
from loyalty_pos.tui.screens.forms import FormScreen
from loyalty_pos.tui.screens.help import HelpScreen
from loyalty_pos.tui.screens.text import TextScreen, VoidScreen
from loyalty_pos.tui.widgets.basket_table import BasketTable
from loyalty_pos.tui.widgets.item_field import ItemField

from .conftest import ANNA, BEN, COFFEE_EAN
from .pilot import form_field, notes, press, scan, screen_lines, settle, text_in, type_text, until


def lines(app) -> list[tuple[str, int]]:
    return [(line.sku, line.qty) for line in app.checkout.view.basket.lines]


async def test_typing_a_card_with_f2_attaches_the_member_and_gives_focus_back(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f2")
        assert isinstance(app.screen, FormScreen)
        await type_text(pilot, BEN)
        assert app.checkout.view.member.name == "Ben Carter"
        assert app.screen is app.checkout
        assert isinstance(app.focused, ItemField)


async def test_a_card_scanned_into_the_f2_window_attaches_the_member(make_app, key_clock):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f2")
        assert isinstance(app.screen, FormScreen)
        await scan(pilot, key_clock, BEN)
        await settle(pilot)  # the scanner's Enter confirms: no second Enter to press
        assert app.checkout.view.member.name == "Ben Carter"
        assert app.screen is app.checkout


async def test_a_card_scanned_while_a_window_is_open_still_attaches_the_member(make_app, key_clock):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f1")
        assert isinstance(app.screen, HelpScreen)
        await scan(pilot, key_clock, ANNA)
        assert app.checkout.view.member.name == "Anna Schmidt"


async def test_items_by_sku_and_ean_and_with_a_quantity(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "3*COFFEE")
        await type_text(pilot, "MASCARA")
        await type_text(pilot, COFFEE_EAN)
        assert lines(app) == [("COFFEE", 4), ("MASCARA", 1)]
        assert app.checkout.item_field.value == ""
        assert isinstance(app.focused, ItemField)


async def test_a_quantity_out_of_range_is_refused_and_the_field_keeps_what_was_typed(make_app):
    """1000*MILK (a slip for 100) is refused as 0*MILK is: the cashier corrects the typed text
    rather than typing it all again."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for typed, said in (
            ("1000*MILK", "The quantity must be from 1 to 999 (got 1000)."),
            ("0*MILK", "The quantity must be at least 1."),
            # QA: "Unknown code '2.5*MILK'" had the cashier look for a wrong code.
            ("2.5*MILK", "The quantity must be a whole number (got 2.5)."),
            ("2,5*MILK", "The quantity must be a whole number (got 2,5)."),
        ):
            app.checkout.item_field.value = ""
            await type_text(pilot, typed)
            assert notes(app)[-1] == said
            assert app.checkout.item_field.value == typed
            assert lines(app) == []


async def test_a_pasted_quantity_of_thousands_of_digits_is_refused_in_words(make_app):
    """QA: 5,000 nines pasted before '*MILK' were more than Python reads as a number: "Something
    went wrong (ValueError)", and a traceback in the error log."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for pasted in ("9" * 5000 + "*MILK", "9" * 5000 + "*"):
            app.checkout.item_field.value = pasted
            await press(pilot, "enter")
            assert notes(app)[-1] == "The quantity must be from 1 to 999 (got 5000 digits)."
            assert app.checkout.item_field.value == pasted
            assert lines(app) == []
    assert pending_quantity("9" * 5000 + "*") is None


async def test_a_fractional_quantity_leaves_the_basket_as_it_was(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "2*MILK")
        await type_text(pilot, "2.5*MILK")
        assert lines(app) == [("MILK", 2)]
        assert app.checkout.item_field.value == "2.5*MILK"
        assert not any("Unknown code" in note for note in notes(app))
        app.checkout.item_field.value = ""
        await type_text(pilot, "-1*MILK")  # not a quantity: a code, as before
        assert "Unknown code '-1*MILK'" in notes(app)[-1]
        assert lines(app) == [("MILK", 2)]
    assert list(terminal.store.events()) == []


async def test_an_unknown_code_is_refused_in_plain_words_and_the_basket_stays(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "COFFEE")
        await type_text(pilot, "NOSUCHTHING")
        assert lines(app) == [("COFFEE", 1)]
        assert "Unknown code 'NOSUCHTHING'" in notes(app)[-1]


async def test_a_uid_typed_in_lower_case_attaches_the_member_and_a_runaway_code_is_cut(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, ANNA.lower())
        assert app.checkout.view.member.name == "Anna Schmidt"
        await type_text(pilot, "X" * 300)
        note = notes(app)[-1]
        assert "... (300 characters)" in note and len(note) < 150
        assert app.checkout.view.member.name == "Anna Schmidt" and lines(app) == []


async def test_a_refusal_goes_away_when_the_next_scan_works(make_app, key_clock):
    """A warning left up beside the next item would read as said of that item."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "NOSUCHTHING")
        await type_text(pilot, "0*MILK")
        assert len(notes(app)) == 1  # the second refusal replaced the first
        await scan(pilot, key_clock, COFFEE_EAN)
        assert lines(app) == [("COFFEE", 1)]
        assert notes(app) == []
        # Information stays: it is not a refusal (a sync's report, say).
        app.notify("Synced: 3 sent, 0 member updates, 0 still waiting.", title="Sync")
        await scan(pilot, key_clock, COFFEE_EAN)
        assert lines(app) == [("COFFEE", 2)]
        assert notes(app) == ["Synced: 3 sent, 0 member updates, 0 still waiting."]


async def test_a_refusal_goes_away_when_the_sale_is_completed(make_app):
    """QA: an unknown code refused just before F9 stayed up beside the sale's receipt, read as
    said of the sale. A completed sale is a step that worked."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "MILK")
        await type_text(pilot, "NOSUCHTHING")
        assert len(notes(app)) == 1
        await press(pilot, "f9")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert notes(app) == []


async def test_at_80_columns_the_basket_shows_whole_names_and_the_free_units_after_them(
    make_app,
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f2")
        await type_text(pilot, ANNA)
        await type_text(pilot, "BOOK-NOVEL")
        await type_text(pilot, "6*COFFEE")
        table = app.checkout.query_one(BasketTable)
        shown = text_in(table)
        assert "Novel: The Quiet Harbour 1 14.00" in shown
        assert "Filter coffee to … · 1 free 6 12.00" in shown  # the name gives way
        assert "Price" not in shown


async def test_a_wider_screen_shows_the_unit_price_and_free_units_in_columns(make_app):
    app = make_app()
    async with app.run_test(size=(88, 24)) as pilot:  # README: from 88 columns on
        await settle(pilot)
        await press(pilot, "f2")
        await type_text(pilot, ANNA)
        await type_text(pilot, "6*COFFEE")
        shown = text_in(app.checkout.query_one(BasketTable))
        assert "Item Qty Price Total Free" in shown
        assert "Filter coffee to go 6 2.40 12.00 1" in shown


async def test_a_line_never_grows_past_the_largest_quantity(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "999*COFFEE")
        await type_text(pilot, "COFFEE")  # one more of the same line: 1000
        assert lines(app) == [("COFFEE", 999)]
        assert "from 1 to 999 (got 1000)" in notes(app)[-1]
        await type_text(pilot, "99999999999*MASCARA")
        assert lines(app) == [("COFFEE", 999)]


async def test_delete_removes_the_selected_line(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for code in ("COFFEE", "MASCARA", "ESPRESSO"):
            await type_text(pilot, code)
        await press(pilot, "up", "delete")
        assert lines(app) == [("COFFEE", 1), ("ESPRESSO", 1)]


async def test_a_free_amount_line_with_a_category(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f7")
        await type_text(pilot, "4.99")
        await type_text(pilot, "grocery")
        line = app.checkout.view.basket.lines[0]
        assert (line.sku, str(line.unit_price), line.category) == (
            "OPEN:grocery",
            "4.99",
            "grocery",
        )


async def test_an_unknown_card_offers_enrolment_and_f4_enrols_it(make_app, terminal):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "LC99990001")
        assert "Press F4 to enrol it" in notes(app)[-1]
        await press(pilot, "f4")
        form = app.screen
        assert form.query_one("#field-card", Input).value == "LC99990001"
        await type_text(pilot, "Zoe Quinn")
        await type_text(pilot, "zoe@example.org")
        await type_text(pilot, "")
        assert app.checkout.view.member.name == "Zoe Quinn"
        enrolled = [e for e in terminal.store.events() if e["type"] == "enroll"]
        assert enrolled[-1]["card"] == "LC99990001"


async def test_enrolment_needs_only_the_card(make_app, terminal):
    """A customer in the queue may give no name, email or phone: the card alone enrols them
    (as `loyalty-pos enroll --card` does)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        await type_text(pilot, "LC99990002")
        for _ in range(3):
            await type_text(pilot, "")
        await until(pilot, lambda: app.checkout.view.member is not None)
        assert app.screen is app.checkout
    enrolled = [e for e in terminal.store.events() if e["type"] == "enroll"]
    assert [(e["card"], e["name"], e["email"], e["phone"]) for e in enrolled] == [
        ("LC99990002", "", "", "")
    ]


async def test_enrolment_refuses_an_email_without_a_dot_in_its_domain_at_its_enter(
    make_app, terminal
):
    """QA: `zoe@example` was enrolled. F4 says so at the email's Enter, in the CLI's words, and
    stays on the email; corrected, the member is enrolled with it."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        form = app.screen
        await type_text(pilot, "LC99990004")
        await until(pilot, lambda: app.focused is form.query_one("#field-name", Input))
        await type_text(pilot, "Zoe Quinn")
        await type_text(pilot, "zoe@example")
        email = form.query_one("#field-email", Input)
        assert "'zoe@example' is not an email address: its domain" in text_in(form, "#error")
        assert app.focused is email and app.screen is form
        # a page pasted into it is told by its length, not said whole (twice) over the window
        email.value = "zoe" * 2000
        await type_text(pilot, "")
        said = text_in(form, "#error")
        assert said == "The email address is 6000 characters long (at most 200)."
        assert not [e for e in terminal.store.events() if e["type"] == "enroll"]
        email.value = "zoe@example.com"
        await type_text(pilot, "")
        await type_text(pilot, "")
        await until(pilot, lambda: app.checkout.view.member is not None)
    enrolled = [e for e in terminal.store.events() if e["type"] == "enroll"]
    assert [(e["card"], e["email"]) for e in enrolled] == [("LC99990004", "zoe@example.com")]


async def test_enrolment_says_a_name_too_long_at_its_enter_and_stays_on_it(make_app, terminal):
    """QA: a name of 210 characters went on to the email and the phone, and only the last
    Enter said it was too long, the cursor left on the phone. It is said at the name's Enter,
    and a phone too long at the phone's, each field keeping the cursor; nothing is enrolled
    until they are corrected."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form, name = await form_field(pilot, "f4", "name")
        await type_text(pilot, "LC99990005")
        await until(pilot, lambda: app.focused is name)
        name.value = "x" * 210
        await type_text(pilot, "")
        assert text_in(form, "#error") == "The name is 210 characters long (at most 200)."
        assert app.focused is name and app.screen is form
        name.value = "Zoe Quinn"
        await type_text(pilot, "")
        await type_text(pilot, "")
        phone = form.query_one("#field-phone", Input)
        assert app.focused is phone
        phone.value = "1" * 201
        await type_text(pilot, "")
        assert text_in(form, "#error") == "The phone number is 201 characters long (at most 200)."
        assert app.focused is phone and app.screen is form
        assert not [e for e in terminal.store.events() if e["type"] == "enroll"]
        phone.value = "+49 30 1234567"
        await type_text(pilot, "")
        await until(pilot, lambda: app.checkout.view.member is not None)
    enrolled = [e for e in terminal.store.events() if e["type"] == "enroll"]
    assert [(e["name"], e["phone"]) for e in enrolled] == [("Zoe Quinn", "+49 30 1234567")]


async def test_enrolment_refuses_a_card_enrolled_before_at_its_enter(make_app, terminal):
    """QA: F4 with a card enrolled before took name, email and phone, and only then said the
    card was someone's: it is said at the card, naming whose, before anything else is typed."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        form = app.screen
        await type_text(pilot, ANNA)
        await until(pilot, lambda: "already belongs" in text_in(form, "#error"))
        assert "Anna Schmidt (M0001)" in text_in(form, "#error")
        assert app.focused is form.query_one("#field-card", Input)  # not on to the name
        form.query_one("#field-card", Input).value = "LC99990003"
        await type_text(pilot, "")
        await until(pilot, lambda: app.focused is form.query_one("#field-name", Input))
        assert text_in(form, "#error") == ""
    assert not [e for e in terminal.store.events() if e["type"] == "enroll"]


async def test_escape_on_an_empty_field_voids_the_basket_after_asking(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "COFFEE")
        await press(pilot, "escape", "y", "enter")
        assert lines(app) == []
        assert app.screen is app.checkout


async def test_a_code_typed_after_escape_keeps_the_basket_and_reaches_the_item_field(
    make_app,
):
    """Esc after a refused code is a reflex; the next code typed must not answer "void?"."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "COFFEE")
        await type_text(pilot, "NOSUCH")  # refused, and the field is emptied
        await press(pilot, "escape")
        assert isinstance(app.screen, VoidScreen)
        await type_text(pilot, "MILK")  # the Enter that ends it voided the basket before
        assert app.screen is app.checkout
        assert lines(app) == [("COFFEE", 1), ("MILK", 1)]
        await press(pilot, "escape")
        await type_text(pilot, "YOGURT")  # a Y first: not yet a yes (and the Y was the answer)
        assert app.screen is app.checkout
        assert lines(app)[:2] == [("COFFEE", 1), ("MILK", 1)]
        assert "Unknown code 'OGURT'" in notes(app)[-1]
        await press(pilot, "escape", "y", "escape")  # Y, then Esc: keep it after all
        assert app.screen is app.checkout and len(lines(app)) == 2


async def test_the_answer_to_the_void_question_is_not_typed_on(make_app):
    """QA F9: N (the natural "no"), or Y and then a change of mind, went on into the item field,
    so the next code typed was refused ("nMILK", "yMILK")."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "COFFEE")
        await press(pilot, "escape", "n")
        assert app.screen is app.checkout
        assert app.checkout.item_field.value == ""
        await type_text(pilot, "MILK")
        await press(pilot, "escape", "y")
        assert isinstance(app.screen, VoidScreen)
        await type_text(pilot, "MILK")  # Y, then the next item after all
        assert app.screen is app.checkout
        assert lines(app) == [("COFFEE", 1), ("MILK", 2)]


async def test_a_card_scanned_into_the_enrolment_window_moves_on_to_the_name(make_app, key_clock):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        form = app.screen
        assert isinstance(form, FormScreen)
        await scan(pilot, key_clock, "LC99990002")
        await settle(pilot)
        assert app.screen is form  # more to fill in: the scan does not confirm the form
        assert form.query_one("#field-card", Input).value == "LC99990002"
        assert app.focused is form.query_one("#field-name", Input)


async def test_a_free_amount_is_taken_as_typed_or_refused_in_words(make_app):
    """The amount field does not drop keys ("-5" read 5, "1e3" 13); a category the store does
    not know (a typo of tobacco would earn points) is refused."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f7")
        form = app.screen
        await type_text(pilot, "-5")
        assert form.query_one("#field-amount", Input).value == "-5"
        assert "needs an amount above 0" in str(form.query_one("#error").render())
        form.query_one("#field-amount", Input).value = "5.00"
        form.query_one("#field-category", Input).value = "tobaco"
        form.query_one("#field-category", Input).focus()
        await type_text(pilot, "")
        assert "did you mean 'tobacco'?" in str(form.query_one("#error").render())
        assert app.checkout.view.basket.lines == ()
        form.query_one("#field-category", Input).value = "Grocery"
        await type_text(pilot, "")
        line = app.checkout.view.basket.lines[0]
        assert (line.sku, str(line.unit_price), line.category) == (
            "OPEN:grocery",
            "5.00",
            "grocery",
        )


async def test_the_totals_and_the_receipt_read_top_to_bottom_free_items_taken_off_once(
    make_app, terminal
):
    """Total 24.95, "Saved (free items) 2.40", Points -5.00, Due 19.95: read from the top,
    the saving looked one more amount off the total, which already left it out (the coffees'
    line is 12.00 for 6, one free; DESIGN §5.1), and the receipt said the same. Both now go
    from the total to the amount due, and say what the free items saved after it."""
    from textual.geometry import Region

    from loyalty_pos.tui.widgets.totals_panel import TotalsPanel

    adjust(terminal, BEN, 500, "test setup", "1234")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, BEN)
        await type_text(pilot, "6*COFFEE")
        await type_text(pilot, "MASCARA")
        await press(pilot, "f5", "f5")  # 5.00 paid with points
        quote = app.checkout.view.quote
        assert (quote.total, quote.discount, quote.points_value) == (
            Decimal("24.95"),
            Decimal("2.40"),
            Decimal("5.00"),
        )
        panel = app.checkout.query_one(TotalsPanel)
        strips = panel.render_lines(Region(0, 0, *panel.outer_size))
        rows = [" ".join(strip.text.strip("│ ").split()) for strip in strips][1:-1]
        assert rows[:4] == [  # each on one line of the panel, at 80x24
            "Total 24.95",
            "Points (500) -5.00",
            "Due 19.95 EUR",
            "Free items saved 2.40",
        ]
        assert rows[4].startswith("Earns") and len(rows) == 5
        await press(pilot, "f9")
        preview = app.screen
        assert isinstance(preview, TextScreen)
        receipt = [" ".join(line.split()) for line in str(preview.body).splitlines()]
    at = receipt.index("Total EUR 24.95")
    assert receipt[at - 4 : at + 4] == [
        "Filter coffee to go",
        "6 x 2.40, 1 free 12.00",
        "Volume mascara black 12.95",
        "------------------------------------------",
        "Total EUR 24.95",
        "Paid with 500 points -5.00",
        "Amount due EUR 19.95",
        "Free items saved 2.40",
    ]


async def test_a_name_typed_in_a_quick_burst_at_enrolment_stays_in_its_field(
    make_app, terminal, key_clock
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f4")
        await scan(pilot, key_clock, "LC99990004")  # the new card, scanned: on to the name
        await scan(pilot, key_clock, "Zoe Quinn")  # typed as fast as a scanner
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-name", Input).value == "Zoe Quinn"
        assert not any("Unknown code" in n for n in notes(app))


async def test_a_function_key_after_escape_keeps_the_basket_and_does_its_action(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "COFFEE")
        await press(pilot, "escape")
        assert isinstance(app.screen, VoidScreen)
        await press(pilot, "f7")  # a free-amount line: the window for it opens at once
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        assert app.screen.title_text == "Free-amount line"
        assert lines(app) == [("COFFEE", 1)]


async def test_a_free_amount_that_is_not_one_is_refused_at_the_amount(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form, amount = await form_field(pilot, "f7", "amount")
        for typed, said in (
            ("-5", "needs an amount above 0"),
            ("0", "needs an amount above 0"),
            ("1e3", "is not a number"),
            ("1,000", "could be 1000 (with a thousands separator) or 1.000"),
            ("4.999", "could be 4999 (with a thousands separator) or 4.999"),
            ("0.001", "has more decimals than EUR allows"),
        ):
            amount.value = ""
            amount.focus()
            await type_text(pilot, typed)
            assert app.focused is amount, typed  # not on to the category
            assert said in text_in(form, "#error"), typed
        assert app.checkout.view.basket.lines == ()
        amount.value = ""
        await type_text(pilot, "4,99")  # a decimal comma is taken
        assert app.focused is form.query_one("#field-category", Input)
        await type_text(pilot, "grocery")
        assert str(app.checkout.view.basket.lines[0].unit_price) == "4.99"


async def test_an_amount_wider_than_its_column_is_shown_whole_and_the_name_gives_way(make_app):
    """QA: a 123,456.78 free amount showed as "123456." and "123456.7" in the basket while the
    totals and the receipt said 123456.78; the columns now grow with the widest amount."""
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await press(pilot, "f7")
        await type_text(pilot, "123456.78")
        await type_text(pilot, "grocery")
        await type_text(pilot, "6*COFFEE")
        shown = text_in(app.checkout.query_one(BasketTable))
        assert "Grocery 1 123456.78 123456.78" in shown
        assert "Filter coffee to go 6 2.40 14.40" in shown  # no card: no free cup
    async with make_app().run_test(size=(80, 24)) as pilot:  # narrow: name, qty, total
        await settle(pilot)
        await press(pilot, "f7")
        await type_text(pilot, "99999.99")
        await type_text(pilot, "grocery")
        await type_text(pilot, "999*MASCARA")
        shown = text_in(pilot.app.checkout.query_one(BasketTable))
        assert "99999.99" in shown
        mascara = pilot.app.checkout.view.basket.lines[-1]
        assert f"{mascara.unit_price * 999:.2f}" in shown


async def test_f3_takes_the_card_off_and_says_so_when_there_is_none(make_app):
    """QA: F3 with no card on the basket gave no sign that the key was taken."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, ANNA)
        assert app.checkout.view.member.name == "Anna Schmidt"
        await press(pilot, "f3")
        await until(pilot, lambda: app.checkout.view.member is None)
        await press(pilot, "f3")
        assert notes(app)[-1] == "No card is on this basket."


async def test_f10_takes_one_unit_off_the_selected_line_and_a_last_unit_takes_the_line(make_app):
    """A customer puts back one of three milks: one unit goes, the totals with it; the whole
    line goes only with its last unit. F10 types nothing: a half-typed code stays as it was."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "3*MILK")
        await type_text(pilot, "MASCARA")
        total = app.checkout.view.quote.total
        await press(pilot, "up", "f10")
        assert lines(app) == [("MILK", 2), ("MASCARA", 1)]
        milk = app.checkout.view.quote.lines[0].line.unit_price
        assert app.checkout.view.quote.total == total - milk
        due = f"Due {app.checkout.view.quote.due} EUR"
        assert any(due in " ".join(line.split()) for line in screen_lines(app))
        await type_text(pilot, "COF", enter=False)
        await press(pilot, "f10", "f10")
        assert lines(app) == [("MASCARA", 1)]  # the second F10 took the last milk
        assert app.checkout.item_field.value == "COF"
        await press(pilot, "f10")
        assert lines(app) == []
        await press(pilot, "f10")
        assert "there is no unit to take off" in notes(app)[-1]


async def test_delete_on_an_empty_basket_says_there_is_no_line_to_remove(make_app):
    """QA: Delete on an empty basket did nothing and said nothing (F10 says why): the cashier
    pressed it again and again."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "MILK")
        await press(pilot, "delete")
        assert lines(app) == []
        assert notes(app) == []
        await press(pilot, "delete")
        assert notes(app)[-1] == "The basket is empty: there is no line to remove."
        assert lines(app) == []


async def test_the_footer_and_the_help_show_the_key_for_one_unit_less(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = " ".join(screen_lines(app)[-1].split())
        assert "F10 -1" in footer and footer.endswith("F1 Help"), footer
        await press(pilot, "f1")
        assert "F10 One unit less on the selected line" in text_in(app.screen, ".body-text")


async def test_f10_or_delete_while_the_sale_is_recorded_says_so(make_app, terminal):
    """QA: F10 or Delete pressed between F9 and its receipt said 'Select a line first': the
    sale had taken the lines, and the key found the next customer's empty basket."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in ("f10", "delete"):
            await type_text(pilot, "3*MILK")
            held = threading.Event()
            app.submit("hold", held.wait)  # the service thread busy: the sale waits its turn
            try:
                await pilot.press("f9", key)
                for _ in range(100):
                    if notes(app):
                        break
                    await pilot.pause(0.01)
                said = notes(app)  # while the sale waits (once recorded, it clears refusals)
            finally:
                held.set()
            assert said == ["The sale is being recorded: its lines can no longer change."]
            await until(pilot, lambda: isinstance(app.screen, TextScreen))
            assert not any("Select a line" in said for said in notes(app))
            await press(pilot, "enter")  # the receipt preview closed
    assert [e["type"] for e in terminal.store.events()] == ["checkout", "checkout"]


async def test_information_shown_after_a_refusal_stays_when_the_next_step_works(
    make_app, key_clock
):
    """QA (found with the manager's Y): an adjustment's 'the balance is now 500' went at once,
    cleared with the refusal still up before it when the basket was priced again."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "NOSUCHTHING")
        app.notify("Ben Carter: +500 points; the balance is now 500.", title="Adjust points")
        await scan(pilot, key_clock, COFFEE_EAN)
        assert lines(app) == [("COFFEE", 1)]
        assert notes(app) == ["Ben Carter: +500 points; the balance is now 500."]


async def test_several_lines_pasted_into_the_item_field_are_each_an_entry(make_app):
    """QA: pasting "COFFEE\\nMILK" (a list copied from a note) kept COFFEE in the field and
    dropped MILK without a word. Each line pasted is an entry, as if typed with its Enter; with
    a line that is no entry, none goes and the line is named."""
    from textual.events import Paste

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        field = app.query_one(ItemField)
        field.post_message(Paste("COFFEE\n0*BREAD\nMASCARA\n"))
        await settle(pilot)
        assert lines(app) == [] and field.value == ""
        assert notes(app)[-1] == (
            "Nothing pasted was entered: '0*BREAD': The quantity must be at least 1."
        )
        field.value = "2*"
        field.post_message(Paste("MILK\n\nCOFFEE\r\nMASCARA"))
        await until(pilot, lambda: len(lines(app)) == 3)
        assert lines(app) == [("MILK", 2), ("COFFEE", 1), ("MASCARA", 1)]
        assert field.value == ""
        field.post_message(Paste("BREAD"))  # one line: typed into the field, Enter to send
        await settle(pilot)
        assert field.value == "BREAD" and len(lines(app)) == 3
