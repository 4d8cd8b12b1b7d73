"""Fixtures for the device tests: a pcscd of our own (started, restarted and stopped by its pid),
virtual cards, pty scanners, and reader/scanner loops that are always stopped.

Without pcscd, the vpcd driver or pyscard the PC/SC tests skip on a developer's machine and fail
in CI (``CI`` set): a skipped hardware test there would hide a broken environment.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hardware.pcscd import Pcscd, missing_requirements
from hardware.pty_scanner import PtyScanner
from loyalty_pos.devices.events import DeviceEvent, StatusBoard

READER_0 = "Virtual PCD 00 00"
READER_1 = "Virtual PCD 00 01"
PORT_0 = 35963
PORT_1 = 35964


@pytest.fixture(scope="session")
def pcsc_stack() -> None:
    missing = missing_requirements()
    if missing:
        message = "PC/SC test stack incomplete: " + "; ".join(missing) + " (scripts/hardware-env)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def pcscd(pcsc_stack: None, tmp_path: Path) -> Iterator[Pcscd]:
    """A running pcscd with the two virtual readers; its log is tmp_path/pcscd.log."""
    daemon = Pcscd(log=tmp_path / "pcscd.log").start()
    yield daemon
    daemon.stop()


@pytest.fixture
def pcscd_stopped(pcsc_stack: None, tmp_path: Path) -> Iterator[Pcscd]:
    """A pcscd that is not running yet (the test starts it); stopped at the end either way."""
    daemon = Pcscd(log=tmp_path / "pcscd.log")
    from hardware.pcscd import stop_stale_pcscd

    stop_stale_pcscd()
    yield daemon
    daemon.stop()


@pytest.fixture
def board() -> StatusBoard:
    return StatusBoard()


@pytest.fixture
def events() -> queue.Queue[DeviceEvent]:
    return queue.Queue()


@pytest.fixture
def reader_loop(
    events: queue.Queue[DeviceEvent], board: StatusBoard
) -> Iterator[Callable[..., object]]:
    """Start a ReaderLoop: ``reader_loop(name_filter=..., card_source=...)``."""
    from loyalty_pos.devices.pcsc import ReaderConfig, ReaderLoop

    loops: list[ReaderLoop] = []

    def start(**settings: object) -> ReaderLoop:
        settings.setdefault("poll_timeout_s", 0.3)
        loop = ReaderLoop(ReaderConfig(**settings), events.put, board, reconnect_max_s=0.3)  # type: ignore[arg-type]
        loops.append(loop.start())
        return loop

    yield start
    for loop in loops:
        loop.stop()
        assert not loop.running, "the reader loop did not stop"


@pytest.fixture
def pty_scanner(tmp_path: Path) -> Iterator[PtyScanner]:
    """A simulated serial scanner behind the stable link tmp_path/scanner."""
    scanner = PtyScanner(link=tmp_path / "scanner")
    yield scanner
    scanner.close()


@pytest.fixture
def scanner_loop(
    events: queue.Queue[DeviceEvent], board: StatusBoard
) -> Iterator[Callable[..., object]]:
    """Start a ScannerLoop: ``scanner_loop(port=..., terminator=...)``."""
    from loyalty_pos.devices.serial_scanner import ScannerConfig, ScannerLoop

    loops: list[ScannerLoop] = []

    def start(**settings: object) -> ScannerLoop:
        settings.setdefault("inter_char_timeout_s", 0.1)
        settings.setdefault("reopen_max_s", 0.2)
        loop = ScannerLoop(ScannerConfig(**settings), events.put, board)  # type: ignore[arg-type]
        loops.append(loop.start())
        return loop

    yield start
    for loop in loops:
        loop.stop()
        assert not loop.running, "the scanner loop did not stop"
