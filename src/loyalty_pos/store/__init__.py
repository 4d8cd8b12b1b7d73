"""The terminal's local SQLite cache: members, cards, catalog, lots, the journal and its outbox."""

from .db import Store, open_store

__all__ = ["Store", "open_store"]
