"""The whole path from a device to the screen: a tap on the virtual reader (through pcscd) attaches
the member in the checkout app, and a scan on the pty serial scanner adds the item."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hardware.virtual_card import VirtualCard
from loyalty_pos.bootstrap import make_demo_home, open_terminal
from loyalty_pos.tui.app import CheckoutApp

pytestmark = pytest.mark.hardware

ANNA = "04A1B2C3D4E500"
COFFEE_EAN = "4000010000003"


async def wait_for(pilot, condition, timeout: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the device event never reached the screen")


async def test_a_tap_attaches_the_member_and_a_serial_scan_adds_the_item(
    pcscd, pty_scanner, tmp_path: Path
) -> None:
    home = tmp_path / "till"
    make_demo_home(home).store.close()
    with (home / "terminal.toml").open("a") as f:
        f.write(
            '\n[reader]\nenabled = true\nname_filter = "Virtual PCD 00 00"\n'
            f'\n[scanner]\nenabled = true\nport = "{pty_scanner.path}"\nterminator = "cr"\n'
        )
    t = open_terminal(home)
    app = CheckoutApp(t)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.devices.hub is not None)
        await asyncio.sleep(0.5)  # the reader loop's first look at the readers
        with VirtualCard(uid=ANNA):  # on the reader until the member shows
            await wait_for(pilot, lambda: app.checkout.view.member is not None)
        assert app.checkout.view.member.name == "Anna Schmidt"
        pty_scanner.send(COFFEE_EAN)
        await wait_for(pilot, lambda: len(app.checkout.view.basket.lines) == 1)
        assert app.checkout.view.basket.lines[0].sku == "COFFEE"
    t.store.close()


async def test_a_serial_scan_the_till_drops_tells_the_cashier_to_scan_again_once(
    pty_scanner, tmp_path: Path
) -> None:
    """A scan the scanner beeped for but the till refused (a misread check digit, line noise)
    says so in a toast, one per scan: a burst of noise is one toast, not dozens."""
    home = tmp_path / "till"
    make_demo_home(home).store.close()
    with (home / "terminal.toml").open("a") as f:
        f.write(f'\n[scanner]\nenabled = true\nport = "{pty_scanner.path}"\nterminator = "cr"\n')
    t = open_terminal(home)
    app = CheckoutApp(t)
    told = "The last scan was not read: scan it again."
    said: list[str] = []  # every toast, also those cleared since (a scan that works clears it)
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(message), notify(message, **kw))[1]  # type: ignore[method-assign]

    def toasts() -> list[str]:
        return [message for message in said if message.startswith(told)]

    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.checkout.status_bar.device_state("scanner") == "ready")
        pty_scanner.write(b"\x1b[31mRED\x1b[0m\r\xff\xfe\x00\r" + bytes(range(1, 200)) + b"\r")
        pty_scanner.send(COFFEE_EAN)
        await wait_for(pilot, lambda: app.checkout.view and len(app.checkout.view.basket.lines))
        assert len(toasts()) == 1
        assert "garbled characters" in toasts()[0]
        pty_scanner.send("4000010000004")  # the coffee's EAN, misread in its last digit
        await wait_for(pilot, lambda: len(toasts()) == 2)
        assert "check digit did not add up" in toasts()[1]
        assert app._notifications  # still up: nothing worked since
    t.store.close()
