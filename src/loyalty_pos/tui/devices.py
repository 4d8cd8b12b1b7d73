"""The one hook between the devices and the app.

``DeviceLink.start`` starts the card reader and serial scanner the terminal config enables
(``devices.hub.DeviceHub``) and turns what they report into the app's messages: a tap or a scan
becomes the same ``CodeScanned`` the keyboard and the item field produce; a status change becomes
``DeviceStatusChanged`` for the status bar; a scan the scanner sent but the till refused becomes
``ScanRejected``. The loops run on their own threads and only hand over
(``post`` is the app's thread-safe ``post_message``). The receipt printer is asked for its status
from a worker thread of the app. ``simulate`` replaces the reader and scanner by two keys.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from textual.message import Message

from loyalty_pos.checkout import Terminal
from loyalty_pos.devices import device_enabled
from loyalty_pos.domain.errors import LoyaltyPosError

from .messages import CodeScanned, DeviceStatusChanged, ScanRejected

logger = logging.getLogger(__name__)

Post = Callable[[Message], Any]


class DeviceLink:
    def __init__(self, terminal: Terminal, post: Post, *, simulate: bool = False) -> None:
        self.t = terminal
        self.post = post
        self.simulate = simulate
        self.hub: Any = None
        self._demo: dict[str, list[str]] = {}
        self._turn: dict[str, int] = {}
        self._printing = threading.Lock()  # one job at a time: receipts never interleave
        self._printed: set[str] = set()  # receipt ids that came out of the printer here

    @property
    def source(self) -> str:
        return str(self.t.home / "terminal.toml")

    def start(self) -> None:
        """Start the enabled reader and scanner; a problem shows as that device's state."""
        if self.simulate:
            self._status("simulated reader", "reader", "ready", None)
            self._status("simulated scanner", "scanner", "ready", None)
            return
        reader_table, scanner_table = self.t.config.reader, self.t.config.scanner
        if not device_enabled(reader_table) and not device_enabled(scanner_table):
            return
        try:
            from loyalty_pos.devices.events import StatusBoard
            from loyalty_pos.devices.hub import DeviceHub
            from loyalty_pos.devices.pcsc import ReaderConfig
            from loyalty_pos.devices.serial_scanner import ScannerConfig

            reader = (
                ReaderConfig.from_dict(reader_table, self.source, "reader")
                if device_enabled(reader_table)
                else None
            )
            scanners = (
                [ScannerConfig.from_dict(scanner_table, self.source, "scanner")]
                if device_enabled(scanner_table)
                else []
            )
            board = StatusBoard()
            board.subscribe(
                lambda s: self.post(DeviceStatusChanged(s.name, s.kind, s.state, s.reason))
            )
            self.hub = DeviceHub(
                self._event,
                reader=reader,
                scanners=scanners,
                board=board,
                on_rejected=lambda r: self.post(ScanRejected(r.device, r.said)),
            )
            self.hub.start()
        except (LoyaltyPosError, ImportError, OSError) as e:
            kind = "reader" if device_enabled(reader_table) else "scanner"
            self._status(f"{kind} config", kind, "error", str(e))

    def stop(self) -> None:
        if self.hub is not None:
            try:
                self.hub.stop(timeout=1.0)
            except (LoyaltyPosError, OSError, RuntimeError) as e:
                logger.warning("a device loop did not stop cleanly: %s", e)
            self.hub = None

    def _event(self, event: Any) -> None:
        """A DeviceEvent, on the device's thread: hand it over, nothing more."""
        self.post(
            CodeScanned(
                event.text,
                event.source,
                event.kind,
                device=event.device,
                symbology=event.symbology,
            )
        )

    def _status(
        self, name: str, kind: str, state: str, reason: str | None, *, quiet: bool = False
    ) -> None:
        self.post(DeviceStatusChanged(name, kind, state, reason, quiet=quiet))

    # -- the receipt printer ------------------------------------------------------------------

    @property
    def has_printer(self) -> bool:
        from loyalty_pos.receipts.printer import printer_configured

        return printer_configured(self.t.config.printer)

    def check_printer(self, config: Any) -> str | None:
        """Ask the printer for its state (on a worker thread: it may take ``timeout_s``) and
        return it; None when a receipt is being printed (a network printer serves one
        connection at a time, and the print reports the state itself)."""
        from loyalty_pos.receipts.printer import printer_status

        if not self._printing.acquire(blocking=False):
            return None
        try:
            state, reason = printer_status(config)
        except (LoyaltyPosError, OSError) as e:
            state, reason = "error", str(e)
        finally:
            self._printing.release()
        self._status("printer", "printer", state, None if state == "ready" else reason)
        return state

    def print(self, receipt: Any, config: Any) -> tuple[str, str] | None:
        """Print ``receipt`` (on a worker thread); None when printed, else why not: (what went
        wrong, what to do, without a full stop; "" when there is nothing more to say)."""
        from loyalty_pos.receipts.printer import PrinterError, print_receipt, status_message

        try:
            with self._printing:
                if receipt.receipt_id in self._printed and not receipt.copy:
                    # Built as an original while that original was still printing (a reprint
                    # asked at once, F8 5 pressed twice): it comes out as what it now is.
                    receipt = dataclasses.replace(receipt, copy=True)
                print_receipt(receipt, config)
                self._printed.add(receipt.receipt_id)
        except PrinterError as e:
            state = "absent" if e.reason == "absent" else "error"
            # In the words of the status check that follows, so that finding the printer in the
            # same state is not news: the receipt's own message has said it.
            self._status("printer", "printer", state, status_message(e), quiet=True)
            return e.what, e.todo
        except (LoyaltyPosError, OSError) as e:
            self._status("printer", "printer", "error", str(e), quiet=True)
            return str(e), ""
        self._status("printer", "printer", "ready", None, quiet=True)
        return None

    # -- simulated devices (``loyalty-pos demo``) ---------------------------------------------

    def simulate_tap(self) -> None:
        card = self._next("members.csv", "card")
        if card:
            self.post(CodeScanned(card, "simulated", "card", device="simulated reader"))

    def simulate_scan(self) -> None:
        code = self._next("catalog.csv", "ean")
        if code:
            self.post(CodeScanned(code, "simulated", device="simulated scanner"))

    def _next(self, file: str, column: str) -> str | None:
        if file not in self._demo:
            from loyalty_pos.bootstrap import demo_data_dir

            try:
                with (demo_data_dir() / "demo" / file).open(encoding="utf-8") as f:
                    self._demo[file] = [row[column] for row in csv.DictReader(f) if row[column]]
            except (OSError, KeyError, csv.Error):
                self._demo[file] = []
        codes = self._demo[file]
        if not codes:
            return None
        turn = self._turn.get(file, 0)
        self._turn[file] = turn + 1
        return codes[turn % len(codes)]
