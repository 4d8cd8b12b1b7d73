"""Printing a receipt on an ESC/POS thermal printer, and telling the cashier why it did not print.

All command bytes come from python-escpos; this module chooses the connection from the terminal's
config (``tcp://``, ``serial:``, ``usb:``, ``file:`` or ``none``), sends the text receipt with the
receipt id as the printer's own Code128 barcode (or as a picture when the printer profile has no
barcode command), cuts, and turns every library or OS exception into a ``PrinterError`` whose
message is a sentence for the cashier. The caller keeps the receipt queued and offers a reprint.

Printers that can answer (network, serial, USB) are asked for their real-time status (DLE EOT)
before and after the receipt. Before, so an empty roll or an open cover is reported instead of a
lost receipt; after, because a TCP send succeeds as soon as the bytes are in the kernel's buffer:
only an answer to a query sent behind the receipt shows that the printer took all of it. Each wait
on the printer is bounded by ``timeout_s``; a printer still taking a long receipt (its input
buffer holds a few KB, so it reads as fast as it prints) is waited for as long as it takes more of
it, and ``timeout_s`` counts from the last bytes it took: a long receipt on a slow printer printed
whole and was reported as not printed, and its reprint came out as a second original.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import select
import socket
import struct
import time
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import serial
from escpos import exceptions as escpos_errors
from escpos.capabilities import get_profile
from escpos.constants import (
    RT_MASK_NOPAPER,
    RT_MASK_ONLINE,
    RT_STATUS_ONLINE,
    RT_STATUS_PAPER,
)
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb
from rich.cells import cell_len

from loyalty_pos.domain.errors import ConfigError, DeviceError
from loyalty_pos.receipts.image import barcode_image, qr_image
from loyalty_pos.receipts.layout import build_rows
from loyalty_pos.receipts.model import Receipt
from loyalty_pos.receipts.text import MAX_WIDTH, MIN_WIDTH, row_lines

Reason = Literal[
    "not_configured",  # url = "none"
    "absent",  # not found, refused, unreachable, unknown host
    "timeout",  # connected but no answer in time
    "offline",  # answers, but says it is offline (cover open, error)
    "paper_out",
    "closed",  # the printer dropped the connection mid-receipt
    "permission",
    "unsupported",  # a transport whose library is not installed
    "failed",  # anything else the OS or the library reported
]
State = Literal["ready", "absent", "error"]

BARCODE_HEIGHT_DOTS = 80


class PrinterError(DeviceError):
    """The receipt was not (completely) printed. ``str(e)`` is a sentence for the cashier.

    ``reason`` says what happened (see ``Reason``), ``device`` where the printer is.
    ``what`` (what went wrong) and ``todo`` (what to do, no full stop) are the two halves of the
    message, for a caller that says them in a sentence of its own (the app names the receipt and
    its reprint key).
    """

    def __init__(
        self, message: str, *, reason: Reason, device: str, what: str = "", todo: str = ""
    ) -> None:
        super().__init__(message, device=device, reason=reason)
        self.reason: Reason = reason
        self.device = device
        self.what = what or message
        self.todo = todo


# ---------------------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class PrinterTarget:
    """Where the printer is, parsed from the config's ``url``.

    Attributes:
        kind: "none", "tcp", "serial", "usb" or "file".
        host: Network printer's host name or address (tcp).
        port: Network printer's TCP port, 9100 unless given (tcp).
        path: Serial device or file/device path (serial, file).
        baud: Serial speed (serial).
        vendor_id: USB vendor id (usb).
        product_id: USB product id (usb).
    """

    kind: Literal["none", "tcp", "serial", "usb", "file"]
    host: str = ""
    port: int = 9100
    path: str = ""
    baud: int = 9600
    vendor_id: int = 0
    product_id: int = 0

    @property
    def where(self) -> str:
        """The printer's place as a cashier or IT person would write it."""
        if self.kind == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{host}:{self.port}"
        if self.kind == "usb":
            return f"USB {self.vendor_id:04x}:{self.product_id:04x}"
        return self.path or "none"

    @property
    def answers(self) -> bool:
        """Whether the printer can be asked for its status over this connection."""
        return self.kind in ("tcp", "serial", "usb")


URL_FORMS = "tcp://host:9100, serial:/dev/ttyUSB0?baud=19200, usb:VID:PID, file:/dev/usb/lp0, none"


def printer_configured(table: Mapping[str, Any]) -> bool:
    """Whether a ``[printer]`` table names a printer (a ``url`` other than ``none``)."""
    return str(table.get("url", "none")).strip().lower() not in ("", "none")


def parse_printer_url(url: str) -> PrinterTarget:
    """Parse a printer URL; ``ValueError`` says what is wrong with it."""
    url = url.strip()
    if url.lower() in ("none", ""):
        return PrinterTarget("none")
    if url.startswith("tcp://"):
        parts = urlsplit(url)
        if not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"expected tcp://host:port, got {url!r}")
        return PrinterTarget("tcp", host=parts.hostname, port=parts.port or 9100)
    if url.startswith("serial:"):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if not parts.path or set(query) - {"baud"}:
            raise ValueError(f"expected serial:/dev/ttyUSB0?baud=19200, got {url!r}")
        baud_text = query.get("baud", ["9600"])[-1]
        if not baud_text.isdigit() or int(baud_text) <= 0:
            raise ValueError(f"baud must be a whole number > 0, got {baud_text!r}")
        baud = int(baud_text)
        return PrinterTarget("serial", path=parts.path, baud=baud)
    if url.startswith("usb:"):
        ids = url[len("usb:") :].split(":")
        hex_id = re.compile(r"(0x)?[0-9A-Fa-f]{1,4}")
        if len(ids) != 2 or not all(hex_id.fullmatch(i) for i in ids):
            raise ValueError(f"expected usb:VID:PID in hex (usb:04b8:0202), got {url!r}")
        vendor, product = (int(i, 16) for i in ids)
        return PrinterTarget("usb", vendor_id=vendor, product_id=product)
    if url.startswith("file:"):
        path = urlsplit(url).path
        if not path:
            raise ValueError(f"expected file:/path/to/device, got {url!r}")
        return PrinterTarget("file", path=path)
    if "://" not in url and ("/" in url or os.sep in url):
        return PrinterTarget("file", path=url)
    raise ValueError(f"unknown printer URL {url!r}; use one of: {URL_FORMS}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(values: Mapping[str, object], section: str) -> list[str]:
    """Every problem with the printer settings, each naming its key."""
    problems = []
    url = values["url"]
    if not isinstance(url, str):
        problems.append(f"{section}.url: must be a string ({URL_FORMS})")
    else:
        try:
            parse_printer_url(url)
        except ValueError as e:
            problems.append(f"{section}.url: {e}")
    width = values["width_chars"]
    if not _is_int(width) or not MIN_WIDTH <= width <= MAX_WIDTH:  # type: ignore[operator]
        problems.append(
            f"{section}.width_chars: must be a whole number {MIN_WIDTH}-{MAX_WIDTH} (32, 42 or 48)"
        )
    dots = values["dots"]
    if not _is_int(dots) or not 192 <= dots <= 2048 or dots % 8:  # type: ignore[operator]
        problems.append(f"{section}.dots: must be a multiple of 8, 192-2048 (384 or 576)")
    profile = values["profile"]
    if not isinstance(profile, str):
        problems.append(f"{section}.profile: must be a python-escpos printer profile name")
    else:
        try:
            get_profile(profile)
        except KeyError:
            problems.append(f"{section}.profile: unknown printer profile {profile!r}")
    timeout = values["timeout_s"]
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 120:
        problems.append(f"{section}.timeout_s: must be a number of seconds, > 0 and <= 120")
    recheck = values["recheck_s"]
    if (
        not isinstance(recheck, int | float)
        or isinstance(recheck, bool)
        or not 0.1 <= recheck <= 600
    ):
        problems.append(f"{section}.recheck_s: must be a number of seconds, 0.1 to 600")
    for key in ("qr", "gb18030"):
        if not isinstance(values[key], bool):
            problems.append(f"{section}.{key}: must be true or false")
    return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterConfig:
    """The receipt printer settings (the ``[printer]`` table of terminal.toml).

    Attributes:
        url: Where the printer is: tcp://host:9100, serial:/dev/ttyUSB0?baud=19200,
            usb:VID:PID (hex), file:/dev/usb/lp0 (or a plain path), or none.
        width_chars: Characters per line in the printer's font: 32 (58 mm), 42 or 48 (80 mm).
        dots: Printable width in dots, for pictures: 384 (58 mm) or 576 (80 mm) at 203 dpi.
        profile: python-escpos printer profile ("default", "TM-T20II", "POS-5890", ...): says
            whether the printer has a barcode command and can cut.
        timeout_s: Longest wait for the printer at any step (connect, send, status answer).
        qr: Also print the receipt id as a QR code.
        gb18030: The printer has a Chinese font and prints GB18030 (Chinese-market printers):
            Chinese and Japanese characters print in it, two columns each. Without it, each
            character the profile's code pages lack prints as one ``?`` (``PrintableText``).
        recheck_s: How often the app asks a printer that is absent or in error for its status
            again, in the background, so that the status bar shows it back without a print.
    """

    url: str = "none"
    width_chars: int = 42
    dots: int = 576
    profile: str = "default"
    timeout_s: float = 5.0
    qr: bool = False
    gb18030: bool = False
    recheck_s: float = 5.0
    target: PrinterTarget = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = _check({k: getattr(self, k) for k in CONFIG_KEYS}, "printer")
        if problems:
            raise ConfigError("printer config", problems)
        object.__setattr__(self, "target", parse_printer_url(self.url))

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], source: str, section: str = "printer"
    ) -> PrinterConfig:
        """Settings from a parsed TOML table; ``ConfigError`` lists every problem (file + key)."""
        problems = [
            f"{section}.{key}: unknown key (known: {', '.join(CONFIG_KEYS)})"
            for key in d
            if key not in CONFIG_KEYS
        ]
        values = {key: d.get(key, _DEFAULTS[key]) for key in CONFIG_KEYS}
        problems += _check(values, section)
        if problems:
            raise ConfigError(source, problems)
        return cls(**values)


CONFIG_KEYS = (
    "url",
    "width_chars",
    "dots",
    "profile",
    "timeout_s",
    "qr",
    "gb18030",
    "recheck_s",
)
_DEFAULTS: dict[str, object] = {
    "url": "none",
    "width_chars": 42,
    "dots": 576,
    "profile": "default",
    "timeout_s": 5.0,
    "qr": False,
    "gb18030": False,
    "recheck_s": 5.0,
}


# ------------------------------------------------------------------------------------- printing


def print_receipt(receipt: Receipt, cfg: PrinterConfig) -> None:
    """Print ``receipt`` and cut. Raises ``PrinterError`` if it did not all reach the printer."""
    with _connected(cfg) as printer:
        _send_receipt(printer, receipt, cfg)


def printer_status(cfg: PrinterConfig) -> tuple[State, str]:
    """("ready" | "absent" | "error", a sentence) for the status bar. Prints nothing.

    Opens a connection to ask; call it every few seconds at most (a network printer serves one
    connection at a time).
    """
    target = cfg.target
    if target.kind == "file":
        path = Path(target.path)
        if not path.exists() and (_is_device(path) or not path.parent.is_dir()):
            return "absent", status_message(_error("absent", target))
        if not os.access(path if path.exists() else path.parent, os.W_OK):
            return "error", status_message(_error("permission", target))
        return "ready", f"Receipt printer {target.where} is ready."
    try:
        with _connected(cfg) as printer:
            if target.answers:
                _require_ready(printer, cfg)
    except PrinterError as e:
        state: State = "absent" if e.reason in ("absent", "not_configured") else "error"
        return state, status_message(e)
    return "ready", f"Receipt printer {target.where} is ready."


def status_message(e: PrinterError) -> str:
    """The printer's state as the status bar, F1 and ``loyalty-pos devices`` give it (asked at
    start, by the recheck, or after a receipt that did not print, whose own message names it):
    what is wrong and what to do, not "then print the receipt again" of a receipt there is none
    of, nor a printer that "stopped in the middle of the receipt"."""
    what, todo = e.what, e.todo
    if e.reason == "closed":
        what = f"The receipt printer {e.device} closed the connection without answering."
    return f"{what} {todo}." if todo else what


def probe_printer(cfg: PrinterConfig) -> tuple[str, str | None]:
    """Whether the configured printer is there, for ``loyalty-pos devices``: ``found`` (it
    answers ready), ``missing`` (no such host or device, nothing answers), ``refused`` (the host
    is there but refuses connections on that port: a wrong port, or not a printer) or ``error``
    (it answers but cannot print: paper, cover, permission), with the reason. Prints nothing."""
    target = cfg.target
    if target.kind == "tcp":
        try:
            with socket.create_connection((target.host, target.port), timeout=cfg.timeout_s):
                pass
        except ConnectionRefusedError:
            return "refused", (
                f"{target.where} refuses connections: nothing listens on port {target.port} "
                "there. Check the printer's address and port in [printer] url (9100 for most "
                "network receipt printers)."
            )
        except socket.gaierror:
            return "missing", (
                f"No host {target.host!r} is known: check the address in [printer] url."
            )
        except OSError as e:
            why = "nothing answered in time" if isinstance(e, TimeoutError) else e.strerror or e
            return "missing", (
                f"The receipt printer {target.where} cannot be reached ({why}): check that it "
                "is on and connected, and its address in [printer] url."
            )
    state, reason = printer_status(cfg)
    if state == "ready":
        return "found", None
    return ("missing" if state == "absent" else "error"), reason


class PrintableText:
    """A receipt's text as this printer prints it, so that it is laid out as it will look.

    A printer without a Chinese font prints a character when one of its profile's code pages
    has it (python-escpos switches to that page), one column wide; any other character would
    come out as one ``?`` or, for a line with a Chinese character, as that line's GB18030 bytes
    (python-escpos sends such a line so), which such a printer prints as two or four unrelated
    characters. Either way the amount at the end of the line would no longer end at the edge.
    So each character it cannot print is a ``?`` before the line is laid out, and a line holds
    only characters that take one column each.

    With ``gb18030`` (a printer with a Chinese font), a line with a character beyond ASCII goes
    as GB18030 bytes: Chinese and Japanese characters are two bytes and two columns there, as the
    layout counts them; any other character beyond ASCII (an accented letter would take two
    columns there, an emoji four bytes) is a ``?``."""

    def __init__(self, p: Escpos, gb18030: bool) -> None:
        self.p, self.gb18030 = p, gb18030
        self._known: dict[str, bool] = {}

    def _prints(self, char: str) -> bool:
        known = self._known.get(char)
        if known is None:
            if self.gb18030:
                known = cell_len(char) == 2 and len(char.encode("gb18030", "ignore")) == 2
            else:
                known = self.p.magic.encoder.find_suitable_encoding(char) is not None
            self._known[char] = known
        return known

    def __call__(self, text: str) -> str:
        if text.isascii():
            return text
        text = unicodedata.normalize("NFC", text)  # an accent typed apart joins its letter
        return "".join(c if c.isascii() or self._prints(c) else "?" for c in text)

    def send(self, line: str) -> None:
        """One laid-out line (made of ``__call__``'s text) to the printer."""
        if self.gb18030 and not line.isascii():
            self.p._raw(line.encode("gb18030") + b"\n")
        else:
            self.p.textln(line)


def _send_receipt(p: Escpos, receipt: Receipt, cfg: PrinterConfig) -> None:
    target = cfg.target
    p.hw("INIT")
    if target.answers:
        _require_ready(p, cfg)
    text = PrintableText(p, cfg.gb18030)
    for row in build_rows(receipt):
        row = replace(row, left=text(row.left), right=text(row.right))
        if row.strong:
            p.set(bold=True, double_height=True)
        for line in row_lines(row, cfg.width_chars):
            text.send(line)
        if row.strong:
            p.set(bold=False, normal_textsize=True)
    p.ln()
    _send_codes(p, receipt.receipt_id, cfg)
    p.cut()
    if target.answers:
        _wait_until_taken(p, cfg)
        _require_ready(p, cfg)


def _send_codes(p: Escpos, receipt_id: str, cfg: PrinterConfig) -> None:
    """The receipt id as the printer's own Code128, else as a picture; then the optional QR.

    The printer's bars are 2 dots wide at least (GS w), so an id too long for that on the paper
    (a terminal id of 6 characters on 58 mm paper, 15 on 80 mm) goes as the picture, whose
    Code128 packs the digits in pairs (code set C) and may have 1-dot bars: a barcode wider than
    the paper is clipped or left out by the printer, and the receipt no longer scans."""
    p.set(align="center")
    # Code set B: start + data + check = 11 modules each, stop 13, 10 quiet each side.
    modules = 11 * (len(receipt_id) + 2) + 13 + 20
    # python-escpos announces its choices with print(); keep them off the terminal's screen.
    with contextlib.redirect_stdout(io.StringIO()):
        if p.profile.supports("barcodeB") and modules * 2 <= cfg.dots:
            width = 3 if modules * 3 <= cfg.dots else 2
            p.barcode(
                "{B" + receipt_id,
                "CODE128",
                height=BARCODE_HEIGHT_DOTS,
                width=width,
                pos="BELOW",
                function_type="B",
            )
        else:
            bars = barcode_image(receipt_id, cfg.dots)
            if bars is not None:
                p.image(bars)
            p.textln(receipt_id)
        if cfg.qr:
            box = 5 if cfg.dots >= 512 else 4
            if p.profile.supports("qrCode"):
                p.ln()
                p.qr(receipt_id, size=box, native=True)
            else:
                p.image(qr_image(receipt_id, box))
    p.set(align="left")


#: How often the output queue is looked at while a printer takes a long receipt.
_TAKEN_POLL_S = 0.05


def _unsent(p: Escpos) -> int | None:
    """Bytes sent to the printer that it has not taken yet: the socket's or the serial port's
    output queue. None where that cannot be told (USB writes wait for the printer anyway)."""
    device = getattr(p, "device", None)
    if isinstance(p, Network) and isinstance(device, socket.socket):
        try:
            import fcntl
            import termios

            queued = fcntl.ioctl(device.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        except (ImportError, OSError, AttributeError):
            return None  # not Linux, or the socket is gone: the status query tells
        return int(struct.unpack("i", queued)[0])
    if isinstance(p, Serial) and isinstance(device, serial.Serial):
        try:
            return int(device.out_waiting)
        except (OSError, serial.SerialException, NotImplementedError):
            return None
    return None


def _wait_until_taken(p: Escpos, cfg: PrinterConfig) -> None:
    """Wait while the printer takes the rest of the receipt; raise the timeout error when it
    has taken nothing more for ``timeout_s`` (a printer that stalled mid-receipt)."""
    last = _unsent(p)
    moved = time.monotonic()
    while last:
        time.sleep(_TAKEN_POLL_S)
        now = _unsent(p)
        if not now:
            return
        if now < last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved >= cfg.timeout_s:
            target = cfg.target
            raise _error("timeout", target, cfg.timeout_s)


def _require_ready(p: Escpos, cfg: PrinterConfig) -> None:
    """Ask the printer for its status; raise unless it is online with paper."""
    target = cfg.target
    online = p.query_status(RT_STATUS_ONLINE)
    if not online:
        # TCP: the printer closed the connection; serial/USB: the read timed out.
        reason: Reason = "closed" if target.kind == "tcp" else "timeout"
        raise _error(reason, target, cfg.timeout_s)
    paper = p.query_status(RT_STATUS_PAPER)
    if paper and paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
        raise _error("paper_out", target)
    if online[0] & RT_MASK_ONLINE:
        raise _error("offline", target)


# ------------------------------------------------------------------------- connections & errors


def _open(cfg: PrinterConfig) -> Escpos:
    t = cfg.target
    timeout = cfg.timeout_s
    if t.kind == "tcp":
        return Network(t.host, t.port, timeout=timeout, profile=cfg.profile)
    if t.kind == "serial":
        return Serial(t.path, baudrate=t.baud, timeout=timeout, profile=cfg.profile)
    if t.kind == "file":
        if _is_device(Path(t.path)) and not Path(t.path).exists():
            # Opening it would create a plain file where the printer's device node should be.
            raise _error("absent", t)
        return _TimedFile(t.path, timeout, profile=cfg.profile)
    if t.kind == "usb":
        if not Usb.is_usable():
            raise _error("unsupported", t)
        # pyusb counts its timeout in milliseconds.
        return Usb(t.vendor_id, t.product_id, timeout=int(timeout * 1000), profile=cfg.profile)
    raise _error("not_configured", t)


class _TimedFile(File):  # type: ignore[misc]
    """A ``file:`` printer (``/dev/usb/lp0``, a parallel port) whose writes wait at most
    ``timeout`` seconds for the printer to take more: the kernel's printer driver holds a write
    for as long as the printer takes nothing (out of paper, offline), and python-escpos's own
    File waited for ever: the receipt never said not printed, and every later one queued
    behind it."""

    def __init__(self, devfile: str, timeout: float, **kwargs: Any) -> None:
        super().__init__(devfile, **kwargs)
        self.timeout = timeout

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK
        try:
            fd = os.open(self.devfile, flags, 0o644)
        except OSError as e:
            self.device = None
            raise escpos_errors.DeviceNotFoundError(
                f"Could not open the specified file {self.devfile}:\n{e}"
            ) from e
        self.device = os.fdopen(fd, "wb", buffering=0)

    def _raw(self, msg: bytes) -> None:
        assert self.device
        fd = self.device.fileno()
        rest = memoryview(msg)
        moved = time.monotonic()
        while rest:
            try:
                written = os.write(fd, rest)
            except BlockingIOError:
                written = 0
            if written:
                rest, moved = rest[written:], time.monotonic()
                continue
            left = self.timeout - (time.monotonic() - moved)
            if left <= 0:
                raise TimeoutError(errno.ETIMEDOUT, "the printer took nothing more")
            select.select([], [fd], [], min(left, _TAKEN_POLL_S))


@contextlib.contextmanager
def _connected(cfg: PrinterConfig) -> Iterator[Escpos]:
    target = cfg.target
    printer = _open(cfg)
    try:
        with _translated(target, cfg.timeout_s):
            printer.open()
            if isinstance(printer, Serial) and printer.device is not None:
                # python-escpos sets only a read timeout; a printer holding DSR low would block
                # every write for ever.
                printer.device.write_timeout = cfg.timeout_s
            yield printer
    finally:
        with contextlib.suppress(OSError, serial.SerialException, escpos_errors.Error):
            printer.close()


@contextlib.contextmanager
def _translated(target: PrinterTarget, timeout_s: float) -> Iterator[None]:
    """Turn what python-escpos, pyserial, pyusb and the OS raise into one ``PrinterError``."""
    try:
        yield
    except PrinterError:
        raise
    except escpos_errors.DeviceNotFoundError as e:
        # python-escpos wraps the OSError of a failed open without chaining it ("from").
        reason = _reason(e.__cause__ or e.__context__, default="absent")
        if reason == "timeout":
            reason = "absent"  # no answer to a connection attempt: nobody there
        raise _error(reason, target, timeout_s) from e
    except (OSError, serial.SerialException) as e:
        reason = _reason(e, default="failed")
        raise _error(reason, target, timeout_s, e) from e
    except escpos_errors.Error as e:
        what = f"The receipt printer {target.where} cannot print this receipt ({e})."
        todo = "Check the printer profile in the terminal's settings"
        raise PrinterError(
            f"{what} {todo}.", reason="failed", device=target.where, what=what, todo=todo
        ) from e


def _is_device(path: Path) -> bool:
    return path.is_absolute() and path.parts[1:2] == ("dev",)


def _reason(e: BaseException | None, default: Reason) -> Reason:
    if isinstance(e, TimeoutError | serial.SerialTimeoutException):
        return "timeout"
    if isinstance(e, socket.gaierror | FileNotFoundError | ConnectionRefusedError):
        return "absent"
    if isinstance(e, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
        return "closed"
    if isinstance(e, PermissionError):
        return "permission"
    code = getattr(e, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return "absent"
    if code in (errno.EACCES, errno.EPERM):
        return "permission"
    if code == errno.EBUSY:
        return "failed"
    if isinstance(e, OSError | serial.SerialException) and "No such file" in str(e):
        return "absent"
    return default


def _error(
    reason: Reason, t: PrinterTarget, timeout_s: float = 0, e: BaseException | None = None
) -> PrinterError:
    what, todo = _said(reason, t, timeout_s, e)
    device = "none" if reason == "not_configured" else t.where
    return PrinterError(
        _message(reason, t, timeout_s, e), reason=reason, device=device, what=what, todo=todo
    )


def _message(
    reason: Reason, t: PrinterTarget, timeout_s: float = 0, e: BaseException | None = None
) -> str:
    """One sentence or two for the cashier: what went wrong and what to do about it."""
    what, todo = _said(reason, t, timeout_s, e)
    if not todo:
        return what
    if reason in ("permission", "unsupported"):
        return f"{what} {todo}."
    return f"{what} {todo}, then print the receipt again."


def _said(
    reason: Reason, t: PrinterTarget, timeout_s: float = 0, e: BaseException | None = None
) -> tuple[str, str]:
    """(what went wrong, what to do: no full stop, so that a caller may go on)."""
    where = t.where
    if reason == "not_configured":
        return "No receipt printer is set up on this terminal.", ""
    if reason == "absent":
        return (
            f"The receipt printer {where} cannot be reached.",
            "Check that it is on and connected",
        )
    if reason == "timeout":
        seconds = f"{timeout_s:g} second" + ("" if timeout_s == 1 else "s")
        return (
            f"The receipt printer {where} did not answer within {seconds}.",
            "Check that it is on, has paper and its cover is closed",
        )
    if reason == "offline":
        return f"The receipt printer {where} is offline.", "Close its cover and clear any paper jam"
    if reason == "paper_out":
        return f"The receipt printer {where} is out of paper.", "Load a new roll"
    if reason == "closed":
        return f"The receipt printer {where} stopped in the middle of the receipt.", "Check it"
    if reason == "permission":
        return (
            f"This terminal is not allowed to use the receipt printer {where}.",
            "Ask IT to grant access",
        )
    if reason == "unsupported":
        return (
            f"Printing to {where} needs USB support, which is not installed.",
            "Ask IT (the usb extra: pip install 'loyalty-pos[usb]', and libusb-1.0)",
        )
    detail = f" ({e.strerror or e})" if isinstance(e, OSError) else (f" ({e})" if e else "")
    return f"The receipt printer {where} reported an error{detail}.", "Check it"
