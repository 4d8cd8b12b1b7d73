"""Alembic migrations of the ledger's schema, shipped inside the package and run on every start."""
