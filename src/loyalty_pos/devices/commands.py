"""The device functions behind the ``loyalty-pos devices ...`` commands: list what is connected,
read one card, scan one barcode. Each returns a plain dict the CLI prints as JSON or a table, and
raises DeviceError with a sentence when it cannot do its job (no reader, nothing in time)."""

from __future__ import annotations

from collections.abc import Sequence

from loyalty_pos.devices.pcsc import (
    DEVICES_PCSCD_DOWN,
    DEVICES_PCSCD_STUCK,
    PCSCD_DOWN,
    PCSCD_STUCK,
    ReaderConfig,
    ReaderInfo,
    list_readers,
    read_card,
)
from loyalty_pos.devices.serial_scanner import (
    ScannerConfig,
    list_serial_ports,
    probe_scanner,
    scan_serial,
)

__all__ = ["list_devices", "read_card", "scan_serial"]


def list_devices(
    reader_config: ReaderConfig | None = None,
    *,
    reader_configured: bool = False,
    scanners: Sequence[ScannerConfig] = (),
) -> dict[str, object]:
    """The configured devices with their state, PC/SC readers (with whether a card is on each)
    and serial ports.

    ``{"configured": [{"kind", "name", "state", "reason"}], "pcsc": {"state", "reason"},
    "readers": [{"name", "matches_filter", "card_present", "atr"}], "serial_ports": [{"device",
    "description", "usb", "serial_number", "manufacturer", "by_id"}]}``. ``configured`` lists
    the reader (when ``reader_configured``) and each enabled scanner, found or not, so that a
    wrong port shows with its reason; ``state`` is ``found``, ``missing`` or ``error`` (the
    CLI adds the printer, which may also be ``refused``). A stopped
    pcscd or a missing pyscard is reported in ``pcsc`` (and the configured reader), not raised.
    """
    state, reason, readers = list_readers(reader_config)
    listing = {PCSCD_DOWN: DEVICES_PCSCD_DOWN, PCSCD_STUCK: DEVICES_PCSCD_STUCK}
    reason = listing.get(reason or "", reason)  # the app's words say its reader comes back
    configured: list[dict[str, object]] = []
    if reader_configured:
        configured.append(
            _configured_reader(reader_config or ReaderConfig(), state, reason, readers)
        )
    for scanner in scanners:
        if scanner.enabled:
            found, why = probe_scanner(scanner)
            configured.append(
                {"kind": "scanner", "name": scanner.device_name, "state": found, "reason": why}
            )
    return {
        "configured": configured,
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


def _configured_reader(
    config: ReaderConfig, state: str, reason: str | None, readers: list[ReaderInfo]
) -> dict[str, object]:
    name = f"PC/SC reader {config.name_filter!r}" if config.name_filter else "PC/SC reader"
    entry: dict[str, object] = {"kind": "reader", "name": name, "state": "found", "reason": None}
    if state != "ready":
        entry.update(state="missing" if state == "absent" else "error", reason=reason)
    elif not any(info.matches_filter for info in readers):
        seen = ", ".join(info.name for info in readers) or "none"
        entry.update(
            state="missing",
            reason=f"No card reader whose name contains {config.name_filter!r} is connected "
            f"(readers seen: {seen}); check [reader] name_filter.",
        )
    return entry
