"""Alembic environment: always online, on the connection the ledger hands over.

``loyalty_pos.ledger.db.migrate`` puts a live SQLAlchemy connection into
``config.attributes["connection"]``; there is no alembic.ini and no URL here, so the migrations run
exactly where the service runs.
"""

from __future__ import annotations

from alembic import context

from loyalty_pos.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the ledger's migrations through loyalty_pos.ledger.db.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
