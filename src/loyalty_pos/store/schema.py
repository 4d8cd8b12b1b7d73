"""Schema of the terminal's cache, as sqlite-utils migrations (applied in order, once each).

The journal is append-only: triggers refuse UPDATE and DELETE on it, so not even a bug in this
program can rewrite history. Sync state lives beside it in ``outbox_acks``.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .. import canonical
from ..domain.accounting import apply_event, spend_moment
from ..domain.events import receipt_seq
from ..domain.lots import Account, Lot

migrations = Migrations("loyalty_pos.terminal")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE programs (
            version INTEGER PRIMARY KEY,
            rules TEXT NOT NULL,
            stored_at TEXT NOT NULL
        );
        CREATE TABLE members (
            member_id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            birthday TEXT,
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'frozen', 'provisional')),
            debt INTEGER NOT NULL DEFAULT 0,
            punch TEXT NOT NULL DEFAULT '{}',
            last_birthday_bonus TEXT,
            base_lots TEXT NOT NULL DEFAULT '[]',
            base_debt INTEGER NOT NULL DEFAULT 0,
            base_seq INTEGER NOT NULL DEFAULT 0,
            base_spend_minor INTEGER NOT NULL DEFAULT 0,
            base_punch TEXT NOT NULL DEFAULT '{}',
            base_last_birthday_bonus TEXT
        );
        CREATE TABLE cards (
            card TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked'))
        );
        CREATE INDEX cards_member ON cards(member_id);
        CREATE TABLE lots (
            id INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            points INTEGER NOT NULL CHECK (points > 0),
            earned_at TEXT NOT NULL,
            expires_at TEXT
        );
        CREATE INDEX lots_member ON lots(member_id);
        CREATE TABLE catalog (
            sku TEXT PRIMARY KEY,
            ean TEXT UNIQUE,
            name TEXT NOT NULL,
            price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
            category TEXT NOT NULL
        );
        CREATE TABLE journal (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            member_id TEXT,
            receipt_id TEXT,
            original_receipt_id TEXT,
            spend_minor INTEGER NOT NULL DEFAULT 0,
            points_redeemed INTEGER NOT NULL DEFAULT 0,
            offline INTEGER NOT NULL DEFAULT 0,
            body TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX journal_member ON journal(member_id, seq);
        CREATE INDEX journal_receipt ON journal(receipt_id);
        CREATE INDEX journal_original ON journal(original_receipt_id);
        CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
            BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
        CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
            BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
        CREATE TABLE outbox_acks (
            seq INTEGER PRIMARY KEY REFERENCES journal(seq),
            status TEXT NOT NULL CHECK (status IN ('accepted', 'duplicate', 'rejected')),
            reason TEXT,
            acked_at TEXT NOT NULL
        );
        CREATE VIEW outbox AS
            SELECT j.* , a.status AS ack_status, a.reason AS ack_reason FROM journal j
            LEFT JOIN outbox_acks a ON a.seq = j.seq
            WHERE a.status IS NULL OR a.status = 'rejected';
        CREATE TABLE receipts (
            receipt_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE REFERENCES journal(seq),
            kind TEXT NOT NULL CHECK (kind IN ('sale', 'refund')),
            extra TEXT NOT NULL DEFAULT '{}',
            printed_at TEXT,
            print_error TEXT
        );
        CREATE TABLE drafts (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            basket TEXT NOT NULL,
            saved_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m002_lean_journal_indexes(db: Database) -> None:
    """Fewer index pages written per checkout: the member index also covers the tier-spend sum
    (no table reads), and the member and refund indexes skip the rows they never find."""
    db.executescript(
        """
        DROP INDEX journal_member;
        CREATE INDEX journal_member ON journal(member_id, seq, occurred_at, spend_minor)
            WHERE member_id IS NOT NULL;
        DROP INDEX journal_original;
        CREATE INDEX journal_original ON journal(original_receipt_id)
            WHERE original_receipt_id IS NOT NULL;
        """
    )


@migrations()
def m003_lean_checkout(db: Database) -> None:
    """A checkout reads and writes less.

    - ``spend_days``: a member's local tier spend per UTC day (this terminal's events the ledger
      has not counted yet, seq above ``members.base_seq``; the view ``journal_spend_days`` is
      that figure recounted from the journal), so the tier window's sum reads a row
      per day instead of every sale; only the day the window starts in is summed from the journal,
      which the member index, now ordered by time, finds directly.
    - A member's lots are a JSON list on the member's row (``members.lots``, as ``base_lots``):
      one row read and written per sale instead of a table and its index.
    - ``receipts`` keyed by the event's seq (its rowid): one b-tree written per receipt instead
      of three. A receipt is found by its id through the journal (``journal_receipt``); the
      ``receipt_id`` column stays for reading but has no index of its own.
    """
    db.executescript(
        """
        DROP INDEX journal_member;
        CREATE INDEX journal_member ON journal(member_id, occurred_at, seq, spend_minor)
            WHERE member_id IS NOT NULL;
        CREATE TABLE spend_days (
            member_id TEXT NOT NULL,
            day TEXT NOT NULL,
            spend_minor INTEGER NOT NULL,
            PRIMARY KEY (member_id, day)
        ) WITHOUT ROWID;
        CREATE VIEW journal_spend_days AS
            SELECT j.member_id, substr(j.occurred_at, 1, 10) AS day,
                SUM(j.spend_minor) AS spend_minor
            FROM members m JOIN journal j ON j.member_id = m.member_id AND j.seq > m.base_seq
            WHERE j.spend_minor != 0
            GROUP BY j.member_id, substr(j.occurred_at, 1, 10)
            HAVING SUM(j.spend_minor) != 0;
        INSERT INTO spend_days (member_id, day, spend_minor)
            SELECT member_id, day, spend_minor FROM journal_spend_days;
        CREATE TABLE receipts_by_seq (
            seq INTEGER PRIMARY KEY REFERENCES journal(seq),
            receipt_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('sale', 'refund')),
            extra TEXT NOT NULL DEFAULT '{}',
            printed_at TEXT,
            print_error TEXT
        );
        INSERT INTO receipts_by_seq (seq, receipt_id, kind, extra, printed_at, print_error)
            SELECT seq, receipt_id, kind, extra, printed_at, print_error FROM receipts;
        DROP TABLE receipts;
        ALTER TABLE receipts_by_seq RENAME TO receipts;
        ALTER TABLE members ADD COLUMN lots TEXT NOT NULL DEFAULT '[]';
        UPDATE members SET lots = COALESCE((
            SELECT json_group_array(json_object(
                'points', points, 'earned_at', earned_at, 'expires_at', expires_at))
            FROM (SELECT * FROM lots WHERE lots.member_id = members.member_id ORDER BY id)
        ), '[]');
        DROP TABLE lots;
        """
    )


@migrations(transactional=False)
def m004_one_btree_per_sale(db: Database) -> None:
    """Fewer b-trees written per sale (each one is a page flushed at every commit).

    - A receipt's after-state (balance, tier, ... printed under the sale) is the journal row's
      ``receipt`` column, beside the event it belongs to, instead of a row in ``receipts``. What
      the printer made of it lives in ``receipt_prints``, written only when a print is tried.
    - The journal no longer keeps an index of ``event_id`` (a random UUID this terminal makes
      for each event, never looked up here; the ledger holds it unique) nor of ``receipt_id``
      (``TERMINAL-SEQ``: a receipt is found by its seq).

    The journal is rebuilt with the same rows, in the same order, with the same bodies and
    hashes. Foreign keys are off during the rebuild (SQLite's own procedure for changing a
    table), so this runs outside the migration's own transaction, in one of its own, and checks
    the keys before it commits. Run again (after a crash between that commit and the record of
    the migration, or by a second program that opened the same cache at the same moment), it
    finds the work done under the write lock and does nothing.
    """
    conn = db.conn
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")  # under the write lock: another opener may have done it
        try:
            if "receipt" in db["journal"].columns_dict:
                conn.execute("ROLLBACK")
                return
            # Views, triggers and indexes on the journal come back as they were (bar the two
            # indexes).
            keep = [
                row[0]
                for row in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND ("
                    "(type IN ('index', 'trigger') AND tbl_name = 'journal' "
                    "AND name NOT IN ('journal_receipt')) OR (type = 'view' AND name IN "
                    "('outbox', 'journal_spend_days'))) ORDER BY type = 'view', rowid"
                )
            ]
            for statement in _M004_REBUILD.split(";"):  # executescript would commit first
                conn.execute(statement)
            for sql in keep:
                conn.execute(sql)
            broken = [tuple(r) for r in conn.execute("PRAGMA foreign_key_check")]
            if broken:
                raise sqlite3.IntegrityError(
                    f"its upgrade would leave broken foreign keys ({broken[:3]}), "
                    "so it was left as it was"
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


@migrations()
def m005_dated_base_spend(db: Database) -> None:
    """The ledger's part of a member's tier spend with the moment of each sale, so that the tier
    window slides at the terminal between pulls and offline, as it does at the ledger.

    - ``base_spend``: the spend the ledger had counted at the member's last pull, one row per
      moment (``at_us``: microseconds since the epoch, UTC, the ledger's own resolution), from
      the snapshot's ``window_spend``. The window's sum takes the rows inside it.
    - ``members.base_spend_dated``: 1 when the last snapshot carried those moments. 0 (a ledger
      that does not send them, a member pulled before this upgrade, a member enrolled here)
      keeps ``base_spend_minor``, the ledger's figure at that pull, as before.

    Nothing is rewritten: the members pulled before this upgrade get their moments when the
    next pull from a ledger that sends them brings every member again (``snapshot_format``).
    """
    db.execute(
        """
        CREATE TABLE base_spend (
            member_id TEXT NOT NULL,
            at_us INTEGER NOT NULL,
            spend_minor INTEGER NOT NULL,
            PRIMARY KEY (member_id, at_us)
        ) WITHOUT ROWID
        """
    )
    db.execute("ALTER TABLE members ADD COLUMN base_spend_dated INTEGER NOT NULL DEFAULT 0")


@migrations()
def m006_refunds_count_at_their_sale(db: Database) -> None:
    """A refund's money counts in the tier window at its sale's moment, not its own: a sale and
    its refunds enter and leave the window together (``accounting.spend_moment``).

    - ``journal.spend_at``: the moment a refund's spend counts at (its sale's ``occurred_at``),
      NULL for every other event and for a refund whose sale is not in the journal (its own).
      Set as the row is appended; here, for the refunds already recorded. That is the one write
      to journal rows after their append (the update trigger is dropped and made again around
      it, in this migration's transaction): a column derived from the journal itself, beside
      the event; bodies and hashes are untouched.
    - ``journal_spend_days`` (and so ``spend_days``, recounted here) puts a refund's spend on its
      sale's day. The window's first day is summed from ``journal_member`` (now holding
      ``spend_at``, so it still covers that sum) for the other events, and from
      ``journal_refund_spend``, an index of the dated refunds only, for the refunds.
    """
    db.execute("ALTER TABLE journal ADD COLUMN spend_at TEXT")
    conn = db.conn
    dated = []
    for seq, own, original in conn.execute(
        "SELECT seq, occurred_at, original_receipt_id FROM journal WHERE type = 'refund' "
        "AND member_id IS NOT NULL AND spend_minor != 0 AND original_receipt_id IS NOT NULL"
    ).fetchall():
        at = spend_moment(own, sale_moment(conn, original))
        if at != own:
            dated.append((at, seq))
    if dated:
        (trigger,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'journal_no_update'"
        ).fetchone()
        conn.execute("DROP TRIGGER journal_no_update")
        conn.executemany("UPDATE journal SET spend_at = ? WHERE seq = ?", dated)
        conn.execute(trigger)
    db.executescript(
        """
        DROP INDEX journal_member;
        CREATE INDEX journal_member ON journal(member_id, occurred_at, seq, spend_minor, spend_at)
            WHERE member_id IS NOT NULL;
        CREATE INDEX journal_refund_spend ON journal(member_id, spend_at, seq, spend_minor)
            WHERE spend_at IS NOT NULL;
        DROP VIEW journal_spend_days;
        CREATE VIEW journal_spend_days AS
            SELECT j.member_id, substr(COALESCE(j.spend_at, j.occurred_at), 1, 10) AS day,
                SUM(j.spend_minor) AS spend_minor
            FROM members m JOIN journal j ON j.member_id = m.member_id AND j.seq > m.base_seq
            WHERE j.spend_minor != 0
            GROUP BY j.member_id, substr(COALESCE(j.spend_at, j.occurred_at), 1, 10)
            HAVING SUM(j.spend_minor) != 0;
        DELETE FROM spend_days;
        INSERT INTO spend_days (member_id, day, spend_minor)
            SELECT member_id, day, spend_minor FROM journal_spend_days;
        """
    )


@migrations()
def m007_enrolment_from_the_ledger(db: Database) -> None:
    """``members.enrolled_at``: when the ledger says the member was enrolled (its snapshot's
    ``enrolled_at``: at any till, or by its members import), NULL until a snapshot brings it. The
    end-of-day report counts the lifetime (t) of a member this till did not enrol from it, as
    the ledger's report does, instead of from their first purchase here."""
    db.execute("ALTER TABLE members ADD COLUMN enrolled_at TEXT")


@migrations()
def m008_points_owed_by_a_refund(db: Database) -> None:
    """``members.owed`` (and ``base_owed``, as of the member's last snapshot): the points a
    refund took back after the member had spent them, and the points that covered them
    (``Account.owed``, ``Account.covered``), as JSON; NULL for a member without any. When the
    sale that spent them is returned too, its points settle that first instead of paying the
    debt a second time.

    Nothing is rewritten: a member's cached account keeps what the release before computed.
    Where the events ``verify`` replays for a member (those since their last snapshot: all of
    them at a till without a ledger) hold such a refund followed by the return of the sale
    that spent the points, the replay now differs from the cache and ``verify`` names the
    member; ``m009_points_as_the_journal_replays`` takes those members' points from the replay."""
    db.execute("ALTER TABLE members ADD COLUMN owed TEXT")
    db.execute("ALTER TABLE members ADD COLUMN base_owed TEXT")


@migrations()
def m009_points_as_the_journal_replays(db: Database) -> None:
    """The cached points of a member whose refunds a release before m008 settled otherwise than
    the journal now replays (``m008_points_owed_by_a_refund``) are taken from the replay, as
    this release would have recorded them: the journal is the record, the cache follows it.
    Left as they were, ``verify`` called the cache damaged and said to restore a backup, whose
    copy had the same points; the nightly job failed every night and pruned no backup. A
    migration of its own, so that a till already at m008 is set right too."""
    _replay_accounts_with_refunds(db.conn)


def _replay_accounts_with_refunds(conn: sqlite3.Connection) -> None:
    """Set the cached account (lots, debt, owed) of each member with a refund among the events
    after their last snapshot to the replay of those events on it (from ``base_lots``,
    ``base_debt`` and ``base_owed``), where the two differ: a refund of a sale whose points
    were spent leaves points owed, which the return of that sale later settles, at the till as
    in ``verify``'s replay. A member whose cached points or events cannot be read is left as it
    is, for ``verify`` to name."""
    members = conn.execute(
        "SELECT m.member_id, m.lots, m.debt, m.owed, m.base_lots, m.base_debt, m.base_owed, "
        "m.base_seq FROM members m "
        "WHERE EXISTS (SELECT 1 FROM journal j WHERE j.member_id = m.member_id "
        "AND j.seq > m.base_seq AND j.type = 'refund')"
    ).fetchall()
    for member_id, lots, debt, owed, base_lots, base_debt, base_owed, base_seq in members:
        try:
            cached = _account(lots, debt, owed)
            account = _account(base_lots, base_debt, base_owed)
            for (body,) in conn.execute(
                "SELECT body FROM journal WHERE member_id = ? AND seq > ? ORDER BY seq",
                (member_id, base_seq),
            ):
                account = apply_event(account, canonical.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        if _account_key(account) == _account_key(cached):
            continue
        replayed_owed = account.owed_json()
        conn.execute(
            "UPDATE members SET lots = ?, debt = ?, owed = ? WHERE member_id = ?",
            (
                canonical.dumps([lot.to_json() for lot in account.lots if lot.points]),
                account.debt,
                None if replayed_owed is None else canonical.dumps(replayed_owed),
                member_id,
            ),
        )


def _account(lots: str, debt: int, owed: str | None) -> Account:
    """A member's account from its cached columns (as ``Store.account`` reads them)."""
    account = Account(tuple(Lot.from_json(x) for x in canonical.loads(lots)), int(debt))
    return account.with_owed_json(canonical.loads(owed)) if owed else account


def _account_key(account: Account) -> tuple[object, ...]:
    return (
        sorted(map(_lot_key, account.lots)),
        account.debt,
        sorted(map(_lot_key, account.owed)),
        sorted(map(_lot_key, account.covered)),
    )


def _lot_key(lot: Lot) -> tuple[int, str, str]:
    return (
        lot.points,
        lot.earned_at.isoformat(),
        lot.expires_at.isoformat() if lot.expires_at else "",
    )


def sale_moment(conn: sqlite3.Connection, receipt_id: str | None) -> str | None:
    """The ``occurred_at`` (journal column: UTC, to the second) of this terminal's sale
    ``receipt_id``, found by its seq; None when the journal holds no such sale."""
    seq = receipt_seq(receipt_id) if receipt_id else None
    if seq is None:
        return None
    row = conn.execute(
        "SELECT occurred_at FROM journal WHERE seq = ? AND receipt_id = ? AND type = 'checkout'",
        (seq, receipt_id),
    ).fetchone()
    return None if row is None else str(row[0])


_M004_REBUILD = """
DROP VIEW outbox;
DROP VIEW journal_spend_days;
CREATE TABLE journal_m004 (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    member_id TEXT,
    receipt_id TEXT,
    original_receipt_id TEXT,
    spend_minor INTEGER NOT NULL DEFAULT 0,
    points_redeemed INTEGER NOT NULL DEFAULT 0,
    offline INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    receipt TEXT
);
INSERT INTO journal_m004
    SELECT j.seq, j.event_id, j.type, j.occurred_at, j.member_id, j.receipt_id,
        j.original_receipt_id, j.spend_minor, j.points_redeemed, j.offline,
        j.body, j.hash, r.extra
    FROM journal j LEFT JOIN receipts r ON r.seq = j.seq ORDER BY j.seq;
CREATE TABLE receipt_prints (
    seq INTEGER PRIMARY KEY REFERENCES journal(seq),
    printed_at TEXT,
    print_error TEXT
);
INSERT INTO receipt_prints (seq, printed_at, print_error)
    SELECT seq, printed_at, print_error FROM receipts
    WHERE printed_at IS NOT NULL OR print_error IS NOT NULL;
DROP TABLE receipts;
DROP TABLE journal;
ALTER TABLE journal_m004 RENAME TO journal
"""
