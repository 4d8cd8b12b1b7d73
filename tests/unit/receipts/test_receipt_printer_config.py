"""Printer settings from terminal.toml, and what happens when no printer answers on a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty_pos.domain.errors import ConfigError, DeviceError
from loyalty_pos.receipts import printer
from loyalty_pos.receipts.printer import (
    PrinterConfig,
    PrinterError,
    PrinterTarget,
    parse_printer_url,
    print_receipt,
    printer_status,
)
from loyalty_pos.receipts.sample import sample_receipt


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("none", PrinterTarget("none")),
        ("tcp://192.168.1.50", PrinterTarget("tcp", host="192.168.1.50", port=9100)),
        ("tcp://printer.local:9101", PrinterTarget("tcp", host="printer.local", port=9101)),
        ("tcp://[::1]:9100", PrinterTarget("tcp", host="::1", port=9100)),
        (
            "serial:/dev/ttyUSB0?baud=19200",
            PrinterTarget("serial", path="/dev/ttyUSB0", baud=19200),
        ),
        ("serial:/dev/ttyS0", PrinterTarget("serial", path="/dev/ttyS0", baud=9600)),
        ("usb:04b8:0202", PrinterTarget("usb", vendor_id=0x04B8, product_id=0x0202)),
        ("file:/dev/usb/lp0", PrinterTarget("file", path="/dev/usb/lp0")),
        ("file:///dev/usb/lp0", PrinterTarget("file", path="/dev/usb/lp0")),
        ("/dev/usb/lp0", PrinterTarget("file", path="/dev/usb/lp0")),
    ],
)
def test_printer_urls_name_the_connection(url: str, target: PrinterTarget) -> None:
    assert parse_printer_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "lpt1",
        "tcp://",
        "tcp://host:notaport",
        "serial:/dev/ttyUSB0?speed=9600",
        "usb:04b8",
        "usb:xyz:1",
    ],
)
def test_bad_printer_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_printer_url(url)


def test_printer_table_is_read_with_defaults() -> None:
    cfg = PrinterConfig.from_dict({"url": "tcp://10.0.0.5", "width_chars": 48}, "terminal.toml")
    assert cfg == PrinterConfig(url="tcp://10.0.0.5", width_chars=48)
    assert (cfg.dots, cfg.profile, cfg.timeout_s, cfg.qr) == (576, "default", 5.0, False)
    assert cfg.gb18030 is False
    assert cfg.target.where == "10.0.0.5:9100"


def test_unknown_key_names_the_file_and_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        PrinterConfig.from_dict({"url": "none", "colour": "red"}, "/etc/loyalty/terminal.toml")
    assert caught.value.source == "/etc/loyalty/terminal.toml"
    assert "/etc/loyalty/terminal.toml" in str(caught.value)
    assert any(p.startswith("printer.colour: unknown key") for p in caught.value.problems)


def test_every_problem_is_listed_at_once() -> None:
    bad = {
        "url": "lpt1",
        "width_chars": 100,
        "dots": 500,
        "profile": "no-such-printer",
        "timeout_s": 0,
        "qr": "yes",
        "gb18030": 1,
    }
    with pytest.raises(ConfigError) as caught:
        PrinterConfig.from_dict(bad, "terminal.toml")
    keys = [p.split(":")[0] for p in caught.value.problems]
    assert keys == [f"printer.{k}" for k in bad]


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(ConfigError, match="width_chars"):
        PrinterConfig.from_dict({"width_chars": True}, "terminal.toml")


def test_no_printer_configured_is_told_not_crashed() -> None:
    cfg = PrinterConfig(url="none")
    with pytest.raises(PrinterError) as caught:
        print_receipt(sample_receipt(), cfg)
    assert isinstance(caught.value, DeviceError)
    assert caught.value.reason == "not_configured"
    assert printer_status(cfg) == ("absent", "No receipt printer is set up on this terminal.")


def test_file_printer_gets_a_whole_escpos_job(tmp_path: Path) -> None:
    out = tmp_path / "lp0"
    cfg = PrinterConfig(url=f"file:{out}", profile="TM-T20II")
    assert printer_status(cfg)[0] == "ready"
    print_receipt(sample_receipt(), cfg)
    job = out.read_bytes()
    assert job.startswith(b"\x1b@")  # ESC @: initialise
    assert b"\x1dkI\x0b{BT1-000017" in job  # GS k 73 (Code128), 11 bytes, code set B
    assert job.endswith(b"\x1dV\x00")  # GS V 0: full cut


def test_missing_device_file_is_absent_not_created(tmp_path: Path) -> None:
    cfg = PrinterConfig(url="/dev/usb/lp-does-not-exist")
    assert printer_status(cfg)[0] == "absent"
    with pytest.raises(PrinterError) as caught:
        print_receipt(sample_receipt(), cfg)
    assert caught.value.reason == "absent"
    assert not Path("/dev/usb/lp-does-not-exist").exists()


def test_file_in_a_missing_folder_is_absent(tmp_path: Path) -> None:
    cfg = PrinterConfig(url=str(tmp_path / "nope" / "lp0"))
    with pytest.raises(PrinterError) as caught:
        print_receipt(sample_receipt(), cfg)
    assert caught.value.reason == "absent"
    assert "cannot be reached" in str(caught.value)


def test_usb_without_pyusb_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printer.Usb, "is_usable", staticmethod(lambda: False))
    with pytest.raises(PrinterError) as caught:
        print_receipt(sample_receipt(), PrinterConfig(url="usb:04b8:0202"))
    assert caught.value.reason == "unsupported" and "loyalty-pos[usb]" in str(caught.value)
