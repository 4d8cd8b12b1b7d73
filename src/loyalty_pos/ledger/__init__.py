"""The central ledger: the store-wide truth about members' points (DESIGN.md §9).

Terminals push their hash-chained journals here and pull member snapshots back. Every event becomes
double-entry transfers in append-only tables; the HTTP service (``api``), the admin CLI (``cli``)
and the reports all go through one store (``store.LedgerStore``) over SQLAlchemy Core, so SQLite
and PostgreSQL run the same code.
"""
