"""A ledger restored from a backup, on both databases: the tills send it again what it lost.

The backup is a copy of the ledger's whole database taken as its tools take one (SQLite: the
online backup API, what ``sqlite3 .backup`` does; PostgreSQL: a copy of the database, ``CREATE
DATABASE ... TEMPLATE``, the service stopped for it), and the restore puts it back in place of
the database and starts the service again on its port. No row is deleted by hand.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from ledger_helpers import PG_ADMIN_DSN, LedgerServer, assert_books_balance
from psycopg import sql
from test_terminal_sync import ANNA, BEN, ROOT, ledger_cli, ledger_member, till

from loyalty_pos import checkout as svc
from loyalty_pos.sync import sync

if TYPE_CHECKING:
    from conftest import Databases


@pytest.fixture
def store(fresh_ledger: LedgerServer) -> LedgerServer:
    """A ledger holding the demo store's members and the example program."""
    ledger_cli(fresh_ledger, "members", "import", str(ROOT / "config/demo/members.csv"))
    ledger_cli(fresh_ledger, "program", "set", str(ROOT / "config/program.example.toml"))
    return fresh_ledger


class LedgerBackup:
    """A copy of ``server``'s database as it stands now; ``restore`` puts it back."""

    def __init__(self, server: LedgerServer, databases: Databases) -> None:
        self.server = server
        url = server.db_url
        if url.startswith("sqlite:///"):
            self.path: Path | None = Path(url.removeprefix("sqlite:///"))
            self.copy = self.path.with_name(self.path.name + ".bak")
            live, copy = sqlite3.connect(self.path), sqlite3.connect(self.copy)
            try:
                live.backup(copy)  # while the service runs, as `sqlite3 ledger.db .backup` does
            finally:
                live.close()
                copy.close()
        else:
            self.path = None
            self.name = url.rsplit("/", 1)[1]
            self.copy_name = self.name + "_bak"
            databases.created.append(self.copy_name)  # dropped with the session's databases
            server.restart(
                lambda: self._pg("CREATE DATABASE {} TEMPLATE {}", self.copy_name, self.name)
            )

    def _pg(self, statement: str, *names: str) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))

    def restore(self) -> None:
        def put_back() -> None:
            if self.path is not None:
                shutil.copyfile(self.copy, self.path)
                for suffix in ("-wal", "-shm"):
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            else:
                self._pg("DROP DATABASE {} WITH (FORCE)", self.name)
                self._pg("CREATE DATABASE {} TEMPLATE {}", self.name, self.copy_name)

        self.server.restart(put_back)


def test_an_idle_till_sends_a_restored_ledger_the_sales_it_lost_at_its_next_sync(
    store: LedgerServer, databases: Databases, tmp_path: Path
) -> None:
    """The ledger is restored from a backup taken before two of T1's sales. T1 has nothing new to
    send, and T2's sales since have taken the ledger's change cursor past T1's again, so the
    cursor no longer shows the restore: the head of T1's chain that the pull carries does. T1
    sends the two sales again in that same sync, and its later sales are not held back."""
    t1 = till(store, tmp_path / "t1", "T1")
    t2 = till(store, tmp_path / "t2", "T2")
    sync(t1)
    sync(t2)
    backup = LedgerBackup(store, databases)
    for basket in ([("MASCARA", 1)], [("BOOK-COOK", 2)]):
        svc.checkout(t1, ANNA, svc.resolve_items(t1, basket))
    assert sync(t1)["pushed"] == 2

    backup.restore()
    assert "T1" not in ledger_member(store, "M0001")["counted_through"]  # the two sales are gone
    for _ in range(3):
        svc.checkout(t2, BEN, svc.resolve_items(t2, [("MILK", 1)]))
    assert sync(t2)["pushed"] == 3
    assert store.top() > int(t1.store.meta("pull_cursor") or 0)

    again = sync(t1)
    assert (again["pushed"], again["rejected"], again["held"], again["waiting"]) == (2, 0, 0, 0)
    assert again["resent"] == 2 and again["online"]
    svc.checkout(t1, ANNA, svc.resolve_items(t1, [("COFFEE", 1)]))
    later = sync(t1)
    assert (later["pushed"], later["rejected"], later["held"], later["resent"]) == (1, 0, 0, 0)

    sync(t2)  # the other till sees the sales the ledger got back
    anna = ledger_member(store, "M0001")
    assert anna["counted_through"]["T1"] == 3
    assert anna["balance"] == svc.balance(t1, ANNA)["balance"] == svc.balance(t2, ANNA)["balance"]
    assert svc.balance(t2, BEN)["balance"] == ledger_member(store, "M0002")["balance"]
    assert_books_balance(store)
    assert svc.verify(t1)["ok"]


def test_a_sale_pushed_to_a_restored_ledger_before_anything_else_is_not_held_back(
    store: LedgerServer, databases: Databases, tmp_path: Path
) -> None:
    """The till's first word with the restored ledger is a new sale, which does not follow the
    ledger's head (`gap`). The answer's head says what the ledger lost: the till sends it
    again with the sale behind it in the same sync, and nothing stays held back."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    backup = LedgerBackup(store, databases)
    for basket in ([("MASCARA", 1)], [("BOOK-COOK", 2)]):
        svc.checkout(t, ANNA, svc.resolve_items(t, basket))
    assert sync(t)["pushed"] == 2
    backup.restore()

    svc.checkout(t, ANNA, svc.resolve_items(t, [("COFFEE", 1)]))
    result = sync(t)
    assert (result["pushed"], result["rejected"], result["held"], result["waiting"]) == (3, 0, 0, 0)
    assert result["resent"] == 2 and result["online"]
    assert "problem" not in result and t.store.rejected() == []

    anna = ledger_member(store, "M0001")
    assert anna["counted_through"]["T1"] == 3
    assert anna["balance"] == svc.balance(t, ANNA)["balance"]
    assert_books_balance(store)
    again = sync(t)
    assert (again["pushed"], again["duplicates"], again["resent"]) == (0, 0, 0)
