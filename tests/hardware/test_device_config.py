"""Device config tables, frame splitting, the status board and the hub: the parts of the device
layer that need no device, kept next to the device tests they serve."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime

import pytest

from loyalty_pos.devices.events import DeviceEvent, StatusBoard
from loyalty_pos.devices.hub import DeviceHub
from loyalty_pos.devices.pcsc import PYSCARD_MISSING, ReaderConfig
from loyalty_pos.devices.serial_scanner import FrameSplitter, ScannerConfig
from loyalty_pos.domain.errors import ConfigError, DeviceError

pytestmark = pytest.mark.hardware


def test_reader_config_reads_its_table():
    config = ReaderConfig.from_dict(
        {"enabled": True, "name_filter": "ACR122", "card_source": "ndef_text", "poll_timeout_s": 1},
        "terminal.toml",
    )
    assert config == ReaderConfig(True, "ACR122", "ndef_text", 1.0)
    assert ReaderConfig.from_dict({}, "terminal.toml") == ReaderConfig()
    assert ReaderConfig.from_dict({"name_filter": ""}, "t.toml").name_filter is None


def test_reader_config_errors_name_the_file_and_the_key():
    with pytest.raises(ConfigError) as error:
        ReaderConfig.from_dict(
            {"card_source": "serial", "poll_timeout_s": 0, "reader": "x"}, "/etc/pos/terminal.toml"
        )
    assert error.value.source == "/etc/pos/terminal.toml"
    assert error.value.problems == [
        "devices.reader.reader: unknown key "
        "(known keys: card_source, enabled, name_filter, poll_timeout_s)",
        "devices.reader.card_source: must be one of 'uid', 'ndef_text', got 'serial'",
        "devices.reader.poll_timeout_s: must be a number from 0.05 to 10, got 0",
    ]


def test_reader_name_filter_is_a_case_insensitive_part_of_the_name():
    config = ReaderConfig(name_filter="acr122")
    assert config.matches("ACS ACR122U PICC Interface 00 00")
    assert not config.matches("Virtual PCD 00 00")
    assert ReaderConfig().matches("anything")


def test_scanner_config_reads_its_table():
    config = ScannerConfig.from_dict(
        {
            "port": "usb:05e0:1200",
            "baudrate": 115200,
            "parity": "even",
            "bytesize": 7,
            "stopbits": 2,
            "terminator": "CRLF",
            "prefix": "\u0002",
            "inter_char_timeout_s": 0.05,
        },
        "terminal.toml",
    )
    assert (config.parity, config.terminator, config.stopbits, config.prefix) == (
        "E",
        "crlf",
        2.0,
        "\x02",
    )
    assert config.device_name == "usb:05e0:1200"


def test_scanner_config_errors_are_all_reported_at_once():
    with pytest.raises(ConfigError) as error:
        ScannerConfig.from_dict(
            {
                "baud": 9600,
                "parity": "x",
                "terminator": "tab",
                "stopbits": 1.2,
                "bytesize": 9,
                "prefix": "é",
            },
            "terminal.toml",
            section="devices.scanners[0]",
        )
    problems = "\n".join(error.value.problems)
    for expected in (
        "devices.scanners[0].baud: unknown key",
        "devices.scanners[0].parity: must be one of 'N', 'E', 'O', 'M', 'S', got 'x'",
        "devices.scanners[0].terminator: must be one of 'cr', 'lf', 'crlf', 'any', got 'tab'",
        "devices.scanners[0].stopbits: must be 1, 1.5 or 2",
        "devices.scanners[0].bytesize: must be a whole number from 5 to 8, got 9",
        "devices.scanners[0].prefix: must be ASCII",
        "devices.scanners[0].port: is required for an enabled scanner",
    ):
        assert expected in problems


def test_a_usb_port_spec_must_be_well_formed():
    with pytest.raises(ConfigError, match="usb:VID:PID"):
        ScannerConfig.from_dict({"port": "usb:5e0"}, "terminal.toml")


def test_a_disabled_scanner_needs_no_port():
    assert not ScannerConfig.from_dict({"enabled": False}, "terminal.toml").enabled


@pytest.mark.parametrize(
    ("terminator", "stream", "frames"),
    [
        ("cr", [b"AB\rCD\r"], [b"AB", b"CD"]),
        ("lf", [b"AB\n", b"C", b"D\n"], [b"AB", b"CD"]),
        ("crlf", [b"AB\r", b"\nCD\r\n"], [b"AB", b"CD"]),
        ("crlf", [b"A\rB\r\n"], [b"A\rB"]),  # a lone CR is data (and will fail validation)
        ("any", [b"AB\r\n", b"CD\n", b"EF\r"], [b"AB", b"", b"CD", b"EF"]),
    ],
)
def test_frames_are_cut_at_the_terminator_across_reads(terminator, stream, frames):
    splitter = FrameSplitter(terminator)
    got: list[bytes] = []
    for chunk in stream:
        complete, overflow = splitter.feed(chunk)
        assert overflow == 0
        got += complete
    if terminator == "any":
        assert [f for f in got if f] == [f for f in frames if f]
    else:
        assert got == frames
    assert splitter.pending == 0


def test_a_partial_frame_can_be_flushed_and_an_endless_one_is_cut_off():
    splitter = FrameSplitter("cr", max_bytes=8)
    assert splitter.feed(b"1234") == ([], 0)
    assert splitter.flush() == b"1234"
    assert splitter.feed(b"123456789") == ([], 9)
    assert splitter.pending == 0


def test_the_rest_of_a_frame_cut_off_is_not_taken_for_a_frame_of_its_own():
    """A 2D code's long URL at 9600 baud arrives in small reads: its tail, read after the cut,
    must not come out as a code (here one that would be a valid card)."""
    splitter = FrameSplitter("any", max_bytes=8)
    assert splitter.feed(b"https://ex") == ([], 10)
    assert splitter.feed(b"ample.com/") == ([], 0)
    assert splitter.feed(b"LC00100037\r") == ([], 0)
    assert splitter.feed(b"CARD-1\r") == ([b"CARD-1"], 0)


def test_a_silence_ends_a_frame_cut_off():
    splitter = FrameSplitter("cr", max_bytes=8)
    assert splitter.feed(b"123456789") == ([], 9)
    assert splitter.flush() == b""
    assert splitter.feed(b"CARD-1\r") == ([b"CARD-1"], 0)


def test_the_status_board_keeps_the_latest_status_and_tells_listeners_of_changes():
    now = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
    board = StatusBoard(clock=lambda: now)
    seen = []
    unsubscribe = board.subscribe(seen.append)
    board.update("pcsc", "reader", "absent", "The PC/SC service (pcscd) is not running.")
    board.update("pcsc", "reader", "absent", "The PC/SC service (pcscd) is not running.")
    board.update("pcsc", "reader", "ready")
    unsubscribe()
    board.update("pcsc", "reader", "error", "x")
    assert [s.state for s in seen] == ["absent", "ready"]
    assert board.get("pcsc").state == "error"  # type: ignore[union-attr]
    assert board.to_dict()["pcsc"]["changed_at"] == "2026-11-22T13:00:00+00:00"


def test_a_failing_status_listener_does_not_reach_the_device_thread():
    board = StatusBoard()

    def broken(status: object) -> None:
        raise RuntimeError("bug")

    board.subscribe(broken)
    assert board.update("s", "scanner", "ready").state == "ready"


def test_wait_for_wakes_when_another_thread_reports():
    board = StatusBoard()
    threading.Timer(0.1, board.update, ("s", "scanner", "absent", "unplugged")).start()
    status = board.wait_for("s", "absent", 2.0, reason_contains="unplugged")
    assert status is not None and status.reason == "unplugged"
    assert board.wait_for("s", "ready", 0.05) is None


def test_without_pyscard_the_reader_says_how_to_install_it_and_the_hub_keeps_going(
    monkeypatch, tmp_path
):
    import loyalty_pos.devices.pcsc as pcsc
    from loyalty_pos.devices.pcsc import ReaderLoop

    monkeypatch.setattr(pcsc, "_PYSCARD_MISSING", ImportError("No module named 'smartcard'"))
    with pytest.raises(DeviceError) as error:
        ReaderLoop(ReaderConfig(), print)
    assert str(error.value) == PYSCARD_MISSING
    assert "pip install 'loyalty-pos[pcsc]'" in str(error.value)
    assert isinstance(error.value.__cause__, ImportError)

    events: queue.Queue[DeviceEvent] = queue.Queue()
    hub = DeviceHub(
        events.put,
        reader=ReaderConfig(),
        scanners=[ScannerConfig(port=str(tmp_path / "none"), reopen_max_s=0.1)],
    )
    with hub:
        assert hub.board.get("pcsc").state == "error"  # type: ignore[union-attr]
        assert hub.board.get("pcsc").reason == PYSCARD_MISSING  # type: ignore[union-attr]
        assert hub.board.wait_for(str(tmp_path / "none"), "absent", 2.0)
        assert len(hub.loops) == 1
    assert hub.loops == []
