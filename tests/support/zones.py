"""The machine's own time zone set for a block of a test, as a till without ``timezone`` in its
config keeps the machine's time."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def machine_zone(name: str) -> Iterator[None]:
    """The machine's time zone is ``name`` (``TZ``) inside the block, and as it was after."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
