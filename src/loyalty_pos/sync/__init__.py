"""The terminal's sync client: push the outbox, pull member snapshots, know whether we are online."""

from .client import LedgerClient, SyncError, ledger_balances, sync

__all__ = ["LedgerClient", "SyncError", "ledger_balances", "sync"]
