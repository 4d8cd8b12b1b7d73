"""The keyboard-wedge detector on its own: key rhythms in, verdicts out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loyalty_pos.tui.router import parse_entry, pending_quantity
from loyalty_pos.tui.wedge import MAX_GAP_S, WedgeDetector

from .pilot import notes, scan, settle


def feed(detector: WedgeDetector, text: str, gap: float, start: float = 0.0, enter: bool = True):
    at = start
    verdicts = []
    for char in text:
        at += gap
        verdicts.append(detector.feed(char, char, at))
    if enter:
        at += gap
        verdicts.append(detector.feed("enter", "\r", at))
    return verdicts


def test_a_fast_burst_ending_in_enter_is_a_scan():
    verdicts = feed(WedgeDetector(), "4000010000003", 0.004)
    assert verdicts[0].starts_burst
    assert verdicts[-1].scan == "4000010000003"


def test_a_person_typing_the_same_code_is_not_a_scan():
    assert feed(WedgeDetector(), "4000010000003", 0.15)[-1].scan is None


def test_a_short_burst_is_not_a_scan():
    assert feed(WedgeDetector(), "12345", 0.004)[-1].scan is None


def test_a_scan_after_typing_contains_only_the_scanned_code():
    detector = WedgeDetector()
    feed(detector, "3*", 0.2, enter=False)
    assert feed(detector, "LC00100037", 0.004, start=10.0)[-1].scan == "LC00100037"


def test_a_slow_key_in_the_middle_breaks_the_burst():
    detector = WedgeDetector()
    feed(detector, "400001", 0.004, enter=False)
    assert feed(detector, "0000003", 0.004, start=5.0)[-1].scan == "0000003"
    detector.feed("x", "x", 9.0)
    assert detector.feed("enter", "\r", 9.5).scan is None


@given(st.lists(st.floats(min_value=MAX_GAP_S * 1.5, max_value=2.0), min_size=6, max_size=30))
def test_no_human_rhythm_is_ever_taken_for_a_scan(gaps):
    detector = WedgeDetector()
    at = 0.0
    for gap in gaps:
        at += gap
        detector.feed("a", "a", at)
    assert detector.feed("enter", "\r", at + 0.2).scan is None


def test_quantities_typed_before_a_code():
    assert parse_entry("3*COFFEE") == ("COFFEE", 3)
    assert parse_entry("COFFEE") == ("COFFEE", 1)
    assert pending_quantity("3*") == 3 and pending_quantity("3") is None


async def test_a_quantity_and_code_typed_as_fast_as_a_scanner_still_counts_the_quantity(
    make_app, key_clock
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await scan(pilot, key_clock, "3*COFFEE")
        assert [(line.sku, line.qty) for line in app.checkout.view.basket.lines] == [("COFFEE", 3)]


async def test_a_zero_quantity_typed_as_fast_as_a_scanner_is_refused_as_typed_by_hand(
    make_app, key_clock
):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await scan(pilot, key_clock, "0*MILK")
        assert not app.checkout.view.basket.lines
        assert notes(app)[-1] == "The quantity must be at least 1."
        assert not any("Unknown code" in note for note in notes(app))
        await scan(pilot, key_clock, "2.5*MILK")
        assert not app.checkout.view.basket.lines
        assert notes(app)[-1] == "The quantity must be a whole number (got 2.5)."
        assert not any("Unknown code" in note for note in notes(app))


async def test_a_wedge_scan_the_till_refuses_is_told_in_the_cashiers_words_as_the_serial_ones(
    make_app, key_clock, terminal
):
    """QA: a smudged EAN from the keyboard-wedge scanner said "Code refused: its check digit is
    wrong (the last digit should be 3)...", and a wrong keyboard layout "Code refused: it
    contains a character that is not ASCII ('É' at 3)"; the serial scanner says what to do in
    plain words. The technical reason goes to the error log; the basket stays as it was."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await scan(pilot, key_clock, "MASCARA")
        before = (app.checkout.view.basket, terminal.store.head())
        await scan(pilot, key_clock, "4000010000004")  # COFFEE's EAN, its check digit smudged
        assert notes(app)[-1] == (
            "The last scan was not read: scan it again. The barcode's check digit did not add "
            "up (a smudged or damaged label?); if it fails again, type the number."
        )
        await scan(pilot, key_clock, "CAFÉ-12345")
        assert notes(app)[-1].startswith(
            "The last scan was not read: scan it again. The scanner sent garbled characters"
        )
        assert not any("Code refused" in note or "0x" in note for note in notes(app))
        assert (app.checkout.view.basket, terminal.store.head()) == before
        assert app.checkout.item_field.value == ""
    log = (terminal.home / "error.log").read_text()
    assert "the last digit should be 3" in log and "not ASCII" in log
