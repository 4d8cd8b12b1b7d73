"""F9 prints to the configured receipt printer (a TCP printer on loopback); a printer that is
off leaves the sale recorded, says so in plain words and keeps the receipt queued for a reprint."""

from __future__ import annotations

import time

from hardware.printer_sim import PrinterSim
from loyalty_pos.bootstrap import open_terminal
from loyalty_pos.tui.screens.text import TextScreen

from .conftest import NOW
from .pilot import notes, open_menu, text_in, until
from .test_sale_and_refund import sell


def with_printer(terminal, url: str):  # type: ignore[no-untyped-def]
    with (terminal.home / "terminal.toml").open("a") as f:
        f.write(f'\n[printer]\nurl = "{url}"\ntimeout_s = 1.0\n')
    t = open_terminal(terminal.home)
    t.clock = lambda: NOW
    return t


async def test_completing_a_sale_prints_the_receipt_with_its_barcode(make_app, terminal) -> None:
    with PrinterSim() as sim:
        t = with_printer(terminal, sim.url)
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: any(b"DEMO1-000001" in j for j in sim.received))
            await until(
                pilot,
                lambda: (
                    (
                        t.store.one(
                            "SELECT printed_at FROM receipt_prints p JOIN journal j ON j.seq = p.seq "
                            "WHERE j.receipt_id = 'DEMO1-000001'"
                        )
                        or [None]
                    )[0]
                    is not None
                ),
            )
        job = next(j for j in sim.received if b"DEMO1-000001" in j)
    assert job.startswith(b"\x1b@") and b"\x1dk" in job


async def test_a_printer_that_is_off_keeps_the_sale_and_queues_the_receipt(
    make_app, terminal
) -> None:
    with PrinterSim(mode="refuse") as sim:
        t = with_printer(terminal, sim.url)
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: t.store.unprinted() == ["DEMO1-000001"])
            assert any("print" in n.lower() for n in notes(app))
    assert t.store.event_by_receipt("DEMO1-000001") is not None


async def test_a_failed_print_is_one_message_saying_what_went_wrong_and_what_to_do(
    make_app, terminal
) -> None:
    """QA: F9 with the printer off showed the printer's error and, beside it, the receipt's
    message repeating it. One message: what went wrong, what to do, the reprint key."""
    with PrinterSim(mode="refuse") as off:
        t = with_printer(terminal, off.url)
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.checkout.status_bar.device_state("printer") == "absent")
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: t.store.unprinted() == ["DEMO1-000001"])
            await until(pilot, lambda: any("DEMO1-000001" in n for n in notes(app)))
            about_printer = [n for n in notes(app) if f"127.0.0.1:{off.port}" in n]
    assert about_printer == [
        f"The receipt printer 127.0.0.1:{off.port} cannot be reached. Receipt DEMO1-000001 did "
        "not print and stays queued: check that it is on and connected, then press F8 then 5 "
        "to print it."
    ]
    # Kept with the receipt as two sentences, each with its full stop.
    [(kept,)] = t.store.conn.execute("SELECT print_error FROM receipt_prints").fetchall()
    assert kept == (
        f"The receipt printer 127.0.0.1:{off.port} cannot be reached. "
        "Check that it is on and connected."
    )


async def test_a_printer_back_after_a_failed_print_shows_in_the_status_bar_without_a_print(
    make_app, terminal
) -> None:
    """Paper loaded, cable back: the printer is asked again in the background, the status bar
    shows it ready, and the cashier is told once, with the receipt F8 5 prints."""
    with PrinterSim(mode="refuse") as off:
        port = off.port
        with (terminal.home / "terminal.toml").open("a") as f:
            f.write(f'\n[printer]\nurl = "{off.url}"\ntimeout_s = 1.0\nrecheck_s = 0.1\n')
    t = open_terminal(terminal.home)
    t.clock = lambda: NOW
    app = make_app(t)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.checkout.status_bar
        await until(pilot, lambda: bar.device_state("printer") == "absent")
        await sell(pilot, "MASCARA")
        await until(pilot, lambda: t.store.unprinted() == ["DEMO1-000001"])
        assert bar.device_state("printer") == "absent"
        with PrinterSim(port) as sim:
            await until(pilot, lambda: bar.device_state("printer") == "ready")
            back = "Printer ready again. 1 receipt(s) did not print (DEMO1-000001): F8 then 5 prints it."
            await until(pilot, lambda: back in notes(app))
            asked = len(sim.raw)
            await until(pilot, lambda: app._printer_recheck is None)
            await pilot.pause(0.3)  # three intervals: a printer that is ready is not asked again
            assert len(sim.raw) == asked and sim.received == [b""] * asked
        assert notes(app).count(back) == 1
    assert t.store.unprinted() == ["DEMO1-000001"]  # F8 5 prints it; nothing printed by itself


async def test_a_receipt_that_did_not_print_prints_from_the_manager_menu_once_the_printer_is_back(
    make_app, terminal
) -> None:
    """Paper out during a queue: F8 then 5 prints the queued receipt itself (the original), not
    the last sale's; a reprint of a receipt that did print is marked COPY on the paper."""
    with PrinterSim(mode="refuse") as off:
        t = with_printer(terminal, off.url)
        port = off.port
    app = make_app(t)
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA")  # DEMO1-000001: the printer is off
        await until(pilot, lambda: t.store.unprinted() == ["DEMO1-000001"])
        await pilot.press("escape")  # the receipt preview
        with PrinterSim(port) as sim:
            await sell(pilot, "MILK")  # DEMO1-000002 prints
            await until(pilot, lambda: any(b"DEMO1-000002" in j for j in sim.received))
            await pilot.press("escape")
            await open_menu(pilot)
            await pilot.press("5")
            await until(pilot, lambda: any(b"DEMO1-000001" in j for j in sim.received))
            await until(pilot, lambda: t.store.unprinted() == [])
            first = next(j for j in sim.received if b"DEMO1-000001" in j)
            assert b"COPY" not in first  # it never printed: this is the original
            await pilot.press("escape")
            await open_menu(pilot)
            await pilot.press("5")  # nothing queued: the last receipt again
            await until(pilot, lambda: sum(b"DEMO1-000002" in j for j in sim.received) == 2)
            copy = [j for j in sim.received if b"DEMO1-000002" in j][-1]
            assert b"COPY" in copy
    assert any("did not print: DEMO1-000001" in n for n in notes(app))


async def test_devices_missing_at_start_are_said_with_their_reason_and_the_till_sells_by_keyboard(
    make_app, terminal, tmp_path
) -> None:
    """IT set up a scanner port and a printer that are not there: the status bar says only
    'absent', so the reasons come as toasts at start and stay in F1; typed items still sell."""
    from loyalty_pos.tui.screens.help import HelpScreen

    from .pilot import press, text_in

    missing = tmp_path / "ttyACM9"
    with PrinterSim(mode="refuse") as off:
        with (terminal.home / "terminal.toml").open("a") as f:
            f.write(f'\n[scanner]\nenabled = true\nport = "{missing}"\n')
        t = with_printer(terminal, off.url)
        app = make_app(t)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: len(notes(app)) >= 2)
            said = " ".join(notes(app))
            assert f"No scanner at {missing}: is it plugged in?" in said
            assert f"The receipt printer 127.0.0.1:{off.port} cannot be reached" in said
            await press(pilot, "f1")
            assert isinstance(app.screen, HelpScreen)
            shown = "".join(text_in(app.screen, ".body-text").split())  # a long path is folded
            assert f"scanner{missing}:absent:Noscannerat{missing}:isitpluggedin?" in shown
            assert f"printerprinter:absent:Thereceiptprinter127.0.0.1:{off.port}" in shown
            await pilot.press("escape")
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: t.store.unprinted() == ["DEMO1-000001"])


async def test_a_reprint_asked_while_the_receipt_is_still_printing_comes_out_as_a_copy(
    make_app, terminal
) -> None:
    """A slow printer still taking the sale's receipt (its barcode and QR code as pictures),
    the customer asks for a copy at once: F8 then 5 reprinted the last receipt as a second
    original, because the first had not yet been recorded as printed when the reprint was
    built. Nor is it offered as one that did not print (it is queued while it prints, in case
    the till is closed): F8 5 reprints the last receipt, as for any printed one."""
    with PrinterSim(rate=2000) as sim:
        with (terminal.home / "terminal.toml").open("a") as f:
            f.write(
                f'\n[printer]\nurl = "{sim.url}"\ntimeout_s = 1.0\nprofile = "POS-5890"\n'
                "dots = 384\nwidth_chars = 32\nqr = true\n"
            )
        t = open_terminal(terminal.home)
        t.clock = lambda: NOW
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await sell(pilot, "MASCARA")
            await pilot.press("escape")  # the receipt preview
            await open_menu(pilot)
            await pilot.press("5")  # nothing queued: the last receipt again, while it prints
            await until(pilot, lambda: sum(b"DEMO1-000001" in j for j in sim.received) == 2)
            first, second = [j for j in sim.received if b"DEMO1-000001" in j]
            said = notes(app)
    assert b"COPY" not in first and b"COPY" in second
    assert not [n for n in said if "did not print" in n], said


async def test_a_receipt_that_did_not_print_is_one_message_while_the_printer_stays_in_error(
    make_app, terminal
) -> None:
    """Out of paper at F9: the receipt's message says it, and the recheck finding the printer
    in the same state says nothing more (a printer state that has not changed is not said
    again)."""
    with PrinterSim(paper="out") as sim:
        with (terminal.home / "terminal.toml").open("a") as f:
            f.write(f'\n[printer]\nurl = "{sim.url}"\ntimeout_s = 1.0\nrecheck_s = 0.1\n')
        t = open_terminal(terminal.home)
        t.clock = lambda: NOW
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            bar = app.checkout.status_bar
            await until(pilot, lambda: bar.device_state("printer") == "error")
            await pilot.pause(0.5)  # the toast of the state at start
            app.clear_notifications()
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: t.store.unprinted() == ["DEMO1-000001"])
            asked = len(sim.raw)
            await until(pilot, lambda: len(sim.raw) >= asked + 3)  # three rechecks since
            about_printer = [n for n in notes(app) if "printer" in n]
    assert about_printer == [
        f"The receipt printer 127.0.0.1:{sim.port} is out of paper. Receipt DEMO1-000001 did not "
        "print and stays queued: load a new roll, then press F8 then 5 to print it."
    ]


async def test_a_receipt_printing_when_the_till_is_closed_stays_queued(make_app, terminal) -> None:
    """Ctrl+Q (or a power cut) while the printer still had the receipt: the print's outcome
    came after the app had stopped recording anything, and the receipt was in no queue, so F8 5
    and the printer's return never offered it."""
    with PrinterSim(stall_after=0) as sim:
        t = with_printer(terminal, sim.url)
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.checkout.status_bar.device_state("printer") == "error")
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: len(sim.raw) >= 2)  # the receipt's connection is open
    assert t.store.unprinted() == ["DEMO1-000001"]


async def test_a_receipt_that_finishes_printing_as_the_till_is_closed_is_recorded_as_printed(
    make_app, terminal
) -> None:
    """F9 then Ctrl+Q at once, the printer still taking the receipt: the app waits for it, and
    the print is recorded as it ends, not left queued (F8 5 would print a second original)."""
    with PrinterSim(rate=2000) as sim:
        with (terminal.home / "terminal.toml").open("a") as f:
            f.write(
                f'\n[printer]\nurl = "{sim.url}"\ntimeout_s = 1.0\nprofile = "POS-5890"\n'
                "dots = 384\nwidth_chars = 32\nqr = true\n"
            )
        t = open_terminal(terminal.home)
        t.clock = lambda: NOW
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: any(b"DEMO1-000001" in j for j in sim.received))
        # The app has stopped; the printer takes the rest of the receipt.
        deadline = time.monotonic() + 5
        while not t.store.was_printed("DEMO1-000001"):
            assert time.monotonic() < deadline, f"not recorded: {t.store.unprinted()}"
            time.sleep(0.05)
    assert t.store.unprinted() == []


async def reprint_window(pilot) -> TextScreen:  # type: ignore[no-untyped-def]
    """From the sale's receipt preview: closed, then F8 then 5 with nothing queued; the window
    of the last receipt, once it is up."""
    await pilot.press("escape")
    await open_menu(pilot)
    await pilot.press("5")
    await until(pilot, lambda: isinstance(pilot.app.screen, TextScreen))
    shown = pilot.app.screen
    assert isinstance(shown, TextScreen)
    return shown


async def test_the_reprint_of_a_receipt_never_printed_is_no_copy_on_screen(make_app) -> None:
    """A till with no printer (the demo's: the status bar says it is off), F8 then 5: the
    window was titled "(copy)" over a receipt without COPY on it. A receipt that never came out
    of a printer is no copy: the title and the receipt say the same."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sell(pilot, "MASCARA")
        shown = await reprint_window(pilot)
        assert shown.title_text == "Receipt DEMO1-000001"
        assert "COPY" not in text_in(shown, ".body-text")


async def test_the_reprint_of_a_printed_receipt_shows_the_copy_the_printer_prints(
    make_app, terminal
) -> None:
    """The receipt came out of the printer: F8 then 5 prints it again marked COPY, and the
    window shows it as printed, COPY under the store's name, not only in its title."""
    with PrinterSim() as sim:
        t = with_printer(terminal, sim.url)
        app = make_app(t)
        async with app.run_test(size=(80, 24)) as pilot:
            await sell(pilot, "MASCARA")
            await until(pilot, lambda: t.store.was_printed("DEMO1-000001"))
            shown = await reprint_window(pilot)
            assert shown.title_text == "Receipt DEMO1-000001 (copy)"
            assert "COPY" in text_in(shown, ".body-text")
            await until(pilot, lambda: sum(b"DEMO1-000001" in j for j in sim.received) == 2)
