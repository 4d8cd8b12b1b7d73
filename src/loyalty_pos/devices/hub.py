"""Starts and stops every device loop the terminal config asks for, as one unit, for the TUI.

The app gives one ``on_event`` and one ``on_rejected`` (a scan the till did not take), which must
only hand over (e.g. ``app.post_message``), and one ``StatusBoard``; a reader that cannot start (pyscard not installed) becomes an ``error``
status instead of stopping the app, so scanners and typed numbers keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from loyalty_pos.devices.codes import DEFAULT_RULES, CodeRules
from loyalty_pos.devices.events import DeviceEvent, ScanRejected, StatusBoard
from loyalty_pos.devices.pcsc import SERVICE, ReaderConfig, ReaderLoop
from loyalty_pos.devices.serial_scanner import ScannerConfig, ScannerLoop
from loyalty_pos.domain.errors import DeviceError

logger = logging.getLogger(__name__)


class DeviceHub:
    """The running device loops. ``start()`` once, ``stop()`` on exit (idempotent)."""

    def __init__(
        self,
        on_event: Callable[[DeviceEvent], None],
        *,
        reader: ReaderConfig | None = None,
        scanners: Sequence[ScannerConfig] = (),
        board: StatusBoard | None = None,
        rules: CodeRules = DEFAULT_RULES,
        on_rejected: Callable[[ScanRejected], None] | None = None,
    ) -> None:
        self.board = board if board is not None else StatusBoard()
        self._on_event = on_event
        self._reader_config = reader
        self._scanner_configs = [config for config in scanners if config.enabled]
        self._rules = rules
        self._on_rejected = on_rejected
        self.loops: list[ReaderLoop | ScannerLoop] = []

    def start(self) -> DeviceHub:
        if self._reader_config is not None and self._reader_config.enabled:
            try:
                reader = ReaderLoop(
                    self._reader_config, self._on_event, self.board, rules=self._rules
                )
            except DeviceError as e:
                self.board.update(SERVICE, "reader", "error", e.message)
            else:
                self.loops.append(reader.start())
        for config in self._scanner_configs:
            scanner = ScannerLoop(
                config,
                self._on_event,
                self.board,
                rules=self._rules,
                on_rejected=self._on_rejected,
            )
            self.loops.append(scanner.start())
        return self

    def stop(self, timeout: float = 5.0) -> None:
        for loop in self.loops:
            loop.stop(timeout)
        self.loops.clear()

    def __enter__(self) -> DeviceHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
