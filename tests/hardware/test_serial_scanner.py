"""Serial barcode scanners through pyserial on a pty pair (hardware/pty_scanner.py): the terminal
opens the pty by its path exactly as it opens /dev/ttyACM0, and the test plays the scanner.

Told as the counter sees it: clean scans in every framing, scanners that add AIM identifiers or a
prefix, line noise, a scan cut off half-way, a cable pulled and plugged back in.
"""

from __future__ import annotations

import logging
import queue
import random
import time

import pytest

from hardware.pty_scanner import PtyScanner
from loyalty_pos.devices.events import DeviceEvent, StatusBoard
from loyalty_pos.domain.errors import DeviceError

pytestmark = pytest.mark.hardware

EAN13 = "4006381333931"
SCAN_TIMEOUT = 2.0


def next_event(events: queue.Queue[DeviceEvent], timeout: float = SCAN_TIMEOUT) -> DeviceEvent:
    try:
        return events.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no DeviceEvent within {timeout} s")


def ready(board: StatusBoard, scanner: PtyScanner, timeout: float = 3.0) -> None:
    assert board.wait_for(scanner.path, "ready", timeout), board.get(scanner.path)
    scanner.release_slave()


def test_a_scan_becomes_one_code_event(pty_scanner, scanner_loop, events, board):
    scanner_loop(port=pty_scanner.path)
    ready(board, pty_scanner)
    pty_scanner.send(EAN13)
    event = next_event(events)
    assert (event.kind, event.text, event.source) == ("code", EAN13, "serial")
    assert event.device == pty_scanner.path
    assert event.symbology is None
    assert events.empty()


@pytest.mark.parametrize(
    ("terminator", "end"),
    [("cr", b"\r"), ("lf", b"\n"), ("crlf", b"\r\n"), ("any", b"\r"), ("any", b"\r\n")],
)
def test_each_framing_reads_every_code(pty_scanner, scanner_loop, events, board, terminator, end):
    scanner_loop(port=pty_scanner.path, terminator=terminator)
    ready(board, pty_scanner)
    codes = ["CARD-0001", EAN13, "RECEIPT T1-000017"]
    pty_scanner.write(b"".join(code.encode() + end for code in codes))  # in one burst
    assert [next_event(events).text for _ in codes] == codes
    time.sleep(0.3)
    assert events.empty()


def test_aim_identifiers_are_stripped_and_kept_as_the_symbology(
    pty_scanner, scanner_loop, events, board
):
    scanner_loop(port=pty_scanner.path)
    ready(board, pty_scanner)
    pty_scanner.send(EAN13, aim="]E0")
    pty_scanner.send("T1-000017", aim="]C0")
    pty_scanner.send("https://example.com/c/123", aim="]Q1")
    got = [next_event(events) for _ in range(3)]
    assert [(e.text, e.symbology) for e in got] == [
        (EAN13, "]E0"),
        ("T1-000017", "]C0"),
        ("https://example.com/c/123", "]Q1"),
    ]


def test_an_ean_with_a_wrong_check_digit_is_dropped_and_the_next_scan_reads(
    pty_scanner, scanner_loop, events, board, caplog
):
    loop = scanner_loop(port=pty_scanner.path)
    ready(board, pty_scanner)
    with caplog.at_level(logging.WARNING, logger="loyalty_pos.devices.serial_scanner"):
        pty_scanner.send("4006381333932", aim="]E0")
        pty_scanner.send(EAN13, aim="]E0")
        assert next_event(events).text == EAN13
    assert "check digit" in caplog.text
    assert loop.dropped == 1


def test_line_noise_is_dropped_with_a_reason_and_the_next_scan_reads(
    pty_scanner, scanner_loop, events, board, caplog
):
    loop = scanner_loop(port=pty_scanner.path)
    ready(board, pty_scanner)
    noise = random.Random(7).randbytes(300)
    with caplog.at_level(logging.WARNING, logger="loyalty_pos.devices.serial_scanner"):
        pty_scanner.write(noise + b"\r")  # ends with a terminator, as a glitch may
        pty_scanner.write(b"\x1b[31mRED\x1b[0m\r")  # an escape sequence
        pty_scanner.send(EAN13)
        assert next_event(events).text == EAN13
    assert events.empty()
    assert loop.dropped >= 2
    assert "dropped a frame" in caplog.text
    assert "escape sequence" in caplog.text


def test_a_scanner_sending_no_terminator_says_whom_to_call_not_only_to_scan_again(
    pty_scanner, board, events
):
    """A scanner set to send no end-of-code (no CR or LF after the code): every scan arrives
    whole and is dropped after the silence. "Only part of the code arrived, scan it again"
    had the cashier scan again for ever; the line too long says whom to call, this says it too."""
    from loyalty_pos.devices.events import ScanRejected
    from loyalty_pos.devices.serial_scanner import ScannerConfig, ScannerLoop

    rejected: queue.Queue[ScanRejected] = queue.Queue()
    config = ScannerConfig(port=pty_scanner.path, inter_char_timeout_s=0.1)
    with ScannerLoop(config, events.put, board, on_rejected=rejected.put):
        ready(board, pty_scanner)
        pty_scanner.write(EAN13.encode())
        said = rejected.get(timeout=SCAN_TIMEOUT).said
    assert said.startswith("only part of the code arrived")
    assert "call IT if it keeps happening: the scanner's end-of-code setting" in said
    assert events.empty()


def test_each_rejected_scan_is_reported_once_in_the_cashiers_words_and_a_burst_of_noise_once(
    pty_scanner, board, events
):
    """The scanner beeps for what the till then drops: the app must be told, once per scan (a
    line of noise is many frames at once, told as one)."""
    from loyalty_pos.devices.events import ScanRejected
    from loyalty_pos.devices.serial_scanner import ScannerConfig, ScannerLoop

    rejected: queue.Queue[ScanRejected] = queue.Queue()
    now = [100.0]
    config = ScannerConfig(port=pty_scanner.path, inter_char_timeout_s=0.1)
    with ScannerLoop(config, events.put, board, clock=lambda: now[0], on_rejected=rejected.put):
        ready(board, pty_scanner)
        pty_scanner.send("4006381333932", aim="]E0")  # wrong check digit
        first = rejected.get(timeout=SCAN_TIMEOUT)
        assert "check digit" in first.said and first.device == pty_scanner.path

        now[0] += 10  # the cashier scans something else, later
        noise = random.Random(7).randbytes(300)
        pty_scanner.write(noise + b"\r" + b"\x1b[31mRED\x1b[0m\r" + b"\x00\x01\r")
        pty_scanner.send(EAN13)
        assert next_event(events).text == EAN13
        burst = rejected.get(timeout=SCAN_TIMEOUT)
        assert "garbled" in burst.said
        assert rejected.empty()  # several frames dropped, one rejection

        now[0] += 0.1  # right after a good scan: a bad one is news again
        pty_scanner.send("4006381333932")
        assert "check digit" in rejected.get(timeout=SCAN_TIMEOUT).said
        pty_scanner.send("CARD-0009")
        assert next_event(events).text == "CARD-0009"
    assert rejected.empty()


def test_half_a_scan_then_silence_is_dropped_and_not_glued_to_the_next(
    pty_scanner, scanner_loop, events, board, caplog
):
    scanner_loop(port=pty_scanner.path, inter_char_timeout_s=0.1)
    ready(board, pty_scanner)
    with caplog.at_level(logging.WARNING, logger="loyalty_pos.devices.serial_scanner"):
        pty_scanner.write(b"400638")  # the scanner was reset mid-frame
        time.sleep(0.4)
        pty_scanner.send("CARD-0002")
        assert next_event(events).text == "CARD-0002"
    assert "half a frame (6 bytes)" in caplog.text


def test_a_stream_without_terminators_is_cut_off(pty_scanner, scanner_loop, events, board, caplog):
    """A line too long to be a code (a runaway, a 2D code's long URL) is dropped to its
    terminator: the bytes after the cut do not come out as a code of their own."""
    loop = scanner_loop(port=pty_scanner.path, terminator="cr", inter_char_timeout_s=1.0)
    ready(board, pty_scanner)
    with caplog.at_level(logging.WARNING, logger="loyalty_pos.devices.serial_scanner"):
        pty_scanner.write(b"A" * 400)
        deadline = time.monotonic() + SCAN_TIMEOUT
        while loop.dropped < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the cut, well within the inter-character timeout
        assert loop.dropped == 1
        pty_scanner.send("LC00100037")  # the line's end: it would pass for a card
        pty_scanner.send("CARD-0003")
        assert next_event(events).text == "CARD-0003"
    assert "no terminator" in caplog.text
    assert loop.dropped == 1


def test_the_configured_prefix_and_suffix_are_stripped(pty_scanner, scanner_loop, events, board):
    scanner_loop(port=pty_scanner.path, prefix="\x02", suffix="\x03")
    ready(board, pty_scanner)
    pty_scanner.write(b"\x02CARD-0004\x03\r")
    pty_scanner.write(b"CARD-0005\r")  # a frame without them still reads
    assert [next_event(events).text for _ in range(2)] == ["CARD-0004", "CARD-0005"]


def test_an_unplugged_scanner_is_reopened_when_it_comes_back(
    pty_scanner, scanner_loop, events, board
):
    loop = scanner_loop(port=pty_scanner.path)
    ready(board, pty_scanner)
    pty_scanner.send("CARD-0006")
    assert next_event(events).text == "CARD-0006"

    pty_scanner.unplug()
    status = board.wait_for(pty_scanner.path, "absent", 3.0)
    assert status is not None
    # in the cashier's words, not pyserial's ("device reports readiness to read but ...")
    assert status.reason == (
        f"The scanner at {pty_scanner.path} was unplugged: plug it back in "
        "(it is picked up by itself)."
    )
    time.sleep(0.5)  # several failed reopens with backoff
    assert loop.running
    # The reopens that fail while it is away leave those words: they say it comes back alone.
    assert board.wait_for(pty_scanner.path, "absent", 0).reason == status.reason

    pty_scanner.plug()  # comes back as another /dev/pts/N behind the same stable link
    ready(board, pty_scanner)
    pty_scanner.send("CARD-0007")
    assert next_event(events).text == "CARD-0007"


def test_a_scanner_missing_at_start_is_picked_up_when_plugged_in(
    tmp_path, scanner_loop, events, board
):
    link = tmp_path / "later"
    loop = scanner_loop(port=str(link))
    status = board.wait_for(str(link), "absent", 3.0)
    assert status is not None and "is it plugged in" in (status.reason or "")
    with PtyScanner(link=link) as scanner:
        ready(board, scanner)
        scanner.send(EAN13)
        assert next_event(events).text == EAN13
    assert loop.running


def test_stop_returns_promptly(pty_scanner, board):
    from loyalty_pos.devices.serial_scanner import ScannerConfig, ScannerLoop

    loop = ScannerLoop(ScannerConfig(port=pty_scanner.path, inter_char_timeout_s=3.0), print, board)
    loop.start()
    ready(board, pty_scanner)
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 1.0
    assert not loop.running


# -- one-shot functions the CLI calls ------------------------------------------------------------


def test_scan_serial_returns_the_first_good_code(pty_scanner):
    import threading

    from loyalty_pos.devices.commands import scan_serial
    from loyalty_pos.devices.serial_scanner import ScannerConfig

    def scan_later() -> None:
        time.sleep(0.3)
        pty_scanner.write(b"\x00\xff\r")
        pty_scanner.send(EAN13, aim="]E0")

    threading.Thread(target=scan_later, daemon=True).start()
    result = scan_serial(pty_scanner.path, 3.0, ScannerConfig())
    assert result == {
        "port": pty_scanner.path,
        "code": EAN13,
        "symbology": "]E0",
        "source": "serial",
    }


def test_scan_serial_without_a_scan_says_so_in_a_sentence(pty_scanner):
    from loyalty_pos.devices.commands import scan_serial
    from loyalty_pos.devices.serial_scanner import ScannerConfig

    with pytest.raises(DeviceError, match=r"No barcode was scanned on .* within 0.5 seconds\."):
        scan_serial(pty_scanner.path, 0.5, ScannerConfig())
    with pytest.raises(DeviceError, match=r"No barcode was scanned on .* within 1 second\."):
        scan_serial(pty_scanner.path, 1.0, ScannerConfig())  # not "1 seconds"


def test_scan_serial_on_a_missing_port_says_so(tmp_path):
    from loyalty_pos.devices.commands import scan_serial
    from loyalty_pos.devices.serial_scanner import ScannerConfig

    with pytest.raises(DeviceError, match="is it plugged in"):
        scan_serial(str(tmp_path / "nothing"), 0.5, ScannerConfig())
    with pytest.raises(DeviceError, match="USB id 05E0:1200"):
        scan_serial("usb:05e0:1200", 0.5, ScannerConfig())
