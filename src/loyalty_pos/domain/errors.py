"""The project's exceptions: one root, narrow subclasses carrying what a person needs to be told.

Every adapter translates its library's exceptions into one of these (``raise ... from e``), so the
CLI and the app can show a sentence instead of a traceback.
"""

from __future__ import annotations


class LoyaltyPosError(Exception):
    """Root of every error this project raises on purpose. ``str(e)`` is a sentence for a person."""

    code = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, **self.details}


class Refused(LoyaltyPosError):
    """The operation was refused by a rule or bad input; nothing was recorded (CLI exit 2)."""

    code = "refused"


class ConfigError(Refused):
    """A config file is invalid. ``problems`` lists every problem found, each naming file and key."""

    code = "config"

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems), file=source, problems=problems)
        self.source = source
        self.problems = problems


class NotFound(Refused):
    code = "not_found"


class RedeemRefused(Refused):
    """A points payment broke a limit; ``limit`` names it (balance, min_cash, max_share, ...)."""

    code = "redeem_refused"

    def __init__(self, message: str, limit: str, **details: object) -> None:
        super().__init__(message, limit=limit, **details)
        self.limit = limit


class AuthError(Refused):
    code = "auth"


class DeviceError(LoyaltyPosError):
    """A reader, scanner or printer failed; ``device`` names it."""

    code = "device"


class StorageError(LoyaltyPosError):
    """The local database cannot be read or written (corrupt, locked, disk full, read-only)."""

    code = "storage"
