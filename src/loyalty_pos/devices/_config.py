"""Typed reads of one config table for the device adapters, collecting every problem at once.

Each device config (``ReaderConfig``, ``ScannerConfig``, ``CodeRules``) is a frozen dataclass
built from a TOML table; this module does the shared part: reject unknown keys, check types and
ranges, and name the file and the key in each problem (``ConfigError(source, problems)``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from typing import Any

from loyalty_pos.domain.errors import ConfigError


def device_enabled(table: Mapping[str, Any]) -> bool:
    """Whether a ``[reader]`` or ``[scanner]`` table asks for its device: the table is there and
    not ``enabled = false`` (the app and ``loyalty-pos devices`` read it alike)."""
    return bool(table) and table.get("enabled", True) is True


class TableReader:
    """Reads keys of one table; ``done()`` raises ConfigError listing every problem found."""

    def __init__(self, table: Mapping[str, object], source: str, section: str, cls: type) -> None:
        self.table = table
        self.source = source
        self.section = section
        self.problems: list[str] = []
        self._defaults = {f.name: f.default for f in fields(cls)}
        if not isinstance(table, Mapping):
            self.problems.append(f"{section}: must be a table, got {type(table).__name__}")
            self.table = {}
            return
        for key in table:
            if key not in self._defaults:
                known = ", ".join(sorted(self._defaults))
                self.problems.append(f"{self._key(key)}: unknown key (known keys: {known})")

    def _key(self, key: str) -> str:
        return f"{self.section}.{key}" if self.section else key

    def _problem(self, key: str, text: str) -> Any:
        self.problems.append(f"{self._key(key)}: {text}, got {self.table[key]!r}")
        return self._defaults[key]

    def boolean(self, key: str) -> Any:
        if key not in self.table:
            return self._defaults[key]
        value = self.table[key]
        return value if isinstance(value, bool) else self._problem(key, "must be true or false")

    def integer(self, key: str, low: int, high: int) -> Any:
        if key not in self.table:
            return self._defaults[key]
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return self._problem(key, f"must be a whole number from {low} to {high}")
        return value

    def number(self, key: str, low: float, high: float) -> Any:
        if key not in self.table:
            return self._defaults[key]
        value = self.table[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            return self._problem(key, f"must be a number from {low:g} to {high:g}")
        return float(value)

    def text(
        self,
        key: str,
        *,
        choices: Collection[str] | None = None,
        normalise: Callable[[str], str] = str,
        optional: bool = False,
        check: Callable[[str], str | None] | None = None,
    ) -> Any:
        if key not in self.table:
            return self._defaults[key]
        value = self.table[key]
        if not isinstance(value, str):
            return self._problem(key, "must be a string" + (" or left out" if optional else ""))
        value = normalise(value)
        if choices is not None and value not in choices:
            return self._problem(key, "must be one of " + ", ".join(repr(c) for c in choices))
        if check is not None and (why := check(value)) is not None:
            return self._problem(key, why)
        return value if value or not optional else None

    def done(self) -> None:
        if self.problems:
            raise ConfigError(self.source, self.problems)
