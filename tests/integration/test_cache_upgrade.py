"""Migration m004 on a cache of the previous schema: the journal is rebuilt without its event_id
and receipt_id indexes, and receipts move onto their journal rows, with every row, hash and
print status kept, the append-only triggers back, and foreign keys whole."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

from loyalty_pos.domain.errors import StorageError
from loyalty_pos.store import open_store
from loyalty_pos.store.schema import migrations

M004 = "m004_one_btree_per_sale"
JOURNAL_COLUMNS = (
    "seq, event_id, type, occurred_at, member_id, receipt_id, original_receipt_id, "
    "spend_minor, points_redeemed, offline, body, hash"
)


def old_cache(path: Path) -> list[tuple]:
    """A cache at m003 with a sale, an enrolment, a refund (printed, failed, never tried) and an
    acknowledged event; returns its journal rows."""
    db = Database(path)
    migrations.apply(db, stop_before=M004)
    db.execute("INSERT INTO members (member_id, name) VALUES ('M1', 'Ann')")
    rows = [  # seq, type, member, receipt, original, printed_at, print_error
        (1, "checkout", "M1", "T1-000001", None, "2026-11-20T10:00:01+00:00", None),
        (2, "enroll", "M1", None, None, None, None),
        (3, "refund", "M1", "T1-000003", "T1-000001", None, "paper out"),
        (4, "checkout", None, "T1-000004", None, None, None),
    ]
    for seq, kind, member, receipt, original, printed_at, error in rows:
        body = json.dumps({"seq": seq, "type": kind, "receipt_id": receipt})
        db.execute(
            "INSERT INTO journal (seq, event_id, type, occurred_at, member_id, receipt_id, "
            "original_receipt_id, spend_minor, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                f"e{seq}",
                kind,
                f"2026-11-20T10:00:0{seq}+00:00",
                member,
                receipt,
                original,
                100 * seq,
                body,
                f"h{seq}",
            ],
        )
        if receipt:
            db.execute(
                "INSERT INTO receipts (seq, receipt_id, kind, extra, printed_at, print_error) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    seq,
                    receipt,
                    "refund" if kind == "refund" else "sale",
                    json.dumps({"balance": seq}),
                    printed_at,
                    error,
                ],
            )
    db.execute(
        "INSERT INTO outbox_acks (seq, status, acked_at) VALUES (1, 'accepted', '2026-11-20')"
    )
    db.conn.commit()
    before = db.execute(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq").fetchall()
    db.close()
    return before


def test_m004_keeps_every_row_and_receipt_and_drops_two_indexes(tmp_path: Path) -> None:
    path = tmp_path / "terminal.db"
    before = old_cache(path)
    store = open_store(path)
    try:
        after = store.query(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq")
        assert [tuple(r) for r in after] == [tuple(r) for r in before]
        assert store.receipt("T1-000003") == (
            {"seq": 3, "type": "refund", "receipt_id": "T1-000003"},
            {"balance": 3},
        )
        assert store.receipt("T1-000002") is None  # seq 2 is an enrolment, not that receipt
        assert store.event_by_receipt("T9-000001") is None  # another terminal's id
        assert store.refunds_of("T1-000001")[0]["seq"] == 3
        assert store.last_receipt_id() == "T1-000004"
        assert store.unprinted() == ["T1-000003"]
        store.mark_printed("T1-000003", None, "still out")
        store.mark_printed("T1-000004", None, "paper out")
        assert store.unprinted() == ["T1-000003", "T1-000004"]
        assert [tuple(r) for r in store.query("SELECT seq, ack_status FROM outbox")] == [
            (2, None),
            (3, None),
            (4, None),
        ]
        indexes = {r["name"] for r in store.query("PRAGMA index_list(journal)")}
        assert indexes == {"journal_member", "journal_original"}
        assert store.query("SELECT name FROM sqlite_master WHERE name = 'receipts'") == []
        assert store.query("PRAGMA foreign_key_check") == []
        assert store.one("PRAGMA foreign_keys")[0] == 1
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute("UPDATE journal SET hash = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute("DELETE FROM journal WHERE seq = 4")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            store.conn.execute("INSERT INTO receipt_prints (seq, printed_at) VALUES (99, 'x')")
    finally:
        store.close()


def test_m004_run_again_after_a_crash_before_its_record_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "terminal.db"
    old_cache(path)
    open_store(path).close()
    db = Database(path)
    schema = [r[0] for r in db.execute("SELECT sql FROM sqlite_master ORDER BY name")]
    db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [M004])
    db.conn.commit()
    db.close()
    store = open_store(path)
    try:
        assert [r[0] for r in store.query("SELECT sql FROM sqlite_master ORDER BY name")] == schema
        assert store.receipt("T1-000001") is not None
    finally:
        store.close()


def test_m004_that_fails_midway_leaves_the_old_cache_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "terminal.db"
    before = old_cache(path)
    db = Database(path)
    # An orphan print status (the old schema did not stop it): the rebuild must refuse to
    # commit broken keys, and roll everything back.
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute(
        "INSERT INTO receipts (seq, receipt_id, kind, printed_at) VALUES (42, 'T1-000042', "
        "'sale', 'x')"
    )
    db.conn.commit()
    db.close()
    with pytest.raises(StorageError, match="broken foreign keys .* left as it was"):
        open_store(path)
    db = Database(path)
    assert db.execute(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq").fetchall() == before
    assert db["receipts"].count == 4
    assert M004 not in {m.name for m in migrations.applied(db)}
    db.close()


def test_two_programs_opening_an_old_cache_at_once_both_get_the_upgraded_cache(
    tmp_path: Path,
) -> None:
    """The app and a CLI call started together: one upgrades, the other waits and finds it
    done."""
    path = tmp_path / "terminal.db"
    before = old_cache(path)
    start = threading.Barrier(2)
    opened: list[object] = []

    def open_it() -> None:
        start.wait()
        try:
            opened.append(open_store(path))
        except Exception as e:  # collected: the assertion below names it
            opened.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stores = [s for s in opened if not isinstance(s, Exception)]
    assert len(stores) == 2, opened
    for store in stores:
        rows = store.query(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq")
        assert [tuple(r) for r in rows] == [tuple(r) for r in before]
        assert store.receipt("T1-000001") is not None
        store.close()


def test_an_old_cache_whose_folder_cannot_take_the_upgrade_lock_is_refused_unchanged(
    tmp_path: Path,
) -> None:
    """The lock file cannot be made (here a folder stands in its place, as a read-only folder
    would refuse it): a sentence, not a traceback, and the cache as it was."""
    path = tmp_path / "terminal.db"
    before = old_cache(path)
    (tmp_path / "terminal.db.upgrade-lock").mkdir()
    with pytest.raises(StorageError, match="needs an upgrade .* cannot be written"):
        open_store(path)
    db = Database(path)
    assert db.execute(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq").fetchall() == before
    assert M004 not in {m.name for m in migrations.applied(db)}
    db.close()


def test_a_cache_switched_to_wal_waits_for_a_program_holding_it_like_any_busy_cache(
    tmp_path: Path,
) -> None:
    """Switching a file to WAL needs it to itself, and SQLite says "locked" at once rather than
    waiting, while another connection is in a write transaction: a cache another program writes
    for a moment (here for 0.3 s, as the other program upgrading it) is waited for, not refused."""
    path = tmp_path / "terminal.db"
    before = old_cache(path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        store = open_store(path)
    finally:
        release.join()
        holder.close()
    rows = store.query(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq")
    assert [tuple(r) for r in rows] == [tuple(r) for r in before]
    assert store.one("PRAGMA journal_mode")[0] == "wal"
    store.close()
