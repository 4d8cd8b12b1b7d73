"""Telling a keyboard-wedge scanner from a person typing, by the rhythm of the keys.

A wedge scanner "types" its code and Enter within a few milliseconds per key; a person needs
80 ms or more between keys. The app shows every key to a ``WedgeDetector`` before the focused
widget gets it, so a scan is recognised wherever the focus is and even when the cashier had half
typed something: the burst is taken from the detector's own buffer, not from an Input (which may
not receive a fast burst intact, Textual issue 6605).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Longest gap between two keys of one scan, in seconds.
MAX_GAP_S = 0.04
#: Fewest characters a burst needs to count as a scan (the shortest barcode, UPC-E, has 6 digits).
MIN_LENGTH = 6


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one key.

    Attributes:
        scan: the scanned code when this key (Enter) ends a burst; the key must then be swallowed.
        starts_burst: this key may be the first of a scan: remember what the focused field held.
    """

    scan: str | None = None
    starts_burst: bool = False


PASS = Verdict()


class WedgeDetector:
    def __init__(self, max_gap_s: float = MAX_GAP_S, min_length: int = MIN_LENGTH) -> None:
        self.max_gap_s = max_gap_s
        self.min_length = min_length
        self._chars: list[str] = []
        self._last: float | None = None

    def reset(self) -> None:
        """Forget the keys seen so far: the next key starts afresh."""
        self._chars, self._last = [], None

    def feed(self, key: str, character: str | None, at: float) -> Verdict:
        """Look at one key (``character`` is None for keys that type nothing) pressed at ``at``."""
        fast = self._last is not None and at - self._last <= self.max_gap_s
        if character is not None and character.isprintable() and key != "enter":
            starts = not fast
            if starts:
                self._chars = []
            self._chars.append(character)
            self._last = at
            return Verdict(starts_burst=starts)
        text = "".join(self._chars)
        self._chars, self._last = [], None
        if key == "enter" and fast and len(text) >= self.min_length:
            return Verdict(scan=text)
        return PASS
