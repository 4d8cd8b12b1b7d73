"""Serial barcode scanners (USB CDC-ACM "virtual COM" or RS-232) through pyserial.

A scanner in serial mode sends each barcode as one frame ending in CR, LF or CRLF, perhaps with a
configured prefix/suffix and an AIM symbology identifier. What goes wrong at a counter, and what
this module does about it:

- noise (wrong baud rate, framing errors, a half-seated plug): the bytes fail the code validator
  and the frame is dropped with a logged reason; the next good frame still reads;
- every scan dropped is also handed to ``on_rejected`` as a ``ScanRejected`` with a reason in the
  cashier's words (the scanner beeped, so the cashier waits for the till otherwise); a burst of
  dropped frames, each less than ``REJECT_BURST_S`` after the one before, is one rejection;
- half a frame, then silence: dropped after ``inter_char_timeout_s`` so it cannot glue itself to
  the front of the next barcode;
- unplugged: the port is closed and reopened with exponential backoff (tenacity) until the
  scanner is back; the port may be a path, a stable ``/dev/serial/by-id/...`` link or
  ``usb:VID:PID`` (looked up with pyserial's ``list_ports`` at each reopen, so a scanner that
  comes back as ttyACM1 instead of ttyACM0 is still found).

pyserial's own ``serial.threaded.ReaderThread`` is not used: it ends on the first error and never
reports silence, and both are needed here.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import serial
from serial.tools import list_ports
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from loyalty_pos.devices._config import TableReader
from loyalty_pos.devices.codes import (
    DEFAULT_RULES,
    BadCode,
    Code,
    CodeRules,
    validate_code,
)
from loyalty_pos.devices.codes import SAID as CODE_SAID
from loyalty_pos.devices.events import DeviceEvent, ScanRejected, StatusBoard
from loyalty_pos.domain.cards import mask_card
from loyalty_pos.domain.errors import DeviceError

logger = logging.getLogger(__name__)

Terminator = Literal["cr", "lf", "crlf", "any"]
TERMINATORS: tuple[str, ...] = ("cr", "lf", "crlf", "any")
PARITIES = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}
STOPBITS = {1.0: serial.STOPBITS_ONE, 1.5: serial.STOPBITS_ONE_POINT_FIVE, 2.0: serial.STOPBITS_TWO}
USB_ID = re.compile(r"usb:([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})(?::(.+))?")
BY_ID_DIR = Path("/dev/serial/by-id")
MAX_FRAME_BYTES = 1024
#: Frames dropped less than this apart are one rejection (noise comes as many frames at once; a
#: cashier scanning again takes longer than this).
REJECT_BURST_S = 0.5
#: Why a frame was dropped, in the cashier's words: the code's own faults (``codes.SAID``, which
#: the keyboard wedge says too) and the framing faults of a serial line.
SAID: dict[str, str] = {
    **CODE_SAID,
    # A scanner sending no end-of-code drops every scan so: scanning again does not help.
    "partial": "only part of the code arrived (call IT if it keeps happening: the scanner's "
    "end-of-code setting may be wrong)",
    "overflow": "the scanner sent a line too long to be a code (call IT if it keeps "
    "happening: the scanner's end-of-code setting may be wrong)",
}
_SPLIT = {"cr": re.compile(rb"\r"), "lf": re.compile(rb"\n"), "crlf": re.compile(rb"\r\n")}
_SPLIT["any"] = re.compile(rb"\r\n|\r|\n")


def port_problem(value: str) -> str | None:
    """Why ``value`` cannot be a scanner's port (``[scanner] port``, ``scan --serial``), or None."""
    if value.startswith("usb:") and not USB_ID.fullmatch(value):
        return "must be a device path or usb:VID:PID (4 hex digits each), e.g. usb:05E0:1200"
    return None


def _ascii_problem(value: str) -> str | None:
    return None if value.isascii() else "must be ASCII"


def _parity(value: str) -> str:
    return PARITIES.get(value.lower(), value.upper())


@dataclass(frozen=True, slots=True)
class ScannerConfig:
    """The ``[scanner]`` table of ``terminal.toml``.

    Attributes:
        enabled: read this scanner at all.
        port: ``/dev/ttyACM0``, ``/dev/serial/by-id/usb-...`` or ``usb:VID:PID[:SERIAL]``.
        name: how the scanner is named in statuses and events (default: ``port``).
        baudrate, bytesize, parity, stopbits: line settings (USB CDC scanners ignore them).
        terminator: ``cr``, ``lf``, ``crlf`` or ``any`` (any of the three ends a frame).
        prefix, suffix: stripped from a frame when present (e.g. ``"\\u0002"``).
        inter_char_timeout_s: silence after which half a frame is dropped.
        reopen_max_s: longest wait between two attempts to reopen an unplugged scanner.
    """

    enabled: bool = True
    port: str = ""
    name: str | None = None
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1.0
    terminator: Terminator = "any"
    prefix: str = ""
    suffix: str = ""
    inter_char_timeout_s: float = 0.2
    reopen_max_s: float = 2.0

    @classmethod
    def from_dict(
        cls, table: Mapping[str, object], source: str, section: str = "devices.scanners"
    ) -> ScannerConfig:
        reader = TableReader(table, source, section, cls)
        config = cls(
            enabled=reader.boolean("enabled"),
            port=reader.text("port", check=port_problem),
            name=reader.text("name", optional=True),
            baudrate=reader.integer("baudrate", 50, 4_000_000),
            bytesize=reader.integer("bytesize", 5, 8),
            parity=reader.text("parity", choices=tuple(PARITIES.values()), normalise=_parity),
            stopbits=reader.number("stopbits", 1, 2),
            terminator=reader.text("terminator", choices=TERMINATORS, normalise=str.lower),
            prefix=reader.text("prefix", check=_ascii_problem),
            suffix=reader.text("suffix", check=_ascii_problem),
            inter_char_timeout_s=reader.number("inter_char_timeout_s", 0.01, 5.0),
            reopen_max_s=reader.number("reopen_max_s", 0.1, 60.0),
        )
        if config.stopbits not in STOPBITS and "stopbits" in table:
            reader.problems.append(
                f"{section}.stopbits: must be 1, 1.5 or 2, got {config.stopbits}"
            )
        if config.enabled and not config.port:
            reader.problems.append(f"{section}.port: is required for an enabled scanner")
        reader.done()
        return config

    @property
    def device_name(self) -> str:
        return self.name or self.port


class FrameSplitter:
    """Cuts a byte stream into frames at the configured terminator (no I/O; unit-testable).

    A frame that grows past ``max_bytes`` is thrown away up to its terminator, not only up to
    the cut: at 9600 baud a long line (a 2D code's URL, a runaway) arrives in small reads, and
    its last bytes, read after the cut, would otherwise end as a frame of their own and be taken
    for a scan.
    """

    def __init__(self, terminator: Terminator, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self._pattern = _SPLIT[terminator]
        self._max = max_bytes
        self._buffer = bytearray()
        self._skipping = False  # the rest of a frame already cut off, up to its terminator

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        """Add bytes; return the complete frames (without terminator) and how many bytes were
        thrown away because no terminator came within ``max_bytes`` (counted at the cut; the
        rest of that frame goes without being counted again)."""
        self._buffer += data
        frames: list[bytes] = []
        while match := self._pattern.search(self._buffer):
            if self._skipping:
                self._skipping = False
            else:
                frames.append(bytes(self._buffer[: match.start()]))
            del self._buffer[: match.end()]
        overflow = 0
        if self._skipping:
            self._buffer.clear()
        elif len(self._buffer) > self._max:
            overflow = len(self._buffer)
            self._buffer.clear()
            self._skipping = True
        return frames, overflow

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def skipping(self) -> bool:
        """Whether the rest of a frame cut off is being thrown away (until its terminator or a
        silence)."""
        return self._skipping

    def flush(self) -> bytes:
        """Take the incomplete frame out (after a silence, which also ends a frame cut off)."""
        partial = bytes(self._buffer)
        self._buffer.clear()
        self._skipping = False
        return partial


def decode_frame(frame: bytes, config: ScannerConfig, rules: CodeRules = DEFAULT_RULES) -> Code:
    """One frame (terminator removed) to a validated code; raises BadCode."""
    prefix, suffix = config.prefix.encode("ascii"), config.suffix.encode("ascii")
    if prefix and frame.startswith(prefix):
        frame = frame[len(prefix) :]
    if suffix and frame.endswith(suffix):
        frame = frame[: -len(suffix)]
    return validate_code(frame, "serial", rules)


# -- ports -----------------------------------------------------------------------------------


def resolve_port(spec: str) -> str:
    """The device path for a port spec: a path as given, ``usb:VID:PID[:SERIAL]`` looked up."""
    match = USB_ID.fullmatch(spec)
    if match is None:
        return spec
    vid, pid, serial_number = int(match[1], 16), int(match[2], 16), match[3]
    found = sorted(
        port.device
        for port in list_ports.comports()
        if port.vid == vid
        and port.pid == pid
        and (serial_number is None or port.serial_number == serial_number)
    )
    if not found:
        raise DeviceError(
            f"No scanner with USB id {match[1].upper()}:{match[2].upper()} is plugged in.",
            device=spec,
            state="absent",
        )
    if len(found) > 1:
        logger.warning("several ports match %s (%s); using %s", spec, ", ".join(found), found[0])
    return str(found[0])


def open_port(config: ScannerConfig) -> serial.Serial:
    """Open the scanner's port with its line settings; raises DeviceError (``state`` detail:
    ``absent`` when it is not there, ``error`` otherwise)."""
    path = resolve_port(config.port)
    busy = False
    try:
        return serial.Serial(
            port=path,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=STOPBITS.get(config.stopbits, serial.STOPBITS_ONE),
            timeout=config.inter_char_timeout_s,
            exclusive=True,
        )
    except serial.SerialException as e:
        code = e.errno if isinstance(e.errno, int) else None
        if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO):
            message, state = f"No scanner at {path}: is it plugged in?", "absent"
        elif code in (errno.EACCES, errno.EPERM):
            message, state = (
                f"Permission denied for {path}: add the cashier account to the dialout group "
                "(see hardware/udev).",
                "error",
            )
        elif "lock" in str(e).lower() or code == errno.EBUSY:
            message, state = f"The scanner at {path} is in use by another program.", "error"
            busy = True
        else:
            message, state = f"The scanner at {path} could not be opened: {e}", "error"
        raise DeviceError(message, device=config.device_name, state=state, busy=busy) from e
    except ValueError as e:
        raise DeviceError(
            f"The scanner settings are not valid for {path}: {e}",
            device=config.device_name,
            state="error",
        ) from e


class _FrameReader:
    """Reads an open port into validated codes; bad frames are dropped with a logged reason.
    ``poll()`` raises serial.SerialException or OSError when the port goes away."""

    def __init__(
        self,
        port: serial.Serial,
        config: ScannerConfig,
        rules: CodeRules,
        on_drop: Callable[[str, str], None] | None = None,
    ) -> None:
        self.port = port
        self.config = config
        self.rules = rules
        self.splitter = FrameSplitter(config.terminator, max(4 * rules.max_length, 256))
        self.dropped = 0
        self._on_drop = on_drop

    def poll(self) -> list[Code]:
        data = self.port.read(self.port.in_waiting or 1)
        if not data:
            if self.splitter.skipping and not self.splitter.pending:
                self.splitter.flush()  # the silence ends the frame that was cut off
            elif self.splitter.pending:
                partial = self.splitter.flush()
                self._drop(
                    f"half a frame ({len(partial)} bytes) then "
                    f"{self.config.inter_char_timeout_s:g} s of silence",
                    partial,
                    "partial",
                )
            return []
        frames, overflow = self.splitter.feed(data)
        if overflow:
            self._drop(
                f"no terminator within {overflow} bytes (check the terminator setting)",
                b"",
                "overflow",
            )
        codes = []
        for frame in frames:
            if not frame.strip(b" "):
                continue  # the LF of a CRLF under terminator "any", or a doubled terminator
            try:
                codes.append(decode_frame(frame, self.config, self.rules))
            except BadCode as e:
                self._drop(e.reason, frame, e.problem)
        return codes

    def _drop(self, reason: str, frame: bytes, problem: str) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop(reason, SAID[problem])
        logger.warning(
            "scanner %s: dropped a frame of %d bytes: %s",
            self.config.device_name,
            len(frame),
            reason,
        )
        logger.debug("dropped frame starts %s", frame[:32].hex(" "))


# -- the scanner loop ------------------------------------------------------------------------


class ScannerLoop:
    """Reads one serial scanner in a worker thread; one ``DeviceEvent`` (kind ``code``, source
    ``serial``) per good frame is handed to ``on_event``, and one ``ScanRejected`` per rejected
    scan (or burst of noise) to ``on_rejected``; both must only hand it over.

    Start with ``start()`` (or ``with``), stop with ``stop()``; the status goes to ``board``
    under ``config.device_name``.
    """

    def __init__(
        self,
        config: ScannerConfig,
        on_event: Callable[[DeviceEvent], None],
        board: StatusBoard | None = None,
        *,
        rules: CodeRules = DEFAULT_RULES,
        clock: Callable[[], float] = time.monotonic,
        on_rejected: Callable[[ScanRejected], None] | None = None,
    ) -> None:
        self.config = config
        self.board = board if board is not None else StatusBoard()
        self.name = config.device_name
        self._on_event = on_event
        self._rules = rules
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._port: serial.Serial | None = None
        self.dropped = 0
        self._on_rejected = on_rejected
        self._last_drop: float | None = None  # when the last frame was dropped (a burst's end)

    def start(self) -> ScannerLoop:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._supervise, name=f"scanner {self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._port is not None:
                self._port.cancel_read()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ScannerLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                port = self._open()
                if port is None:
                    return
                try:
                    self._pump(port)
                except (serial.SerialException, OSError) as e:
                    # pyserial's own words ("device reports readiness to read but returned no
                    # data (device disconnected or multiple access on port?)") are for the log.
                    logger.warning("scanner %s lost: %s", self.name, e)
                    self.board.update(
                        self.name,
                        "scanner",
                        "absent",
                        f"The scanner at {port.port} was unplugged: plug it back in "
                        "(it is picked up by itself).",
                    )
                finally:
                    with self._lock:
                        self._port = None
                    port.close()
            except Exception:  # outermost edge of the thread: log, report, start over
                logger.exception("scanner loop for %s failed; restarting it", self.name)
                self.board.update(
                    self.name, "scanner", "error", "The scanner loop failed; restarting it."
                )
                self._stop.wait(1.0)

    def _open(self) -> serial.Serial | None:
        retrying = Retrying(
            retry=retry_if_exception_type(DeviceError),
            wait=wait_exponential(multiplier=0.05, max=self.config.reopen_max_s),
            stop=lambda _: self._stop.is_set(),
            sleep=self._pause,
            before_sleep=self._open_failed,
            retry_error_callback=lambda _: None,
        )
        port: serial.Serial | None = retrying(open_port, self.config)
        return port

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a backoff that stop() cuts short

    def _open_failed(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, DeviceError):
            status: Any = error.details.get("state", "error")
            now = self.board.get(self.name)
            if status == "absent" and now is not None and now.state == "absent":
                # Still away: what was said when it went stays ("was unplugged: plug it back
                # in (it is picked up by itself)"), not each failed reopen's "is it plugged in?"
                return
            self.board.update(self.name, "scanner", status, error.message)

    def _pump(self, port: serial.Serial) -> None:
        with self._lock:
            self._port = port
        reader = _FrameReader(port, self.config, self._rules, self._dropped)
        self.board.update(self.name, "scanner", "ready")
        while not self._stop.is_set():
            codes = reader.poll()
            self.dropped = reader.dropped
            if codes:
                self._last_drop = None  # a good scan ends a burst: the next bad one is news
            for code in codes:
                event = DeviceEvent.from_code(code, kind="code", device=self.name, at=self._clock())
                logger.info("code %s from %s", mask_card(code.text), self.name)
                try:
                    self._on_event(event)
                except Exception:  # the receiver's bug must not stop the scanner
                    logger.exception("on_event failed for a code from %s", self.name)

    def _dropped(self, reason: str, said: str) -> None:
        now = self._clock()
        in_burst = self._last_drop is not None and now - self._last_drop < REJECT_BURST_S
        self._last_drop = now
        if in_burst or self._on_rejected is None:
            return
        try:
            self._on_rejected(ScanRejected(self.name, reason, said, now))
        except Exception:  # the receiver's bug must not stop the scanner
            logger.exception("on_rejected failed for a scan from %s", self.name)


# -- one-shot functions for the CLI ----------------------------------------------------------


def list_serial_ports() -> list[dict[str, object]]:
    """Serial ports with their USB ids and stable ``/dev/serial/by-id`` links."""
    by_id: dict[str, list[str]] = {}
    if BY_ID_DIR.is_dir():
        for link in sorted(BY_ID_DIR.iterdir()):
            by_id.setdefault(os.path.realpath(link), []).append(str(link))
    ports = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        usb = f"usb:{port.vid:04X}:{port.pid:04X}" if port.vid is not None else None
        ports.append(
            {
                "device": port.device,
                "description": port.description,
                "usb": usb,
                "serial_number": port.serial_number,
                "manufacturer": port.manufacturer,
                "by_id": by_id.get(os.path.realpath(port.device), []),
            }
        )
    return ports


def probe_scanner(config: ScannerConfig) -> tuple[str, str | None]:
    """Whether the configured scanner is there, for ``loyalty-pos devices``: ``found`` (its port
    opens; None, or a note when another program holds it), ``missing`` or ``error``, with the
    reason. Opens the port for a moment and closes it again."""
    try:
        port = open_port(config)
    except DeviceError as e:
        if e.details.get("busy"):
            return "found", f"{e.message} (the checkout app, if it is running)"
        return ("missing" if e.details.get("state") == "absent" else "error"), e.message
    port.close()
    return "found", None


def scan_serial(
    port: str | None,
    timeout: float,
    config: ScannerConfig,
    rules: CodeRules = DEFAULT_RULES,
) -> dict[str, object]:
    """Wait up to ``timeout`` seconds for one good barcode on ``port`` (None = the config's).

    Returns ``{"port", "code", "symbology", "source": "serial"}``; raises DeviceError with a
    sentence (no port, cannot open, unplugged, nothing scanned in time).
    """
    config = replace(config, port=port) if port else config
    if not config.port:
        raise DeviceError("No scanner port is configured or given.", device="scanner")
    device = open_port(config)
    reader = _FrameReader(device, config, rules)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            codes = reader.poll()
            if codes:
                code = codes[0]
                return {
                    "port": device.port,
                    "code": code.text,
                    "symbology": code.symbology,
                    "source": "serial",
                }
    except (serial.SerialException, OSError) as e:
        raise DeviceError(
            f"The scanner at {device.port} was unplugged while waiting for a barcode.",
            device=config.device_name,
        ) from e
    finally:
        device.close()
    raise DeviceError(
        f"No barcode was scanned on {device.port} within {timeout:g} "
        f"second{'' if timeout == 1 else 's'}.",
        device=config.device_name,
    )
