"""The device functions behind the ``loyalty-pos devices ...`` commands: list what is connected,
read one card, scan one barcode. Each returns a plain dict the CLI prints as JSON or a table, and
raises DeviceError with a sentence when it cannot do its job (no reader, nothing in time)."""

from __future__ import annotations

from loyalty_pos.devices.pcsc import ReaderConfig, list_readers, read_card
from loyalty_pos.devices.serial_scanner import list_serial_ports, scan_serial

__all__ = ["list_devices", "read_card", "scan_serial"]


def list_devices(reader_config: ReaderConfig | None = None) -> dict[str, object]:
    """PC/SC readers (with whether a card is on each) and serial ports.

    ``{"pcsc": {"state", "reason"}, "readers": [{"name", "matches_filter", "card_present",
    "atr"}], "serial_ports": [{"device", "description", "usb", "serial_number", "manufacturer",
    "by_id"}]}``. A stopped pcscd or a missing pyscard is reported in ``pcsc``, not raised.
    """
    state, reason, readers = list_readers(reader_config)
    return {
        "pcsc": {"state": state, "reason": reason},
        "readers": [
            {
                "name": info.name,
                "matches_filter": info.matches_filter,
                "card_present": info.card_present,
                "atr": info.atr,
            }
            for info in readers
        ],
        "serial_ports": list_serial_ports(),
    }
