"""The checkout app in the smallest terminal it is made for (80x24): what is drawn there can be
read."""

from __future__ import annotations

from loyalty_pos.tui.screens.manager import ManagerScreen

from .pilot import open_menu, screen_lines, settle


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
