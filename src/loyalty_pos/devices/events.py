"""What the devices tell the rest of the terminal: one event type for every input source, and the
latest state of each device.

Every source (PC/SC reader, serial scanner, keyboard wedge, a number typed by the cashier) emits
the same ``DeviceEvent``, so the checkout screen handles "a card or code arrived" once. Device
health goes to a ``StatusBoard`` that the status bar, the ``devices`` CLI command and the tests
read; its listeners are called on the device thread that changed the status and must only hand
the status over (``app.post_message``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from loyalty_pos.devices.codes import Code

logger = logging.getLogger(__name__)

EventKind = Literal["card", "code"]
EventSource = Literal["pcsc", "serial", "wedge", "typed"]
DeviceKind = Literal["reader", "scanner", "printer"]
DeviceState = Literal["ready", "absent", "error"]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A card was tapped or a code was scanned or typed.

    Attributes:
        kind: ``card`` (a PC/SC card: UID or NDEF card number) or ``code`` (a barcode or typed
            text; the checkout decides whether it is a loyalty card, a product or a receipt).
        text: the validated card id or code.
        source: ``pcsc``, ``serial``, ``wedge`` or ``typed``.
        device: the reader or port it came from (``Virtual PCD 00 00``, ``/dev/ttyACM0``).
        symbology: the AIM symbology identifier (``]E0``), when the scanner sent one.
        at: ``time.monotonic()`` when the event was emitted.
    """

    kind: EventKind
    text: str
    source: EventSource
    device: str
    symbology: str | None
    at: float

    @classmethod
    def from_code(cls, code: Code, *, kind: EventKind, device: str, at: float) -> DeviceEvent:
        return cls(kind, code.text, code.source, device, code.symbology, at)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ScanRejected:
    """A scanner sent something the till did not take (the scanner beeped, nothing happened).

    One per rejected scan; a burst of rejected frames (line noise, a scanner set to the wrong
    baud rate) is one ``ScanRejected``, for its first frame.

    Attributes:
        device: the scanner's name (its port).
        reason: what was wrong, in the words of the log (``check digit``, byte positions).
        said: what was wrong in words a cashier understands, one sentence.
        at: ``time.monotonic()`` when it was rejected.
    """

    device: str
    reason: str
    said: str
    at: float


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The state of one device.

    Attributes:
        name: the device (``pcsc`` for the PC/SC service, a reader's name, a scanner's port).
        kind: ``reader``, ``scanner`` or ``printer``.
        state: ``ready``, ``absent`` (not connected / service not running) or ``error``.
        reason: a sentence for the cashier or the IT person when not ready, else None.
        changed_at: when the state or reason last changed (UTC).
    """

    name: str
    kind: DeviceKind
    state: DeviceState
    reason: str | None
    changed_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "reason": self.reason,
            "changed_at": self.changed_at.isoformat(),
        }


StatusListener = Callable[[DeviceStatus], None]


class StatusBoard:
    """The latest ``DeviceStatus`` per device; thread-safe.

    ``update`` is called by the device threads; a status equal in state and reason to the current
    one changes nothing (so a loop may report "ready" on every poll without noise).
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._statuses: dict[str, DeviceStatus] = {}
        self._listeners: list[StatusListener] = []
        self._changed = threading.Condition()

    def update(
        self, name: str, kind: DeviceKind, state: DeviceState, reason: str | None = None
    ) -> DeviceStatus:
        with self._changed:
            current = self._statuses.get(name)
            if current is not None and (current.state, current.reason) == (state, reason):
                return current
            status = DeviceStatus(name, kind, state, reason, self._clock())
            self._statuses[name] = status
            listeners = list(self._listeners)
            self._changed.notify_all()
        log = logger.info if state == "ready" else logger.warning
        log("%s %s: %s%s", kind, name, state, f" ({reason})" if reason else "")
        for listener in listeners:
            try:
                listener(status)
            except Exception:  # a listener's bug must not stop the device thread that called it
                logger.exception("status listener failed for %s", name)
        return status

    def get(self, name: str) -> DeviceStatus | None:
        with self._changed:
            return self._statuses.get(name)

    def snapshot(self) -> tuple[DeviceStatus, ...]:
        """Every device's latest status, sorted by kind then name."""
        with self._changed:
            return tuple(sorted(self._statuses.values(), key=lambda s: (s.kind, s.name)))

    def forget(self, name: str) -> None:
        with self._changed:
            self._statuses.pop(name, None)

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener(status)`` on every change; returns the function that unsubscribes."""
        with self._changed:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._changed:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def wait_for(
        self,
        name: str,
        state: DeviceState,
        timeout: float,
        *,
        reason_contains: str | None = None,
    ) -> DeviceStatus | None:
        """Block until ``name`` is in ``state`` (and its reason contains the text given);
        return that status, or None on timeout."""

        def matches() -> DeviceStatus | None:
            status = self._statuses.get(name)
            if status is None or status.state != state:
                return None
            if reason_contains is not None and reason_contains not in (status.reason or ""):
                return None
            return status

        with self._changed:
            if self._changed.wait_for(lambda: matches() is not None, timeout):
                return matches()
            return None

    def to_dict(self) -> dict[str, dict[str, object]]:
        return {status.name: status.to_dict() for status in self.snapshot()}
