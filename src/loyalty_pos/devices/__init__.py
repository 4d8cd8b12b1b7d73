"""Card readers, barcode scanners and the one event stream they feed.

Light imports only: ``pcsc`` (pyscard, optional) and ``serial_scanner`` are imported by whoever
starts them (``devices.hub``, ``devices.commands``).
"""

from loyalty_pos.devices._config import device_enabled
from loyalty_pos.devices.codes import BadCode, Code, CodeRules, validate_code
from loyalty_pos.devices.events import DeviceEvent, DeviceStatus, StatusBoard

__all__ = [
    "BadCode",
    "Code",
    "CodeRules",
    "DeviceEvent",
    "DeviceStatus",
    "StatusBoard",
    "device_enabled",
    "validate_code",
]
