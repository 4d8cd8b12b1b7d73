"""Connecting to the ledger's database and migrating it: the only place that knows the dialects.

``sqlite:///path`` is the embedded default; ``postgresql://...`` runs on psycopg 3 behind
SQLAlchemy's connection pool. Everything above this module is the same SQLAlchemy Core code for
both. Two things differ and live here: connection set-up (SQLite pragmas, the psycopg driver name)
and the lock taken around migrations on PostgreSQL.

Writers are serialised by locking the single ``ledger_state`` row as the first statement of every
write transaction (``UPDATE`` takes a row lock on PostgreSQL and the write lock on SQLite). That
makes the global sequence commit in order, which is what lets a pull cursor never skip a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from loyalty_pos.domain.errors import ConfigError, StorageError

from .schema import ledger_state

MIGRATIONS = Path(__file__).with_name("migrations")


def parse_url(url: str) -> sa.URL:
    """The SQLAlchemy URL for ``--db``; plain ``postgresql://`` means psycopg 3."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise ConfigError(
            "--db", [f"{url!r} is not a database URL (sqlite:///path or postgresql://user@host/db)"]
        ) from e
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("--db", ["the ledger needs a SQLite file: sqlite:///path/ledger.db"])
        return parsed
    raise ConfigError(
        "--db", [f"unsupported database {parsed.drivername!r}: use sqlite:/// or postgresql://"]
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = Path(str(parsed.database))
        if not database.parent.exists():
            raise ConfigError("--db", [f"folder {database.parent} does not exist"])
        engine = sa.create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = sa.create_engine(
        parsed, pool_size=8, max_overflow=8, pool_pre_ping=True, pool_recycle=1800
    )
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two services starting at once on a fresh database must not both create tables.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7265839)"))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except sa.exc.OperationalError as e:
        raise StorageError(f"cannot open the ledger database: {_first_line(e)}") from e


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Append rows to an append-only table within the current transaction.

    On PostgreSQL this is ``COPY ... FROM STDIN`` on the same connection (the constraints still
    hold: a duplicate aborts the transaction); elsewhere a plain executemany. Pushes spend most of
    their database time here, and COPY is several times cheaper per row than INSERT.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    raw: Any = conn.connection.dbapi_connection  # a psycopg.Connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except conn.dialect.loaded_dbapi.IntegrityError as e:
        raise sa.exc.IntegrityError(statement, None, e) from e


def upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows of a cache table, overwriting the ones already there (by primary key).

    ``INSERT ... ON CONFLICT DO UPDATE`` on both databases; only cache tables (members, cards)
    are ever upserted. On PostgreSQL the rows are first copied into a temporary table of the
    same shape (``COPY``), then upserted by one set-based statement.
    """
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    names = list(rows[0])
    if conn.dialect.name == "postgresql":
        stage = f"stage_{table.name}"
        columns = ", ".join(f'"{n}"' for n in names)
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n not in keys)
        conflict = ", ".join(f'"{k}"' for k in keys)
        raw: Any = conn.connection.dbapi_connection  # a psycopg.Connection
        staged = conn.connection.info.setdefault("staging_tables", set())
        with raw.cursor() as cursor:
            if stage not in staged:  # once per pooled connection
                cursor.execute(
                    f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" '
                    f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
                )
                staged.add(stage)
            with cursor.copy(f'COPY "{stage}" ({columns}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([row[name] for name in names])
            cursor.execute(
                f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{stage}" '
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )
            cursor.execute(f'DELETE FROM "{stage}"')
        return
    from sqlalchemy.dialects.sqlite import insert

    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: stmt.excluded[name] for name in names if name not in keys},
    )
    conn.execute(stmt, rows)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction, serialised with every other writer of this database."""
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.update(ledger_state)
                .where(ledger_state.c.id == 1)
                .values(gseq=ledger_state.c.gseq)
            )
            yield conn
    except sa.exc.OperationalError as e:
        raise StorageError(f"the ledger database failed: {_first_line(e)}") from e


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.OperationalError as e:
        raise StorageError(f"the ledger database failed: {_first_line(e)}") from e


def _first_line(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else str(error)
