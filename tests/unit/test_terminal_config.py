"""The terminal's config: the example file is valid, mistakes name the file and the key."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from loyalty_pos.config import _SECTIONS as SECTIONS
from loyalty_pos.config import hash_pin, load_terminal_config, parse_terminal_config, pin_matches
from loyalty_pos.devices.pcsc import ReaderConfig
from loyalty_pos.devices.serial_scanner import ScannerConfig
from loyalty_pos.domain.errors import ConfigError
from loyalty_pos.receipts.printer import CONFIG_KEYS as PRINTER_KEYS
from loyalty_pos.receipts.printer import PrinterConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "terminal.example.toml"


def example() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_example_config_is_valid_for_every_part() -> None:
    cfg = parse_terminal_config(example(), str(EXAMPLE))
    assert cfg.terminal_id == "T1" and cfg.tz is not None
    assert PrinterConfig.from_dict(cfg.printer, str(EXAMPLE)).width_chars == 42
    assert ReaderConfig.from_dict(cfg.reader, str(EXAMPLE), "reader").card_source == "uid"
    assert ScannerConfig.from_dict(cfg.scanner, str(EXAMPLE), "scanner").baudrate == 9600
    assert (cfg.wedge_max_gap_ms, cfg.wedge_min_length) == (40, 6)


def test_the_example_config_lists_every_key_a_section_takes() -> None:
    """QA: the example says it lists every key, but its [scanner] had 6 of 12 (no line settings
    but the baud rate, no timeouts) and told "CR, LF or CRLF" while "any" is the default."""
    data = example()
    reads = {
        "reader": {f.name for f in fields(ReaderConfig)},
        "scanner": {f.name for f in fields(ScannerConfig)},
        "printer": set(PRINTER_KEYS),
        **{section: set(keys) - {"token"} for section, keys in SECTIONS.items() if keys},
    }  # ledger.token: the example names it in token_file's comment, beside the file it prefers
    missing = {s: sorted(keys - set(data.get(s, {}))) for s, keys in reads.items()}
    assert not {s: keys for s, keys in missing.items() if keys}
    scanner = ScannerConfig.from_dict(data["scanner"], str(EXAMPLE), "scanner")
    assert scanner == ScannerConfig(enabled=False, port="/dev/ttyACM0")  # the defaults, as said


def test_the_hardware_readmes_device_config_is_valid() -> None:
    """hardware/README.md's [reader] and [scanner] example, read as the app reads them."""
    text = (EXAMPLE.parents[1] / "hardware" / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```toml\n") + 8 :]
    data = tomllib.loads(block[: block.index("```")])
    assert set(data) == {"reader", "scanner"}
    reader = ReaderConfig.from_dict(data["reader"], "hardware/README.md", "reader")
    scanner = ScannerConfig.from_dict(data["scanner"], "hardware/README.md", "scanner")
    assert reader.enabled and scanner.enabled and scanner.port == "/dev/loyalty-pos/scanner"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("terminal", "colour", "red", "terminal.colour: unknown key"),
        ("terminal", "id", "T 1", "terminal.id"),
        ("terminal", "timezone", "Mars/Olympus", "unknown time zone"),
        ("terminal", "card_pattern", "([", "not a valid regular expression"),
        (
            "ledger",
            "sync_interval_s",
            "often",
            "ledger.sync_interval_s: must be a whole number, got 'often'",
        ),
        # QA: a quoted number said "must be (<class 'int'>, <class 'float'>)"
        ("ledger", "timeout_s", "5", "ledger.timeout_s: must be a number, got '5'"),
        ("store", "footer", "Thanks", 'store.footer: must be a list (["...", "..."]), got'),
        ("terminal", "id", 1, "terminal.id: must be text in quotes"),
        # QA: 0 was taken, and the app's background sync never ran
        ("ledger", "sync_interval_s", 0, "ledger.sync_interval_s: must be 5-86400 seconds, got 0"),
        ("ledger", "sync_interval_s", -60, "ledger.sync_interval_s: must be 5-86400 seconds"),
        # QA: 0 failed every sync as "cannot be reached ... check the network", -1 as "an
        # unreadable answer" from a ledger that was answering well
        ("ledger", "timeout_s", 0, "ledger.timeout_s: must be 0.5-300.0 seconds, got 0"),
        ("ledger", "timeout_s", -1.0, "ledger.timeout_s: must be 0.5-300.0 seconds, got -1.0"),
        ("ledger", "timeout_s", 3600, "ledger.timeout_s: must be 0.5-300.0 seconds"),
        ("ledger", "url", "ledger.example:8700", "ledger.url: must be http(s)://HOST[:PORT]"),
        ("ledger", "url", "ftp://ledger.example", "ledger.url: must be http(s)://HOST[:PORT]"),
        (
            "ledger",
            "url",
            "http://ledger.example:port",
            "ledger.url: must be http(s)://HOST[:PORT]",
        ),
        ("ledger", "url", " http://ledger.example", "ledger.url: must be http(s)://HOST[:PORT]"),
        # QA: the API's /v1 in the address asked for /v1/v1/... and the 404 hid it
        ("ledger", "url", "http://ledger.example:8700/v1", "(no /v1), got"),
        ("ledger", "url", "https://shop.example/ledger/v1/", "(no /v1), got"),
        ("ledger", "url", "http://ledger.example?x=1", "ledger.url: must be http(s)://HOST"),
        ("wedge", "max_gap_ms", 200, "wedge.max_gap_ms: must be 5-75"),
        ("wedge", "min_length", 1, "wedge.min_length: must be 2-64"),
        # what a receipt prints: one line of printable text each
        ("store", "name", "Joe's\nShop", "store.name holds a control character (U+000A"),
        ("store", "address", ["1 Quay", {"city": "x"}], "store.address[1]: must be text in quotes"),
        ("store", "footer", ["Thanks\x1bp"], "store.footer[0] holds a control character"),
        ("terminal", "cashier", "A" * 201, "terminal.cashier is 201 characters long"),
    ],
)
def test_mistakes_name_the_file_and_the_key(
    section: str, key: str, value: str, expected: str
) -> None:
    data = example()
    data[section][key] = value
    with pytest.raises(ConfigError) as e:
        parse_terminal_config(data, "till/terminal.toml")
    assert e.value.source == "till/terminal.toml"
    assert any(expected in p for p in e.value.problems), e.value.problems


def test_a_whole_number_in_an_address_line_reads_as_its_digits() -> None:
    """``address = ["1 Quay", 1000]`` worked before the text check; such a till still starts."""
    data = example()
    data["store"]["address"] = ["1 Quay", 1000]
    assert parse_terminal_config(data, "t.toml").store_address == ("1 Quay", "1000")


def test_manager_pin_is_stored_as_a_scrypt_hash() -> None:
    stored = hash_pin("2468")
    # none of its fields is the PIN (a field's hex may hold those digits by chance: not checked)
    assert "2468" not in stored.split("$") and stored.startswith("scrypt$")
    assert stored != hash_pin("2468")  # salted
    assert pin_matches("2468", stored) and not pin_matches("2469", stored)
    assert not pin_matches("2468", "plain-text")


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:8700", "https://ledger.example/base"])
def test_a_ledger_url_is_http_or_https_with_a_host(url: str) -> None:
    data = example()
    data["ledger"]["url"] = url
    assert parse_terminal_config(data, "till/terminal.toml").ledger.url == url


def test_a_relative_token_file_is_read_beside_the_config_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "s1"
    home.mkdir()
    (home / "ledger.token").write_text("beside\n")
    data = example()
    data["ledger"] = {"url": "http://127.0.0.1:8700", "token_file": "ledger.token"}
    monkeypatch.chdir(tmp_path)
    assert parse_terminal_config(data, str(home / "terminal.toml")).ledger.token == "beside"
    # As an earlier release wrote it for `--home s1`: relative to the folder it ran in.
    data["ledger"]["token_file"] = "s1/ledger.token"
    assert parse_terminal_config(data, str(home / "terminal.toml")).ledger.token == "beside"
    monkeypatch.chdir(home)
    with pytest.raises(ConfigError, match="ledger.token_file: cannot read s1/ledger.token"):
        parse_terminal_config(data, str(home / "terminal.toml"))


def test_a_config_and_token_file_saved_with_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    """Notepad's "UTF-8 with BOM": the mark is not the first key's name nor part of the token."""
    (tmp_path / "ledger.token").write_bytes(b"\xef\xbb\xbflpt_secret\n")
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in (
        ('url = ""', 'url = "http://127.0.0.1:8700"'),
        ('token_file = ""', 'token_file = "ledger.token"'),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    (tmp_path / "terminal.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    cfg = load_terminal_config(tmp_path / "terminal.toml")
    assert (cfg.terminal_id, cfg.ledger.token) == ("T1", "lpt_secret")
