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
        assert indexes == {"journal_member", "journal_original", "journal_refund_spend"}
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


M006 = "m006_refunds_count_at_their_sale"

#: A cache as it was before m006 (a refund's money on its own day), made from an upgraded one.
_BEFORE_M006 = """
DROP INDEX journal_refund_spend;
DROP INDEX journal_member;
CREATE INDEX journal_member ON journal(member_id, occurred_at, seq, spend_minor)
    WHERE member_id IS NOT NULL;
DROP VIEW journal_spend_days;
CREATE VIEW journal_spend_days AS
    SELECT j.member_id, substr(j.occurred_at, 1, 10) AS day,
        SUM(j.spend_minor) AS spend_minor
    FROM members m JOIN journal j ON j.member_id = m.member_id AND j.seq > m.base_seq
    WHERE j.spend_minor != 0
    GROUP BY j.member_id, substr(j.occurred_at, 1, 10)
    HAVING SUM(j.spend_minor) != 0;
ALTER TABLE journal DROP COLUMN spend_at;
DELETE FROM spend_days;
INSERT INTO spend_days (member_id, day, spend_minor)
    SELECT member_id, day, spend_minor FROM journal_spend_days;
DELETE FROM _sqlite_migrations WHERE name = 'm006_refunds_count_at_their_sale';
"""


def test_a_cache_with_refunds_upgrades_to_count_them_at_their_sale_and_verifies(
    tmp_path: Path,
) -> None:
    """A till of the previous release with a sale of January refunded in March, and one of
    November refunded weeks later: the upgrade dates each refund's money at its sale, the
    window reads as a fresh cache would, and ``verify`` finds nothing to say."""
    from datetime import UTC, datetime

    from loyalty_pos import checkout as svc
    from loyalty_pos.bootstrap import make_demo_home, open_terminal

    def sell(t: svc.Terminal, amount: str, at: datetime) -> str:
        lines = svc.resolve_items(t, [], [(amount, "household")])
        return str(svc.checkout(t, "LC00100037", lines, at=at)["receipt_id"])

    t = make_demo_home(tmp_path / "demo")
    january = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
    sold = sell(t, "300.00", january)
    svc.refund(t, sold, None, "1234", at=datetime(2026, 3, 2, tzinfo=UTC))
    recent = sell(t, "120.00", datetime(2026, 11, 1, tzinfo=UTC))
    sell(t, "80.00", datetime(2026, 11, 2, tzinfo=UTC))
    svc.refund(t, recent, None, "1234", at=datetime(2026, 11, 20, tzinfo=UTC))
    schema = sorted(tuple(r) for r in t.store.query("SELECT type, name, sql FROM sqlite_master"))
    nonzero = "SELECT * FROM spend_days WHERE spend_minor != 0 ORDER BY day"
    days = [tuple(r) for r in t.store.query(nonzero)]
    assert days == [("M0002", "2026-11-02", 8000)]  # each refund on its sale's day
    t.store.close()

    db = Database(tmp_path / "demo" / "terminal.db")
    with db.atomic():
        db.executescript(_BEFORE_M006)
    old_days = db.execute("SELECT day, spend_minor FROM spend_days ORDER BY day").fetchall()
    assert old_days == [  # each refund on its own day
        ("2026-01-10", 30000),
        ("2026-03-02", -30000),
        ("2026-11-01", 12000),
        ("2026-11-02", 8000),
        ("2026-11-20", -12000),
    ]
    db.close()

    t = open_terminal(tmp_path / "demo")
    try:
        assert M006 in {m.name for m in migrations.applied(t.store.db)}
        assert (
            sorted(tuple(r) for r in t.store.query("SELECT type, name, sql FROM sqlite_master"))
            == schema
        )
        assert [tuple(r) for r in t.store.query(nonzero)] == days
        dated = t.store.query("SELECT receipt_id, spend_at FROM journal WHERE spend_at IS NOT NULL")
        assert [tuple(r) for r in dated] == [
            ("DEMO1-000002", "2026-01-10T10:00:00+00:00"),
            ("DEMO1-000005", "2026-11-01T00:00:00+00:00"),
        ]
        for at in (datetime(2027, 1, 20, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)):
            assert svc.find_member(t, "LC00100037", at).state.qualifying_spend == 80  # not -220
        assert svc.verify(t)["ok"]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            t.store.conn.execute("UPDATE journal SET spend_at = NULL")
    finally:
        t.store.close()


@pytest.mark.parametrize("at_m008", [False, True], ids=["before-m008", "at-m008"])
def test_a_cache_whose_refunds_an_earlier_release_settled_upgrades_to_the_replay_and_verifies(
    tmp_path: Path, at_m008: bool
) -> None:
    """QA: a sale's points spent by a second sale, the first sale returned (a debt), later points
    paying it, then the second sale returned. The release before m008 kept the points given
    back under the returned sale's date; after the upgrade the replay dated them otherwise, and
    ``verify`` called the cache damaged and said to restore a backup (with the same points),
    every night. The upgrade takes such a member's cached points from the replay, for a till
    upgraded to m008 already as well (m009)."""
    from datetime import UTC, datetime

    from loyalty_pos import checkout as svc
    from loyalty_pos.bootstrap import make_demo_home, open_terminal

    def sell(t: svc.Terminal, qty: int, day: int, redeem: str | None = None) -> str:
        lines = svc.resolve_items(t, [("ESPRESSO", qty)])
        at = datetime(2026, 11, day, 10, tzinfo=UTC)
        return str(svc.checkout(t, "LC00100037", lines, redeem, at=at)["receipt_id"])

    def before_m008(home: Path, lots: str) -> None:
        """The cache as the release before m008 left it: ``lots`` its points, nothing owed;
        with ``at_m008``, as the release with m008 but not m009 then left it (m008 added the
        columns and changed no points)."""
        db = Database(home / "terminal.db")
        with db.atomic():
            db.execute("UPDATE members SET lots = ?, debt = 0 WHERE member_id = 'M0002'", [lots])
            if at_m008:
                db.execute("UPDATE members SET owed = NULL WHERE member_id = 'M0002'")
            else:
                db.execute("ALTER TABLE members DROP COLUMN owed")
                db.execute("ALTER TABLE members DROP COLUMN base_owed")
                db.execute(
                    "DELETE FROM _sqlite_migrations WHERE name = 'm008_points_owed_by_a_refund'"
                )
            db.execute(
                "DELETE FROM _sqlite_migrations WHERE name = 'm009_points_as_the_journal_replays'"
            )
        db.close()

    def account(t: svc.Terminal) -> tuple:
        (row,) = t.store.query("SELECT lots, debt, owed FROM members WHERE member_id = 'M0002'")
        return tuple(row)

    def till(home: Path, *, returned_both: bool) -> tuple[svc.Terminal, str]:
        t = make_demo_home(home)
        first = sell(t, 10, 20)
        second = sell(t, 2, 20, "max")  # paid with the first sale's points
        svc.refund(t, first, None, "1234", at=datetime(2026, 11, 20, 12, tzinfo=UTC))  # a debt
        sell(t, 10, 21)  # its points pay the debt
        if returned_both:
            svc.refund(t, second, None, "1234", at=datetime(2026, 11, 22, tzinfo=UTC))
        return t, second

    # upgraded after both sales were returned
    t, _ = till(tmp_path / "both", returned_both=True)
    after = account(t)
    assert json.loads(after[0]) == [
        {"earned_at": "2026-11-21", "expires_at": "2027-11-21", "points": 5149}
    ]
    t.store.close()
    before_m008(
        tmp_path / "both",
        '[{"earned_at":"2026-11-20","expires_at":"2027-11-20","points":2880},'
        '{"earned_at":"2026-11-21","expires_at":"2027-11-21","points":2269}]',
    )
    t = open_terminal(tmp_path / "both")
    try:
        assert svc.verify(t) == {"ok": True, "events": 5, "problems": []}
        assert account(t) == after
        # the other members, without such refunds, are as they were
        assert t.store.query("SELECT count(*) FROM members WHERE lots != '[]'")[0][0] == 1
    finally:
        t.store.close()

    # upgraded before the second sale is returned: it is returned by this release
    t, second = till(tmp_path / "one", returned_both=False)
    between = account(t)
    assert between[2] is not None  # what the refund took back in their place is owed
    t.store.close()
    before_m008(tmp_path / "one", between[0])
    t = open_terminal(tmp_path / "one")
    try:
        assert account(t) == between
        svc.refund(t, second, None, "1234", at=datetime(2026, 11, 22, tzinfo=UTC))
        assert svc.verify(t) == {"ok": True, "events": 5, "problems": []}
        assert account(t) == after
    finally:
        t.store.close()
