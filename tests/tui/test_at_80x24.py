"""The checkout app in the smallest terminal it is made for (80x24): what is drawn there can be
read."""

from __future__ import annotations

from textual.color import Color

from loyalty_pos.tui.screens.manager import ManagerScreen

from .pilot import fill, open_menu, press, screen_lines, settle


async def test_the_selected_basket_line_is_drawn_as_a_selection_clearly_readable(make_app):
    """QA: the basket never has the focus (the item field keeps it), and its selected line was
    drawn in the faint colours of a table without the focus, hard to tell and to read."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for code in ("MILK", "COFFEE", "MASCARA"):
            await fill(pilot, code)
        await press(pilot, "up")
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        line = next(strip for strip in strips if "Filter coffee" in strip.text)
        style = next(segment.style for segment in line if "Filter coffee" in segment.text)
        assert style is not None and style.bold
        cursor = Color.parse(app.get_css_variables()["block-cursor-background"])
        assert Color.from_rich_color(style.bgcolor) == cursor
        other = next(strip for strip in strips if "Whole milk" in strip.text)
        assert not any(
            segment.style and segment.style.bold for segment in other if "milk" in segment.text
        )


async def test_a_manager_menu_entry_that_wraps_goes_on_under_its_text(make_app):
    """QA: at 80 columns entry 5 wraps, and its second line began under the number, as if it
    were an entry of its own."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_menu(pilot)
        assert isinstance(app.screen, ManagerScreen)
        await pilot.pause()
        lines = screen_lines(app)
        at = next(n for n, line in enumerate(lines) if "5  Print receipts" in line)
        first, then = lines[at], lines[at + 1]
        assert "6  End-of-day" not in then and "(COPY)" in then, then  # it does wrap here
        bar = then.index("▊")  # the list's left edge
        word = then[bar + 1 :].split()[0]
        assert then.index(word, bar) == first.index("Print receipts"), f"{first}\n{then}"
