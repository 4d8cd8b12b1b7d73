"""The terminal's sync client: push the outbox, pull member snapshots, know whether we are online."""

from .client import LedgerClient, SyncError, sync

__all__ = ["LedgerClient", "SyncError", "sync"]
