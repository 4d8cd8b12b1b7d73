"""The real ``loyalty-pos run`` in a real terminal (tmux), driven by keys as a cashier types them.

A card number, two items and F9; then what the screen shows and what the journal recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty_pos.bootstrap import make_demo_home

pytestmark = pytest.mark.e2e

ANNA = "04A1B2C3D4E500"
BIN = Path(sys.executable).parent
KEY_GAP_S = 0.08  # a quick typist; far slower than a scanner


def loyalty_pos(*args: str) -> list[str]:
    script = BIN / "loyalty-pos"
    return (
        [str(script), *args]
        if script.exists()
        else [sys.executable, "-m", "loyalty_pos.cli", *args]
    )


class Tmux:
    """One tmux server of our own (``-L``), one session, 100 x 30 unless told."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        config: Path,
        size: tuple[int, int] = (100, 30),
    ) -> None:
        self.socket = f"loyalty-e2e-{uuid.uuid4().hex[:8]}"
        width, height = size
        # Our own config: no ~/.tmux.conf, and a window that keeps its size with no client.
        config.write_text(f"set -g default-size {width}x{height}\n")
        self.config = config
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # tmux sizes a detached window just after starting its command: wait for that, or the
        # app may start at 80 x 24 and never see the resize.
        line = f"sleep 0.5; env {exports} {' '.join(command)}; sleep 30"
        self.tmux("new-session", "-d", "-s", "pos", "-x", str(width), "-y", str(height), line)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "pos")

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def type(self, text: str) -> None:
        for char in text:
            self.tmux("send-keys", "-t", "pos", "-l", char)
            time.sleep(KEY_GAP_S)

    def key(self, *names: str) -> None:
        self.tmux("send-keys", "-t", "pos", *names)
        time.sleep(KEY_GAP_S)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "terminal"
    make_demo_home(home).store.close()
    return home


def app_in_tmux(home: Path, size: tuple[int, int] = (100, 30)) -> Iterator[Tmux]:
    """``loyalty-pos run`` on ``home`` in a tmux terminal of ``size``; closed after the test."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed (scripts/test installs it)")
        pytest.skip("tmux is not installed")
    env = {"TERM": "xterm-256color", "LOYALTY_POS_HOME": str(home), "TZ": "Europe/Berlin"}
    command = loyalty_pos("run", "--home", str(home))
    session = Tmux(command, env, home.parent / "tmux.conf", size=size)
    yield session
    session.close()


@pytest.fixture
def tmux(home: Path) -> Iterator[Tmux]:
    yield from app_in_tmux(home)


@pytest.fixture
def tmux_80x24(home: Path) -> Iterator[Tmux]:
    """The app in the smallest terminal it is made for."""
    yield from app_in_tmux(home, size=(80, 24))


def test_a_cashier_sells_two_items_to_a_member(tmux: Tmux, home: Path) -> None:
    tmux.wait_for("Scan or type an item")
    tmux.type(ANNA)
    tmux.key("Enter")
    tmux.wait_for("Anna Schmidt")
    tmux.type("MASCARA")
    tmux.key("Enter")
    tmux.wait_for("Volume mascara")
    tmux.type("2*COFFEE")
    tmux.key("Enter")
    tmux.wait_for("Filter coffee")
    tmux.key("F9")
    screen = tmux.wait_for("Sale recorded: DEMO1-000001")
    assert "points earned" in screen and "new balance" in screen
    assert "Volume mascara black" in screen  # the receipt preview
    tmux.key("Enter")
    tmux.wait_for("No card")
    tmux.key("C-q")  # the basket is empty: quits without asking

    journal = subprocess.run(
        loyalty_pos("journal", "--home", str(home)),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    events = [json.loads(line) for line in journal.stdout.splitlines() if line.strip()]
    sales = [e for e in events if e["type"] == "checkout"]
    assert len(sales) == 1
    sale = sales[0]
    assert (sale["receipt_id"], sale["member_id"], sale["card"]) == ("DEMO1-000001", "M0001", ANNA)
    assert [(line["sku"], line["qty"]) for line in sale["lines"]] == [("MASCARA", 1), ("COFFEE", 2)]
    assert sale["total_minor"] == 1295 + 2 * 240


def test_a_card_and_an_item_scanned_back_to_back_leave_the_item_field_empty(
    tmux: Tmux, home: Path
) -> None:
    """Two keyboard-wedge scans a few milliseconds apart: both are routed, and the card's
    number does not stay in the item field to attach that card at the next customer."""
    tmux.wait_for("Scan or type an item")
    for keys in (["-l", ANNA], ["Enter"], ["-l", "MASCARA"], ["Enter"]):
        tmux.tmux("send-keys", "-t", "pos", *keys)  # as fast as tmux takes them: a scanner
    tmux.wait_for("Volume mascara")
    tmux.wait_for("Anna Schmidt")
    time.sleep(0.3)
    assert ANNA not in tmux.screen()  # the panel shows the card masked; the field is empty
    tmux.key("F9")
    tmux.wait_for("Sale recorded: DEMO1-000001")
    tmux.key("Enter")
    tmux.wait_for("No card")
    tmux.key("Enter")
    time.sleep(0.5)
    assert "Anna Schmidt" not in tmux.screen()


@pytest.mark.parametrize("first", ["MILK", "3*MILK"])
def test_a_short_code_at_scanner_speed_right_before_a_scan_is_sold_too(
    tmux: Tmux, home: Path, first: str
) -> None:
    """QA: a code too short for a scan (a shelf label's SKU, a quantity typed fast) and its
    Enter, then a scan, all within milliseconds: the Enter reached the field's binding behind
    the scan's keys, so the short code was lost (or its first letter sent alone, "Unknown code
    'M'") and the field was left holding part of it."""
    tmux.wait_for("Scan or type an item")
    tmux.tmux(
        "send-keys",
        "-t",
        "pos",
        "-l",
        first,
        ";",
        "send-keys",
        "-t",
        "pos",
        "Enter",
        ";",
        "send-keys",
        "-t",
        "pos",
        "-l",
        "TEA-GREEN",
        ";",
        "send-keys",
        "-t",
        "pos",
        "Enter",
    )  # one tmux command: the keys reach the app in one read, as a scanner's do
    tmux.wait_for("Green tea")
    screen = tmux.wait_for("Whole milk", timeout=5.0)
    time.sleep(0.5)
    screen = tmux.screen()
    milk = next(line for line in screen.splitlines() if "Whole milk" in line)
    assert milk.split()[4] == ("3" if first.startswith("3*") else "1")
    assert "Unknown code" not in screen
    field = screen.splitlines()[-3]
    assert "Scan or type an item" in field  # the placeholder: the field is empty


def test_a_pin_sent_right_behind_f8_opens_the_manager_menu_and_is_never_shown(
    tmux: Tmux,
) -> None:
    """F8 and the manager PIN in one burst (a keyboard wedge, a macro key, a fast typist): the
    PIN's keys reached the item field before the PIN window was there, and its Enter looked
    the PIN up as an item, "Unknown code '1234'" on screen."""
    tmux.wait_for("Scan or type an item")
    # One tmux command: the keys reach the app in one read.
    tmux.tmux("send-keys", "-t", "pos", "F8", "1", "2", "3", "4", "Enter")
    screen = tmux.wait_for("Adjust a member's points")
    time.sleep(0.5)
    screen = tmux.screen()
    assert "Unknown code" not in screen
    assert "1234" not in screen
    tmux.key("Escape")
    screen = tmux.wait_for("Scan or type an item")  # the item field is empty: its placeholder
    assert "1234" not in screen


def test_ctrl_q_during_a_sync_to_a_ledger_that_does_not_answer_quits_at_once(
    home: Path, tmp_path: Path
) -> None:
    """QA: with a sync waiting on a ledger that took the connection and never answered, Ctrl+Q
    blanked the screen but the process lived on for 12-20 s (the sync's timeouts and retries):
    a cashier restarting the till saw a dead terminal."""
    import socket
    import threading

    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/test installs it)")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []

    def take_and_never_answer() -> None:
        try:
            while True:
                held.append(silent.accept()[0])
        except OSError:  # the test closed the listener
            pass

    threading.Thread(target=take_and_never_answer, daemon=True).start()
    port = silent.getsockname()[1]
    env = {
        "TERM": "xterm-256color",
        "LOYALTY_POS_HOME": str(home),
        "TZ": "Europe/Berlin",
        "LOYALTY_POS_LEDGER_URL": f"http://127.0.0.1:{port}",
        "LOYALTY_POS_LEDGER_TOKEN": "a-token-the-silent-ledger-never-reads",
    }
    marker = tmp_path / "ended"
    command = [*loyalty_pos("run", "--home", str(home)), ";", "touch", str(marker)]
    session = Tmux(command, env, tmp_path / "tmux.conf")
    try:
        session.wait_for("Scan or type an item")
        session.key("F12")
        session.wait_for("Syncing with the ledger")
        time.sleep(1.0)  # the sync is waiting for an answer that never comes
        asked = time.monotonic()
        session.key("C-q")
        while not marker.exists() and time.monotonic() - asked < 30:
            time.sleep(0.05)
        took = time.monotonic() - asked
    finally:
        session.close()
        silent.close()
    assert marker.exists() and took < 3.0, f"the app took {took:.1f} s to end"


def _sale_printing_on_a_stalled_printer(home: Path, tmp_path: Path, url: str) -> tuple[Tmux, Path]:
    """The app on ``home`` with the printer at ``url``, a sale just recorded (its receipt on its
    way to the printer); the marker file appears when the app's process has ended."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/test installs it)")
    with (home / "terminal.toml").open("a") as f:
        f.write(f'\n[printer]\nurl = "{url}"\ntimeout_s = 4.0\n')
    env = {"TERM": "xterm-256color", "LOYALTY_POS_HOME": str(home), "TZ": "Europe/Berlin"}
    marker = tmp_path / "ended"
    command = [*loyalty_pos("run", "--home", str(home)), ";", "touch", str(marker)]
    session = Tmux(command, env, tmp_path / "tmux.conf")
    session.wait_for("Scan or type an item")
    session.type("MASCARA")
    session.key("Enter")
    session.wait_for("Volume mascara")
    session.key("F9")
    session.wait_for("Sale recorded: DEMO1-000001")
    session.key("Enter")
    session.wait_for("Scan or type an item")
    return session, marker


def _ended_within(marker: Path, since: float, limit: float) -> float:
    while not marker.exists() and time.monotonic() - since < limit:
        time.sleep(0.05)
    return time.monotonic() - since


def _unprinted(home: Path) -> str:
    code = "import sys; from loyalty_pos.store import open_store; "
    code += "print(open_store(sys.argv[1]).unprinted())"
    found = subprocess.run(
        [sys.executable, "-c", code, str(home / "terminal.db")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return found.stdout


def test_ctrl_q_while_the_receipt_prints_on_a_stalled_printer_waits_for_it_on_screen(
    home: Path, tmp_path: Path
) -> None:
    """QA: F9 then Ctrl+Q with a printer that took the connection and stopped reading: the app
    waited for the print's outcome (so it is recorded) behind a blank screen, for the printer's
    timeout. Now the wait is on screen, named, and the app ends when the print has failed,
    the receipt queued for F8 5."""
    from hardware.printer_sim import PrinterSim

    with PrinterSim(stall_after=0) as sim:
        session, marker = _sale_printing_on_a_stalled_printer(home, tmp_path, sim.url)
        try:
            asked = time.monotonic()
            session.key("C-q")
            screen = session.wait_for("Waiting for the printer", timeout=3.0)
            took = _ended_within(marker, asked, 30)
        finally:
            session.close()
    toast = " ".join(line.split("▌", 1)[1].strip() for line in screen.splitlines() if "▌" in line)
    assert "Waiting for the printer to finish receipt DEMO1-000001" in toast
    assert "Ctrl+Q again closes it now" in toast
    # the printer's timeout (4 s) is for each step: its status asked before and after the data
    assert marker.exists() and 2.0 < took < 2 * 4.0 + 3.0, f"the app took {took:.1f} s to end"
    assert "DEMO1-000001" in _unprinted(home)


def test_ctrl_q_twice_while_the_receipt_prints_closes_at_once_and_leaves_it_queued(
    home: Path, tmp_path: Path
) -> None:
    from hardware.printer_sim import PrinterSim

    with PrinterSim(stall_after=0) as sim:
        session, marker = _sale_printing_on_a_stalled_printer(home, tmp_path, sim.url)
        try:
            session.key("C-q")
            session.wait_for("Waiting for the printer", timeout=3.0)
            asked = time.monotonic()
            session.key("C-q")
            took = _ended_within(marker, asked, 30)
        finally:
            session.close()
    assert marker.exists() and took < 2.0, f"the app took {took:.1f} s to end"
    assert "DEMO1-000001" in _unprinted(home)


def test_ctrl_q_after_the_receipt_printed_closes_at_once(home: Path, tmp_path: Path) -> None:
    from hardware.printer_sim import PrinterSim

    with PrinterSim() as sim:
        session, marker = _sale_printing_on_a_stalled_printer(home, tmp_path, sim.url)
        try:
            sim.wait_for_jobs(1)
            time.sleep(0.5)
            asked = time.monotonic()
            session.key("C-q")
            took = _ended_within(marker, asked, 30)
        finally:
            session.close()
    assert marker.exists() and took < 2.0, f"the app took {took:.1f} s to end"
    assert "DEMO1-000001" not in _unprinted(home)


def test_the_help_scrolls_in_a_real_terminal_by_a_burst_of_down_keys_and_by_page(
    tmux_80x24: Tmux,
) -> None:
    """At 80x24 the help is longer than its window. Five Downs sent at once (a key held down)
    moved it one or two lines; PageDown and End did nothing."""
    tmux = tmux_80x24
    tmux.wait_for("Scan or type an item")
    tmux.key("F1")
    tmux.wait_for("│ F1          This help")
    tmux.key("Down", "Down", "Down", "Down", "Down")
    deadline = time.monotonic() + 5
    while "│ F6          Refund" not in _first_help_line(tmux.screen()):
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.1)
    tmux.key("End")
    screen = tmux.wait_for("│ Scan / tap  Anywhere")
    assert "This help" not in screen
    tmux.key("Home")
    tmux.wait_for("│ F1          This help")
    tmux.key("PageDown")
    screen = tmux.wait_for("│ Scan / tap  Anywhere")
    assert "This help" not in screen


def _first_help_line(screen: str) -> str:
    """The help's first line of text, under its title."""
    lines = screen.splitlines()
    top = next(n for n, line in enumerate(lines) if "╭─ Keys ─" in line)
    return lines[top + 1]
