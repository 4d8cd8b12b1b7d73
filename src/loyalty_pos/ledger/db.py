"""Connecting to the ledger's database and migrating it: the only place that knows the dialects.

``sqlite:///path`` is the embedded default; ``postgresql://...`` runs on psycopg 3 behind
SQLAlchemy's connection pool. Everything above this module is the same SQLAlchemy Core code for
both. What differs lives here: connection set-up (SQLite pragmas, the psycopg driver name), the
lock taken around migrations on PostgreSQL, and how a transaction's rows are written (``Writer``:
pipelined multi-row statements on PostgreSQL, plain executemany on SQLite).

Writers are serialised by locking the single ``ledger_state`` row as the first statement of every
write transaction (``UPDATE`` takes a row lock on PostgreSQL and the write lock on SQLite). That
makes the global sequence commit in order, which is what lets a pull cursor never skip a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from operator import itemgetter
from pathlib import Path
from types import NoneType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from loyalty_pos.domain.errors import ConfigError, StorageError
from loyalty_pos.private import create_file

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
            # sqlite:///var/lib/x.db is the relative path var/lib/x.db (SQLAlchemy's rule): say
            # the folder as it was looked for, and how an absolute path is written.
            where = database.parent.absolute()
            hint = (
                ""
                if database.is_absolute()
                else f" (sqlite:///{database} is a path relative to the folder the command runs"
                f" in; the absolute path /{database} takes four slashes: sqlite:////{database})"
            )
            raise ConfigError("--db", [f"folder {where} does not exist{hint}"])
        # Made here before SQLite would make it with the umask's mode: the members' names,
        # emails and points are the ledger's user's alone, and SQLite gives its -wal and -shm
        # the file's mode. A file that is there keeps the mode it has.
        try:
            create_file(database)
        except OSError as e:
            raise StorageError(f"cannot open the ledger database: {database}: {e.strerror}") from e
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


class Writer:
    """Writes rows within the current write transaction, in the order asked, and on PostgreSQL
    without waiting for the server.

    ``insert`` appends rows to an append-only table, ``upsert`` inserts or overwrites rows of a
    cache table (members, cards: by primary key, each key at most once per call), ``update``
    sets columns of the rows whose columns equal ``where``.

    On PostgreSQL every statement is sent in pipeline mode as soon as it is asked for, and the
    server runs it while the caller computes what comes next (a push's Python and PostgreSQL
    used to take turns; with the rows streamed, they run side by side). Rows travel as arrays
    (see ``_array_literal``), one ``INSERT ... SELECT FROM unnest(...)`` per call (``ON CONFLICT
    ... DO UPDATE`` for ``upsert``); the constraints hold as for any INSERT. Rows whose table
    generates its id go one INSERT per row, so that the ids follow their order. A failure (a
    duplicate key) is raised as the usual ``sqlalchemy.exc`` error by the call that notices it
    or by ``sync``, which waits for everything sent; leaving the ``with`` block syncs.
    SQLAlchemy cannot read results in pipeline mode: call ``sync`` before running any other
    statement on the connection (the writer re-enters pipeline mode on its next call).
    Elsewhere (SQLite) each call is a plain statement run at once, and ``streams`` is False.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.streams = conn.dialect.name == "postgresql"
        self._stack: ExitStack | None = None  # the open pipeline and its cursor
        self._cursor: Any = None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.sync()
        else:  # the transaction is rolled back anyway: leave pipeline mode quietly
            self._leave(quiet=True)

    def insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if not self.streams:
            self.conn.execute(table.insert(), list(rows))
            return
        names = tuple(rows[0])
        if any(c.autoincrement is True and c.name not in names for c in table.primary_key):
            columns = ", ".join(f'"{n}"' for n in names)
            marks = ", ".join(["%s"] * len(names))
            sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'
            values = [[row[n] for n in names] for row in rows]
            self._send(lambda cur: cur.executemany(sql, values))
            return
        self._send_arrays(table, names, rows, "")

    def insert_rows(
        self, table: sa.Table, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> None:
        """``insert`` of rows given as tuples of the columns ``names``, in that order: what a
        push builds for each event, cheaper than a mapping to build and to turn into arrays."""
        if not rows:
            return
        if not self.streams:
            self.conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])
            return
        if any(c.autoincrement is True and c.name not in names for c in table.primary_key):
            self.insert(table, [dict(zip(names, row, strict=True)) for row in rows])
            return
        self._send_columns(table, names, list(zip(*rows, strict=True)), "")

    def upsert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        names = tuple(rows[0])
        if not self.streams:
            from sqlalchemy.dialects.sqlite import insert

            stmt = insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=keys,
                set_={name: stmt.excluded[name] for name in names if name not in keys},
            )
            self.conn.execute(stmt, list(rows))
            return
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n not in keys)
        conflict = ", ".join(f'"{k}"' for k in keys)
        self._send_arrays(table, names, rows, f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}")

    def update(self, table: sa.Table, where: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        if not self.streams:
            match = sa.and_(*(table.c[k] == v for k, v in where.items()))
            self.conn.execute(table.update().where(match).values(**values))
            return
        sets = ", ".join(f'"{n}" = %s' for n in values)
        condition = " AND ".join(f'"{k}" = %s' for k in where)
        sql = f'UPDATE "{table.name}" SET {sets} WHERE {condition}'
        params = [*values.values(), *where.values()]
        self._send(lambda cur: cur.execute(sql, params))

    def sync(self) -> None:
        """Wait until the server has run everything sent; raise the first failure."""
        self._leave(quiet=False)

    def _send_arrays(
        self, table: sa.Table, names: tuple[str, ...], rows: Sequence[Mapping[str, Any]], tail: str
    ) -> None:
        if len(names) == 1:
            columns: list[Sequence[Any]] = [[row[names[0]] for row in rows]]
        else:
            columns = list(zip(*map(itemgetter(*names), rows), strict=True))
        self._send_columns(table, names, columns, tail)

    def _send_columns(
        self, table: sa.Table, names: tuple[str, ...], columns: Sequence[Sequence[Any]], tail: str
    ) -> None:
        kinds = _ARRAY_KINDS.get((table.name, names))
        if kinds is None:
            kinds = _ARRAY_KINDS[table.name, names] = [_array_type(table.c[n]) for n in names]
        values = [_array_literal(c, k) for c, k in zip(columns, kinds, strict=True)]
        formats = tuple("%t" if isinstance(v, str) else "%b" for v in values)
        key = (table.name, names, tail, formats)
        sql = _ARRAY_SQL.get(key)
        if sql is None:
            listed = ", ".join(f'"{n}"' for n in names)
            arrays = ", ".join(f"{f}::{k}[]" for f, k in zip(formats, kinds, strict=True))
            sql = f'INSERT INTO "{table.name}" ({listed}) SELECT * FROM unnest({arrays}){tail}'
            _ARRAY_SQL[key] = sql
        self._send(lambda cur: cur.execute(sql, values))

    def _send(self, run: Callable[[Any], object]) -> None:
        try:
            if self._stack is None:
                raw: Any = self.conn.connection.dbapi_connection  # a psycopg.Connection
                stack = ExitStack()
                self._cursor = stack.enter_context(raw.cursor())
                stack.enter_context(raw.pipeline())  # left first: syncs with the cursor open
                self._stack = stack
            run(self._cursor)
        except self.conn.dialect.loaded_dbapi.Error as e:
            self._leave(quiet=True)
            raise _sa_error(self.conn, e) from e

    def _leave(self, quiet: bool) -> None:
        stack, self._stack, self._cursor = self._stack, None, None
        if stack is None:
            return
        try:
            stack.close()
        except self.conn.dialect.loaded_dbapi.Error as e:
            if not quiet:
                raise _sa_error(self.conn, e) from e


_ARRAY_SQL: dict[tuple[str, tuple[str, ...], str, tuple[str, ...]], str] = {}
_ARRAY_KINDS: dict[tuple[str, tuple[str, ...]], list[str]] = {}


def _array_literal(values: Sequence[Any], kind: str) -> str | list[Any]:
    """The column as an array literal (``{1,2}``, ``{"a","b"}``, ``{NULL,NULL}``) when that is
    safe and cheap: whole numbers, strings without quotes or backslashes, or only NULLs. Else the
    list itself, which psycopg sends as a binary array with a Python call per element (that was
    the dearest part of sending a push). The element types are looked at once, in one pass."""
    types = set(map(type, values))
    if len(types) != 1:  # mixed: NULLs among values, or numbers among text
        return list(values)
    if kind == "bigint" and int in types:
        return "{" + ",".join(map(str, values)) + "}"
    if kind == "text" and str in types:
        if '"' in values[0] or "\\" in values[0]:  # a JSON column: not joined to find out
            return list(values)
        joined = '","'.join(values)
        # no quote or backslash of a value's own: the separators' quotes are all there are
        if joined.count('"') == 2 * (len(values) - 1) and "\\" not in joined:
            return '{"' + joined + '"}'
        return list(values)
    if NoneType in types:
        return "{" + ",".join(["NULL"] * len(values)) + "}"
    return list(values)


def _array_type(column: sa.Column[Any]) -> str:
    """The array element type values of ``column`` travel as; the INSERT's assignment cast to
    the column's own type then checks lengths and ranges as for any INSERT."""
    if isinstance(column.type, sa.Integer):
        return "bigint"
    if isinstance(column.type, sa.String):
        return "text"
    raise TypeError(f"no array type for column {column.name} ({column.type})")


def _sa_error(conn: Connection, error: Exception) -> sa.exc.StatementError:
    return sa.exc.DBAPIError.instance(
        "(pipelined write)", None, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )


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
