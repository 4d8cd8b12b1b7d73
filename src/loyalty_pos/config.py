"""The terminal's own config (``terminal.toml`` in the terminal's home), parsed and validated.

Like the program, an unknown key or a wrong type is an error naming the file and the key. The
``reader``, ``scanner`` and ``printer`` tables are handed to the device and receipt adapters, which
validate them with their own config types.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .domain.errors import ConfigError, NotFound
from .domain.events import MAX_TEXT, text_problem
from .private import unreadable

TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEFAULT_CARD_PATTERN = r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20}|LC[0-9]{6,16})$"

_SECTIONS: dict[str, set[str]] = {
    "terminal": {"id", "timezone", "card_pattern", "cashier"},
    "store": {"name", "address", "footer"},
    "manager": {"pin_hash"},
    "ledger": {"url", "token", "token_file", "sync_interval_s", "timeout_s"},
    "reader": set(),
    "scanner": set(),
    "printer": set(),
    "wedge": {"max_gap_ms", "min_length"},
}


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    url: str = ""
    token: str = ""
    sync_interval_s: int = 60
    timeout_s: float = 5.0

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    """Attributes:
    terminal_id: ``[A-Za-z0-9_-]{1,32}``; prefixes receipt ids.
    timezone: IANA name for store-local time (promotion dates, birthdays, daily caps).
    card_pattern: regex a scanned code must match to count as a loyalty card.
    wedge_max_gap_ms, wedge_min_length: what counts as a keyboard-wedge scan in the app (keys at
        most this far apart, at least this many characters, then Enter).
    """

    terminal_id: str
    timezone: str = ""
    card_pattern: str = DEFAULT_CARD_PATTERN
    cashier: str = ""
    store_name: str = "Demo Store"
    store_address: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    pin_hash: str = ""
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    reader: dict[str, Any] = field(default_factory=dict)
    scanner: dict[str, Any] = field(default_factory=dict)
    printer: dict[str, Any] = field(default_factory=dict)
    wedge_max_gap_ms: int = 40
    wedge_min_length: int = 6

    @property
    def tz(self) -> ZoneInfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None


def load_terminal_config(path: Path, *, need_token: bool = True) -> TerminalConfig:
    """``need_token=False``: a token file that cannot be read is no token, not an error (for
    ``token set``, which writes a new one)."""
    source = str(path)
    try:
        # utf-8-sig: a byte order mark (Notepad's "UTF-8 with BOM") is dropped, as the ledger
        # and the CSV imports drop it; a file without one reads as plain UTF-8.
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        # Nothing is wrong in a file that is not there: no till was set up in that folder.
        raise NotFound(
            f"No terminal is set up in {path.parent} (it has no {path.name}): run "
            "`loyalty-pos init` first, or give the till's folder with --home or LOYALTY_POS_HOME.",
            file=source,
        ) from None
    except OSError as e:
        raise unreadable(path, e) from e
    except UnicodeDecodeError as e:
        raise ConfigError(source, [f"not UTF-8 text (byte {e.start})"]) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [f"not valid TOML: {e}"]) from e
    return parse_terminal_config(data, source, need_token=need_token)


def _digits(value: Any) -> Any:
    """A whole number (not a boolean) as its digits; anything else as it is."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    # A path is a reverse proxy's prefix (https://shop.example/ledger); the API's own /v1 is
    # added by the till, so an address ending in it would ask for /v1/v1/... and get 404s.
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and url == url.strip()
        and not parts.query
        and not parts.fragment
        and not parts.path.rstrip("/").endswith("/v1")
    )


def _token_path(token_file: str, source: str) -> Path:
    """``ledger.token_file``: a relative path is in the folder of the config file (``source``).
    An earlier release wrote the home as it was typed (``--home s1`` gave ``s1/ledger.token``,
    relative to the folder the command ran in): such a path that is not found beside the config
    but is from the current folder is still read there."""
    path = Path(token_file)
    if path.is_absolute():
        return path
    beside = Path(source).parent / path
    return path if not beside.exists() and path.exists() else beside


#: Bounds of ``[ledger] sync_interval_s`` (whole seconds: from a few seconds to a day) and of
#: ``timeout_s`` (each wait for the ledger's next bytes).
SYNC_INTERVAL_S = (5, 86_400)
LEDGER_TIMEOUT_S = (0.5, 300.0)


#: What a key of the wrong TOML type must be, in the words of the file's reader (the type's
#: Python name, or a tuple's repr, said nothing to someone editing ``terminal.toml``).
_KINDS: dict[type | tuple[type, ...], str] = {
    str: 'text in quotes ("...")',
    int: "a whole number",
    (int, float): "a number",
    list: 'a list (["...", "..."])',
}


def parse_terminal_config(
    data: dict[str, Any], source: str, *, need_token: bool = True
) -> TerminalConfig:
    problems: list[str] = []
    for key, value in data.items():
        if key not in _SECTIONS:
            problems.append(f"{key}: unknown key")
        elif not isinstance(value, dict):
            problems.append(f"{key}: must be a table")
        elif _SECTIONS[key]:
            problems.extend(f"{key}.{k}: unknown key" for k in value if k not in _SECTIONS[key])

    def get(section: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        table = data.get(section, {})
        value = table.get(key, default) if isinstance(table, dict) else default
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            problems.append(f"{section}.{key}: must be {_KINDS[kind]}, got {value!r}")
            return default
        return value

    terminal_id = get("terminal", "id", str, "")
    if not TERMINAL_ID.match(terminal_id):
        problems.append("terminal.id: must be 1-32 letters, digits, '_' or '-'")
    timezone = get("terminal", "timezone", str, "")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"terminal.timezone: unknown time zone {timezone!r}")
    pattern = get("terminal", "card_pattern", str, DEFAULT_CARD_PATTERN)
    try:
        re.compile(pattern)
    except re.error as e:
        problems.append(f"terminal.card_pattern: not a valid regular expression ({e})")
    cashier = get("terminal", "cashier", str, "")
    store_name = get("store", "name", str, "Demo Store")
    address = get("store", "address", list, [])
    footer = get("store", "footer", list, [])
    # What the receipt prints: each one line of printable text (a line break or a printer
    # command in a name would reach the paper).
    # A whole number in a line (a postcode written 1000) is read as its digits, as releases
    # before this check did, so that such a till still starts.
    address, footer = ([_digits(x) for x in lines] for lines in (address, footer))
    printed = {"terminal.cashier": cashier, "store.name": store_name}
    printed |= {f"store.address[{i}]": line for i, line in enumerate(address)}
    printed |= {f"store.footer[{i}]": line for i, line in enumerate(footer)}
    for key, line in printed.items():
        if not isinstance(line, str):
            problems.append(f"{key}: must be {_KINDS[str]}, got {line!r}")
        elif problem := text_problem(line, MAX_TEXT, key):
            problems.append(problem)
    token = get("ledger", "token", str, "")
    token_file = get("ledger", "token_file", str, "")
    if token_file and not token and need_token:
        try:
            token = _token_path(token_file, source).read_text(encoding="utf-8-sig").strip()
        except OSError as e:
            problems.append(
                f"ledger.token_file: cannot read {token_file} ({e.strerror}); a lost token is "
                "installed again with `loyalty-pos token set`"
            )
        except UnicodeDecodeError:
            problems.append(f"ledger.token_file: {token_file} is not UTF-8 text")
    # 0 or less was taken: a background sync that never ran, or a timeout that failed every
    # sync with a sentence about the network or the ledger's answer, not about this file.
    interval = get("ledger", "sync_interval_s", int, 60)
    if not SYNC_INTERVAL_S[0] <= interval <= SYNC_INTERVAL_S[1]:
        low, high = SYNC_INTERVAL_S
        problems.append(f"ledger.sync_interval_s: must be {low}-{high} seconds, got {interval}")
    timeout = get("ledger", "timeout_s", (int, float), 5.0)
    if not LEDGER_TIMEOUT_S[0] <= timeout <= LEDGER_TIMEOUT_S[1]:
        problems.append(
            f"ledger.timeout_s: must be {LEDGER_TIMEOUT_S[0]}-{LEDGER_TIMEOUT_S[1]} seconds, "
            f"got {timeout}"
        )
    url = os.environ.get("LOYALTY_POS_LEDGER_URL") or get("ledger", "url", str, "")
    if url and not is_http_url(url):
        problems.append(
            f"ledger.url: must be http(s)://HOST[:PORT][/PREFIX] (no /v1), got {url[:80]!r}"
        )
    token = os.environ.get("LOYALTY_POS_LEDGER_TOKEN") or token
    max_gap_ms = get("wedge", "max_gap_ms", int, 40)
    if not 5 <= max_gap_ms <= 75:
        problems.append(
            f"wedge.max_gap_ms: must be 5-75 (a person types 80 ms or more apart), got {max_gap_ms}"
        )
    min_length = get("wedge", "min_length", int, 6)
    if not 2 <= min_length <= 64:
        problems.append(f"wedge.min_length: must be 2-64, got {min_length}")
    if problems:
        raise ConfigError(source, problems)
    return TerminalConfig(
        terminal_id=terminal_id,
        timezone=timezone,
        card_pattern=pattern,
        cashier=cashier,
        store_name=store_name,
        store_address=tuple(address),
        footer=tuple(footer),
        pin_hash=get("manager", "pin_hash", str, ""),
        ledger=LedgerConfig(
            url=url, token=token, sync_interval_s=interval, timeout_s=float(timeout)
        ),
        reader=dict(data.get("reader", {})),
        scanner=dict(data.get("scanner", {})),
        printer=dict(data.get("printer", {})),
        wedge_max_gap_ms=max_gap_ms,
        wedge_min_length=min_length,
    )


# -- the manager PIN: stored as a scrypt hash, never in clear -------------------------------

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` cannot be a manager PIN, or None: 4 to 12 ASCII digits (a keypad's)."""
    if pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12:
        return None
    return "The manager PIN must be 4 to 12 digits."


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate.hex(), digest)
