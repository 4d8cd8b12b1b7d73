"""Fixtures for the ledger tests: a real ledger service on loopback for each backend.

Every test runs against SQLite and PostgreSQL. PostgreSQL is the server on 127.0.0.1:5432 (user
postgres, or ``LOYALTY_TEST_PG_DSN``): each session creates its own databases there and drops them
at the end. Without a reachable server the PostgreSQL half is skipped, except under CI (env ``CI``
set), where that is a failure.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import loyalty_pos  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import psycopg  # noqa: E402
from ledger_helpers import PG_ADMIN_DSN, LedgerServer  # noqa: E402
from psycopg import sql  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


class Databases:
    """Fresh, empty databases for one test session; PostgreSQL ones are dropped at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.prefix = f"ledger_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []
        self.pg_problem: str | None = None
        self.pg_checked = False
        self.counter = 0

    def pg_dsn(self, name: str) -> str:
        base = PG_ADMIN_DSN.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def _require_pg(self) -> None:
        if not self.pg_checked:
            self.pg_checked = True
            try:
                with psycopg.connect(PG_ADMIN_DSN, connect_timeout=5):
                    pass
            except psycopg.OperationalError as e:
                self.pg_problem = str(e).strip().splitlines()[0]
        if self.pg_problem:
            message = f"PostgreSQL at {PG_ADMIN_DSN} is unreachable: {self.pg_problem}"
            if os.environ.get("CI"):
                pytest.fail(message, pytrace=False)
            pytest.skip(message)

    def new(self, backend: str) -> str:
        self.counter += 1
        n = self.counter
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / f'ledger-{n}.db'}"
        self._require_pg()
        name = f"{self.prefix}_{n}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return self.pg_dsn(name)

    def drop_all(self) -> None:
        if not self.created:
            return
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for name in self.created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("ledger-db"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def ledger(backend: str, databases: Databases) -> Iterator[LedgerServer]:
    """One ledger per backend shared by the tests that only touch their own members."""
    server = LedgerServer(databases.new(backend), databases.tmp / f"serve-{backend}.log")
    yield server
    server.stop()


@pytest.fixture
def fresh_ledger(backend: str, databases: Databases) -> Iterator[LedgerServer]:
    """A ledger on an empty database, for tests of store-wide figures (expire, reports)."""
    url = databases.new(backend)
    server = LedgerServer(url, databases.tmp / f"serve-{uuid.uuid4().hex[:6]}.log")
    yield server
    server.stop()


@pytest.fixture
def db_url(backend: str, databases: Databases) -> str:
    """A fresh database URL with no server, for the CLI tests."""
    return databases.new(backend)
