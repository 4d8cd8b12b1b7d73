"""The terminal's SQLite cache: one connection, explicit transactions, errors a person can read.

Every connection runs in WAL mode with ``synchronous=FULL`` (a committed checkout survives a power
cut), a busy timeout and foreign keys on. Application services open one ``transaction()`` per
operation; state, journal event and receipt are written in it together or not at all.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlite_utils import Database
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from .. import canonical
from ..domain.accounting import spend_moment, tier_spend_minor
from ..domain.cards import normal_card
from ..domain.errors import StorageError
from ..domain.events import GENESIS_HASH, receipt_seq
from ..domain.lots import Account, Lot, iso_day
from ..domain.program import Program, parse_program, program_to_json
from ..private import FILE_MODE, create_file
from .schema import migrations, sale_moment

BUSY_TIMEOUT_MS = 5000
#: How long opening a cache waits for another program's upgrade of it (a year of sales: seconds).
UPGRADE_WAIT_S = 300
#: The ``meta`` key of when a pull last brought members' accounts from the ledger (ISO time).
MEMBERS_PULLED_AT = "members_pulled_at"


def _storage_error(e: sqlite3.Error, path: str) -> StorageError:
    text = str(e)
    if "locked" in text or "busy" in text:
        return StorageError(
            f"The database {path} is locked by another program; wait a moment and try again.",
            reason="locked",
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return damaged(path, text)
    if "readonly" in text or "read-only" in text:
        return StorageError(
            f"The database {path} is read-only; nothing was recorded. Check the disk and permissions.",
            reason="readonly",
        )
    if "disk" in text and ("full" in text or "I/O" in text):
        return StorageError(
            f"The disk holding {path} is full or failing; nothing was recorded.", reason="disk"
        )
    return StorageError(f"The database {path} could not be used: {text}", reason="sqlite")


def damaged(path: str, what: str) -> StorageError:
    """The cache at ``path`` cannot be trusted (``what`` says how): it is restored, or the till is
    set up again; it is never started afresh, which would lose the journal without a word."""
    return StorageError(
        f"The database {path} is damaged ({what}). A till without a ledger: restore it "
        "from the nightly backup (backups/). A till with a ledger: do not restore it, set "
        "the till up again under a new terminal id and sync (README: 'A till's disk died').",
        reason="corrupt",
    )


#: What a member's cached JSON column holds, as a person names it.
MEMBER_COLUMNS_SAID = {
    "lots": "points",
    "base_lots": "points",
    "owed": "points owed",
    "base_owed": "points owed",
    "punch": "punch cards",
    "base_punch": "punch cards",
}


def unreadable_member_column(member_id: str, column: str) -> str:
    """``member M0001's cached points (lots) are not readable``: ``verify`` and the error a
    sale or balance of that member ends in say it so."""
    return f"member {member_id}'s cached {MEMBER_COLUMNS_SAID[column]} ({column}) are not readable"


#: What reading a cached JSON column of a member's raises when it is not what this release wrote.
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def utc_iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def epoch_us(when: datetime) -> int:
    """``when`` in microseconds since the epoch (UTC): how the ledger stores and compares times."""
    return (when - _EPOCH) // _US


def new_event_id() -> str:
    """A random (version 4) UUID as text: ``str(uuid.uuid4())``, the same 122 random bits and
    the same form, without building a ``uuid.UUID`` to print it (a sale makes one)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: ``Store.card``: the card and the member's columns that finding a member and pricing their
#: sale read (``checkout._member_view``, ``Store.account``, ``Store.tier_spend_minor``), not the
#: whole row. A sale reads them by name, and ``sqlite3.Row`` finds a name by comparing it with
#: each column's before it: the member's two dozen columns made each look-up and the row itself
#: several times dearer.
_CARD_SQL = (
    "SELECT c.card, c.status AS card_status, m.member_id, m.status, m.name, m.lots, m.debt, "
    "m.owed, m.punch, m.birthday, m.last_birthday_bonus, m.base_seq, m.base_spend_dated, "
    "m.base_spend_minor FROM cards c JOIN members m ON m.member_id = c.member_id WHERE c.card = ?"
)


class Store:
    """The cache behind one terminal. Not thread-safe: one Store per thread."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.db = Database(conn)
        self._program: Program | None = None
        self._program_stored: tuple[int, str] | None = None  # its version and stored_at
        self._data_version: int | None = None
        #: The chain's (seq, hash) as this connection last read or appended it; valid while no
        #: other connection has committed (``_check_program`` forgets it then).
        self._head: tuple[int, str] | None = None
        self._writing = False  # inside ``transaction()``

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): all of it is recorded, or none of it."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise _storage_error(e, self.path) from e
        try:
            self._check_program()
            self._writing = True
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise _storage_error(e, self.path) from e
        except BaseException:
            self._rollback()
            raise
        finally:
            self._writing = False

    def _rollback(self) -> None:
        self._head = None  # an event appended in the transaction is gone with it
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise _storage_error(e, self.path) from e

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        self.conn.close()

    # -- meta -------------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- program ----------------------------------------------------------------------------

    def program(self) -> Program:
        """The newest program version, parsed once. A version stored by another connection (the
        app's background sync, say) takes over at the next call: ``PRAGMA data_version`` tells,
        without reading a table, whether anyone else has committed since we last looked. Inside
        a write transaction nobody else can commit, so the check ``transaction()`` made at its
        start holds."""
        if not self.conn.in_transaction:
            self._check_program()
        if self._program is None:
            row = self.one(
                "SELECT version, rules, stored_at FROM programs ORDER BY version DESC LIMIT 1"
            )
            if row is None:
                raise StorageError(
                    "This terminal has no program yet: run `loyalty-pos init` first."
                )
            self._program = parse_program(
                json.loads(row["rules"]), f"program v{row['version']} (stored)"
            )
            self._program_stored = (row["version"], row["stored_at"])
        return self._program

    def _check_program(self) -> None:
        """Forget the parsed program if another connection stored a newer version, and the
        chain's head if another connection committed anything (it may have appended)."""
        data_version = self.data_version()
        if data_version != self._data_version:
            self._data_version = data_version
            self._head = None
            if self._program is not None and self._newest_program() != self._program_stored:
                self._program = None

    def data_version(self) -> int:
        """A number that changes whenever another connection (the app's sync, a CLI call) has
        committed to the cache since this one last asked; this connection's own commits leave it."""
        try:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as e:
            raise _storage_error(e, self.path) from e

    def _newest_program(self) -> tuple[int, str] | None:
        """The newest stored version and when it was stored: a version taken again from the
        ledger (``take_program``) keeps its number but not its moment."""
        row = self.one("SELECT version, stored_at FROM programs ORDER BY version DESC LIMIT 1")
        return (row["version"], row["stored_at"]) if row else None

    def latest_program_version(self) -> int:
        """The newest stored program's version, 0 when there is none, without parsing its rules
        (a program stored by an older release may break a bound this one added: a newer one
        must still be able to replace it)."""
        newest = self._newest_program()
        return int(newest[0]) if newest else 0

    def program_currency(self) -> str | None:
        """The newest stored program's currency, read without parsing its rules (see above)."""
        row = self.one("SELECT rules FROM programs ORDER BY version DESC LIMIT 1")
        if row is None:
            return None
        currency = json.loads(row["rules"]).get("program", {}).get("currency")
        return currency if isinstance(currency, str) else None

    def program_version(self, version: int) -> Program:
        if self.program().version == version:
            return self.program()
        row = self.one("SELECT rules FROM programs WHERE version = ?", (version,))
        return (
            parse_program(json.loads(row["rules"]), f"program v{version}")
            if row
            else self.program()
        )

    def save_program(self, program: Program, now: datetime) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO programs (version, rules, stored_at) VALUES (?, ?, ?)",
            # To the microsecond: another connection tells a version taken again from this.
            (
                program.version,
                json.dumps(program_to_json(program)),
                now.astimezone(UTC).isoformat(),
            ),
        )
        self._program = None

    def take_program(self, program: Program, now: datetime) -> None:
        """Make ``program`` the newest version: versions from its number on are dropped first
        (a till's own program that the ledger replaces; none when it is newer). A sale keeps its ``program_version``;
        a refund of a sale under a dropped version is recomputed by the program now stored
        under that number, or else by the newest."""
        self.conn.execute("DELETE FROM programs WHERE version >= ?", (program.version,))
        self.save_program(program, now)

    # -- catalog ----------------------------------------------------------------------------

    def item(self, code: str) -> sqlite3.Row | None:
        """The item whose SKU or EAN is ``code``; a SKU typed in lower case (``milk``) is found
        as the catalog spells it in capitals, as a card typed so is."""
        for asked in dict.fromkeys((code, code.upper())):
            row = self.one(
                "SELECT sku, ean, name, price_minor, category FROM catalog "
                "WHERE sku = ? OR ean = ? ORDER BY sku = ? DESC LIMIT 1",
                (asked, asked, asked),
            )
            if row is not None:
                return row
        return None

    # -- members, cards, lots ---------------------------------------------------------------

    def card(self, card: str) -> sqlite3.Row | None:
        """The card (``c.card`` as stored, ``card_status``) and the member's columns a sale
        reads (``_CARD_SQL``; ``member`` reads the whole row); ``card`` as typed or read is taken
        in its normal form (``normal_card``), or else as it is, for a card an earlier release
        stored in lower case."""
        normal = normal_card(card)
        row = self.one(_CARD_SQL, (normal,))
        if row is None and normal != card:
            row = self.one(_CARD_SQL, (card,))
        return row

    def member(self, member_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM members WHERE member_id = ?", (member_id,))

    def cards_of(self, member_id: str) -> list[sqlite3.Row]:
        return self.query(
            "SELECT card, status FROM cards WHERE member_id = ? ORDER BY rowid", (member_id,)
        )

    def account(self, member_id: str, row: sqlite3.Row | None = None) -> Account:
        """The member's cached lots and debt (from ``row``, the member's row, when the caller
        has just read it)."""
        if row is None:
            row = self.member(member_id)
        if row is None:
            return Account()
        return self._account(row, "lots", "debt", "owed")

    def base_account(self, row: sqlite3.Row) -> Account:
        """The member's account as of their last ledger snapshot (``base_lots``, ``base_debt``,
        ``base_owed`` of ``row``, the member's row): what this terminal's events since
        ``base_seq`` replay on."""
        return self._account(row, "base_lots", "base_debt", "base_owed")

    def _account(self, row: sqlite3.Row, lots: str, debt: str, owed: str) -> Account:
        column = lots
        try:
            account = Account(
                tuple(Lot.from_json(lot) for lot in canonical.loads(row[lots])), int(row[debt])
            )
            if not row[owed]:
                return account
            column = owed
            return account.with_owed_json(canonical.loads(row[owed]))
        except _UNREADABLE as e:
            raise self._unreadable(row, column) from e

    def punch(self, row: sqlite3.Row, column: str = "punch") -> dict[str, int]:
        """The member's cached punch cards (``punch``, or ``base_punch``): SKU to punches."""
        try:
            punch = canonical.loads(row[column])
            if isinstance(punch, dict) and all(
                isinstance(n, int) and not isinstance(n, bool) for n in punch.values()
            ):
                return punch
        except _UNREADABLE as e:
            raise self._unreadable(row, column) from e
        raise self._unreadable(row, column)

    def _unreadable(self, row: sqlite3.Row, column: str) -> StorageError:
        """A member's cached JSON column that is no longer what this release writes (edited by
        hand, damaged on disk), said naming the member and the column, as a damaged journal row
        is, instead of failing as a bug wherever the member is read. A plain try, not a context
        manager: the member's columns are read on every sale."""
        error = damaged(self.path, unreadable_member_column(row["member_id"], column))
        error.details["column"] = column
        return error

    def save_account(self, member_id: str, account: Account, before: Account | None = None) -> None:
        """Store the member's lots and debt (and what a refund left ``owed``); ``before`` (what
        is stored now) skips a no-op."""
        if before == account:
            return
        self.conn.execute(
            "UPDATE members SET lots = ?, debt = ?, owed = ? WHERE member_id = ?",
            (_lots_text(account), account.debt, owed_text(account), member_id),
        )

    def replace_members(
        self,
        members: Sequence[Mapping[str, Any]],
        cards: Sequence[tuple[str, str, str]],
        accounts: Mapping[str, Account],
        base_spend: Sequence[tuple[str, int, int]] = (),
    ) -> None:
        """Insert or overwrite members (rows of ``SNAPSHOT_COLUMNS``) with their lots, their
        cards (card, member_id, status) and the ledger's dated spend of the members that have it
        (member_id, at_us, spend_minor; one row per member and moment), with a fixed number of
        statements (a pull page)."""
        self.conn.executemany(
            _UPSERT_MEMBER,
            [
                {
                    **m,
                    "lots": _lots_text(accounts[m["member_id"]]),
                    "owed": owed_text(accounts[m["member_id"]]),
                }
                for m in members
            ],
        )
        self.conn.executemany(
            "INSERT INTO cards (card, member_id, status) VALUES (?, ?, ?) ON CONFLICT(card) "
            "DO UPDATE SET member_id = excluded.member_id, status = excluded.status",
            cards,
        )
        member_ids = [m["member_id"] for m in members]
        self._each_chunk("DELETE FROM base_spend WHERE member_id IN ({})", member_ids)
        self.conn.executemany(
            "INSERT INTO base_spend (member_id, at_us, spend_minor) VALUES (?, ?, ?)", base_spend
        )
        self._recount_spend_days(member_ids)

    def _each_chunk(self, sql: str, member_ids: Sequence[str]) -> None:
        """Run ``sql`` (``{}`` where the list of ids goes) for a few hundred members at a time."""
        for i in range(0, len(member_ids), _MEMBERS_PER_QUERY):
            chunk = member_ids[i : i + _MEMBERS_PER_QUERY]
            self.conn.execute(sql.format(", ".join("?" for _ in chunk)), chunk)

    def _recount_spend_days(self, member_ids: Sequence[str]) -> None:
        """Rebuild ``spend_days`` of these members (their base just moved) from the journal."""
        self._each_chunk("DELETE FROM spend_days WHERE member_id IN ({})", member_ids)
        self._each_chunk(
            "INSERT INTO spend_days (member_id, day, spend_minor) "
            "SELECT member_id, day, spend_minor FROM journal_spend_days WHERE member_id IN ({})",
            member_ids,
        )

    def spend_days_drift(self) -> list[str]:
        """Members whose ``spend_days`` differ from a recount of the journal (``verify``)."""
        rows = self.query(
            "WITH kept AS (SELECT member_id, day, spend_minor FROM spend_days "
            "WHERE spend_minor != 0) "
            "SELECT DISTINCT member_id FROM ("
            "SELECT * FROM journal_spend_days EXCEPT SELECT * FROM kept "
            "UNION ALL SELECT * FROM (SELECT * FROM kept EXCEPT SELECT * FROM journal_spend_days)"
            ") ORDER BY member_id"
        )
        return [r["member_id"] for r in rows]

    def tier_spend_minor(self, member: sqlite3.Row, since: datetime, now: datetime) -> int:
        """The qualifying spend of ``member`` (their row) in the tier window (``since``, ``now``],
        in one statement:

        - the ledger's part: its dated spend from the last pull inside the window, cut to the
          microsecond as the ledger cuts it (so it slides with time, between pulls and
          offline), or, from a ledger that sent no dates, its figure at that pull
          (``base_spend_minor``);
        - this terminal's part: money paid here after ``since`` in events the ledger has not
          counted yet (seq above ``base_seq``): whole days from ``spend_days``, the day ``since``
          falls in from the journal (a refund's money at its sale's moment, ``spend_at``; the
          other events' at their own).
        """
        start = utc_iso(since)
        day = date.fromisoformat(start[:10])
        # The ledger's moments are compared only for a member whose pull sent them.
        dated = member["base_spend_dated"]
        # Numbered parameters, bound from a tuple: the same values as names, without the look-up
        # of each name in a dict.
        row = self.one(
            "SELECT CASE WHEN ?2 THEN COALESCE((SELECT SUM(spend_minor) FROM base_spend "
            "WHERE member_id = ?1 AND at_us > ?4 AND at_us <= ?5), 0) "
            "ELSE ?3 END "
            "+ COALESCE((SELECT SUM(spend_minor) FROM spend_days "
            "WHERE member_id = ?1 AND day > ?6), 0) "
            "+ COALESCE((SELECT SUM(spend_minor) FROM journal WHERE member_id = ?1 "
            "AND occurred_at > ?7 AND occurred_at < ?8 AND seq > ?9 "
            "AND spend_at IS NULL), 0) "
            "+ COALESCE((SELECT SUM(spend_minor) FROM journal WHERE member_id = ?1 "
            "AND spend_at > ?7 AND spend_at < ?8 AND seq > ?9), 0)",
            (
                member["member_id"],
                dated,
                member["base_spend_minor"],
                epoch_us(since) if dated else 0,
                epoch_us(now) if dated else 0,
                iso_day(day),
                start,
                iso_day(day + timedelta(days=1)),
                member["base_seq"],
            ),
        )
        return int(row[0]) if row else 0

    def last_event_at(self, member_id: str) -> str | None:
        """When the member's last event here happened (UTC ISO text, as the journal keeps it)."""
        row = self.one(
            "SELECT MAX(occurred_at) AS last FROM journal WHERE member_id = ?", (member_id,)
        )
        return row["last"] if row else None

    def redeemed_offline_between(self, member_id: str, start: datetime, end: datetime) -> int:
        """Points this member paid in sales made offline here between ``start`` and ``end``,
        less what refunds of those sales gave back: points given back can be paid again here
        without the ledger's count of them moving (QA: a sale of 5,000 points refunded in full
        left the member none to pay that day)."""
        row = self.one(
            "SELECT COALESCE(SUM(s.points_redeemed), 0) - COALESCE(("
            "SELECT SUM(json_extract(r.body, '$.points_restored')) FROM journal r "
            "JOIN journal o ON o.receipt_id = r.original_receipt_id "
            "WHERE r.type = 'refund' AND r.original_receipt_id IS NOT NULL "
            "AND o.member_id = :member AND o.type = 'checkout' AND o.offline = 1 "
            "AND o.occurred_at >= :start AND o.occurred_at < :end), 0) AS s "
            "FROM journal s WHERE s.member_id = :member AND s.type = 'checkout' "
            "AND s.offline = 1 AND s.occurred_at >= :start AND s.occurred_at < :end",
            {"member": member_id, "start": utc_iso(start), "end": utc_iso(end)},
        )
        return max(int(row["s"]), 0) if row else 0

    # -- journal ----------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """The last (seq, hash) of the chain: read inside the write transaction that appends, it
        is the head another connection to the same cache (the app, a CLI call) left.

        Inside a transaction the head this connection last read or appended is taken without a
        query when no other connection has committed since (``PRAGMA data_version``, checked as
        the transaction began; nobody else can commit until it ends)."""
        if self._writing and self._head is not None:
            return self._head
        row = self.one("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
        head = (row["seq"], row["hash"]) if row else (0, GENESIS_HASH)
        if self._writing:
            self._head = head
        return head

    def append(
        self,
        terminal_id: str,
        event: Mapping[str, Any],
        *,
        head: tuple[int, str] | None = None,
        receipt: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Seal ``event`` onto the chain and append it; call inside ``transaction()``. ``head`` is
        what ``head()`` returned earlier in this same transaction, when the caller needed it;
        ``receipt`` is what the receipt of a sale or refund shows besides the event (the
        member's balance and tier after it), kept on the event's row."""
        last_seq, last_hash = head or self.head()
        body = dict(event)
        body.update(event_id=new_event_id(), terminal_id=terminal_id, seq=last_seq + 1)
        sealed, text = canonical.seal_text(body, last_hash)
        occurred = utc_iso(datetime.fromisoformat(sealed["occurred_at"]))
        spend = tier_spend_minor(sealed)
        spend_at = None  # a refund's money counts in the tier window at its sale's moment
        if spend and sealed["type"] == "refund":
            at = spend_moment(occurred, sale_moment(self.conn, sealed.get("original_receipt_id")))
            spend_at = None if at == occurred else at
        self.conn.execute(
            "INSERT INTO journal (seq, event_id, type, occurred_at, member_id, receipt_id, "
            "original_receipt_id, spend_minor, points_redeemed, offline, body, hash, receipt, "
            "spend_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sealed["seq"],
                sealed["event_id"],
                sealed["type"],
                occurred,
                sealed.get("member_id"),
                sealed.get("receipt_id"),
                sealed.get("original_receipt_id"),
                spend,
                int(sealed.get("points_redeemed") or 0),
                1 if sealed.get("offline") else 0,
                text,
                sealed["hash"],
                None if receipt is None else canonical.dumps(receipt),
                spend_at,
            ),
        )
        if spend:
            day = (spend_at or occurred)[:10]
            self.conn.execute(_ADD_SPEND_DAY, (sealed["member_id"], day, spend))
        self._head = (sealed["seq"], sealed["hash"])
        return sealed

    def ends_recorded(self) -> dict[str, int]:
        """How far the records kept beside the journal say it went, for ``verify`` to hold
        against its last seq: ``acked`` (the last seq the ledger answered), ``printed`` (the
        last receipt print recorded); 0 for none."""
        row = self.one(
            "SELECT COALESCE((SELECT MAX(seq) FROM outbox_acks), 0) AS acked, "
            "COALESCE((SELECT MAX(seq) FROM receipt_prints), 0) AS printed"
        )
        assert row is not None
        return {"acked": int(row["acked"]), "printed": int(row["printed"])}

    def prints_without_event(self) -> list[int]:
        """The seqs of receipt prints recorded whose event is not in the journal."""
        return [
            int(r["seq"])
            for r in self.query(
                "SELECT p.seq FROM receipt_prints p LEFT JOIN journal j ON j.seq = p.seq "
                "WHERE j.seq IS NULL ORDER BY p.seq"
            )
        ]

    def events(self, since: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]:
        sql = "SELECT seq, body FROM journal WHERE seq > ? ORDER BY seq"
        params: tuple[Any, ...] = (since,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        try:
            for row in self.conn.execute(sql, params):
                yield self._event(row)
        except sqlite3.Error as e:
            raise _storage_error(e, self.path) from e

    def journal(self) -> Iterator[tuple[int, str, dict[str, Any] | None]]:
        """Every journal row as (seq, stored hash, event), the event None where its text can no
        longer be read (``verify`` names such a row and checks the chain on past it)."""
        try:
            for row in self.conn.execute("SELECT seq, hash, body FROM journal ORDER BY seq"):
                try:
                    event = self._event(row)
                except StorageError:
                    event = None
                yield int(row["seq"]), str(row["hash"]), event
        except sqlite3.Error as e:
            raise _storage_error(e, self.path) from e

    def _event(self, row: sqlite3.Row) -> dict[str, Any]:
        """A journal row's event. A text that is not an event's JSON (the row was edited, or
        the disk damaged it) is said as such, naming its seq, instead of failing as a bug
        wherever the journal is read (a report, a refund, a sync's replay)."""
        try:
            event = canonical.loads(row["body"])
        except (ValueError, TypeError) as e:
            event = None
            why = str(e)[:80]
        else:
            why = "not an event"
        if not isinstance(event, dict):
            seq = row["seq"] if "seq" in row.keys() else "?"
            raise StorageError(
                f"The journal's event at seq {seq} in {self.path} is damaged ({why}): "
                "`loyalty-pos verify` lists what is wrong. A till without a ledger: restore the "
                "nightly backup (backups/). A till with a ledger: set the till up again under a "
                "new terminal id and sync (README: 'A till's disk died').",
                reason="corrupt",
            )
        return event

    def event_at(self, seq: int) -> dict[str, Any] | None:
        row = self.one("SELECT seq, body FROM journal WHERE seq = ?", (seq,))
        return self._event(row) if row else None

    def member_events(self, after: Mapping[str, int]) -> dict[str, list[dict[str, Any]]]:
        """This journal's events of each member in ``after`` with a seq above the member's value
        there, oldest first; a statement per few hundred members."""
        found: dict[str, list[dict[str, Any]]] = {}
        items = list(after.items())
        for i in range(0, len(items), _MEMBERS_PER_QUERY):
            chunk = items[i : i + _MEMBERS_PER_QUERY]
            values = ", ".join("(?, ?)" for _ in chunk)
            rows = self.query(
                f"WITH wanted (member_id, after_seq) AS (VALUES {values}) "
                "SELECT j.member_id, j.seq, j.body FROM wanted "
                "JOIN journal j ON j.member_id = wanted.member_id AND j.seq > wanted.after_seq "
                "ORDER BY j.seq",
                [x for pair in chunk for x in pair],
            )
            for row in rows:
                found.setdefault(row["member_id"], []).append(self._event(row))
        return found

    def event_by_receipt(self, receipt_id: str) -> dict[str, Any] | None:
        row = self._receipt_row(receipt_id)
        return self._event(row) if row else None

    def _receipt_row(self, receipt_id: str) -> sqlite3.Row | None:
        """The journal row of this terminal's receipt ``receipt_id`` (found by its seq)."""
        seq = receipt_seq(receipt_id)
        if seq is None:
            return None
        return self.one(
            # the terminal's id in any case: a receipt id typed in lower case is found
            "SELECT seq, body, receipt FROM journal WHERE seq = ? AND receipt_id = ? "
            "COLLATE NOCASE",
            (seq, receipt_id),
        )

    def refunds_of(self, receipt_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT seq, body FROM journal WHERE original_receipt_id = ? ORDER BY seq",
            (receipt_id,),
        )
        return [self._event(r) for r in rows]

    # -- outbox -----------------------------------------------------------------------------

    def outbox(self, limit: int = 500) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT body FROM outbox WHERE ack_status IS NULL ORDER BY seq LIMIT ?", (limit,)
        )
        return [canonical.loads(r["body"]) for r in rows]

    def outbox_count(self) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM outbox WHERE ack_status IS NULL")
        return int(row["n"]) if row else 0

    def held_count(self) -> int:
        """Events the ledger refused (``rejected()``), counted."""
        row = self.one("SELECT COUNT(*) AS n FROM outbox_acks WHERE status = 'rejected'")
        return int(row["n"]) if row else 0

    def rejected(self) -> list[sqlite3.Row]:
        return self.query(
            "SELECT seq, type, occurred_at, receipt_id, ack_reason FROM outbox "
            "WHERE ack_status = 'rejected' "
            "ORDER BY seq"
        )

    def acked_through(self) -> int:
        """The highest seq the ledger answered as stored (accepted or duplicate); 0 for none."""
        row = self.one(
            "SELECT seq FROM outbox_acks WHERE status IN ('accepted', 'duplicate') "
            "ORDER BY seq DESC LIMIT 1"
        )
        return int(row["seq"]) if row else 0

    def unack_after(self, seq: int) -> int:
        """Forget the ledger's answers for the events after ``seq``, so that they are sent
        again (the ledger lost them); how many there were. The journal is not touched."""
        return self.conn.execute("DELETE FROM outbox_acks WHERE seq > ?", (seq,)).rowcount

    def ack(self, seq: int, status: str, reason: str | None, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO outbox_acks (seq, status, reason, acked_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(seq) DO UPDATE SET status = excluded.status, reason = excluded.reason, "
            "acked_at = excluded.acked_at",
            (seq, status, reason, utc_iso(now)),
        )

    # -- receipts ---------------------------------------------------------------------------

    def receipt(self, receipt_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A receipt's event and what it shows besides (``append``'s ``receipt``)."""
        row = self._receipt_row(receipt_id)
        if row is None or row["receipt"] is None:
            return None
        return self._event(row), canonical.loads(row["receipt"])

    def last_receipt_id(self) -> str | None:
        row = self.one(
            "SELECT receipt_id FROM journal WHERE receipt IS NOT NULL ORDER BY seq DESC LIMIT 1"
        )
        return row["receipt_id"] if row else None

    def mark_printed(self, receipt_id: str, now: datetime | None, error: str | None) -> None:
        with self.transaction() as conn:
            row = self._receipt_row(receipt_id)
            if row is None:
                return
            conn.execute(
                "INSERT INTO receipt_prints (seq, printed_at, print_error) VALUES (?, ?, ?) "
                # a copy that fails does not undo the original's print
                "ON CONFLICT (seq) DO UPDATE SET "
                "printed_at = COALESCE(excluded.printed_at, printed_at), "
                "print_error = excluded.print_error",
                (row["seq"], utc_iso(now) if now else None, error),
            )

    def was_printed(self, receipt_id: str) -> bool:
        """Whether the receipt has come out of the printer once: a later print is a copy."""
        row = self._receipt_row(receipt_id)
        if row is None:
            return False
        printed = self.one("SELECT printed_at FROM receipt_prints WHERE seq = ?", (row["seq"],))
        return printed is not None and printed["printed_at"] is not None

    def unprinted(self) -> list[str]:
        """Receipts whose last print failed."""
        return [
            r["receipt_id"]
            for r in self.query(
                "SELECT j.receipt_id FROM receipt_prints p JOIN journal j ON j.seq = p.seq "
                "WHERE p.printed_at IS NULL AND p.print_error IS NOT NULL ORDER BY p.seq"
            )
        ]

    # -- drafts -----------------------------------------------------------------------------

    def save_draft(self, basket: Mapping[str, Any] | None, now: datetime) -> None:
        with self.transaction() as conn:
            if basket is None:
                conn.execute("DELETE FROM drafts")
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO drafts (id, basket, saved_at) VALUES (1, ?, ?)",
                    (json.dumps(basket), utc_iso(now)),
                )

    def draft(self) -> dict[str, Any] | None:
        row = self.one("SELECT basket FROM drafts WHERE id = 1")
        return json.loads(row["basket"]) if row else None


#: The members columns a ledger snapshot sets (``Store.replace_members``).
SNAPSHOT_COLUMNS = (
    "member_id",
    "name",
    "email",
    "phone",
    "birthday",
    "status",
    "debt",
    "lots",
    "punch",
    "last_birthday_bonus",
    "base_lots",
    "base_debt",
    "base_seq",
    "base_spend_minor",
    "base_spend_dated",
    "base_punch",
    "base_last_birthday_bonus",
    "enrolled_at",
    "owed",
    "base_owed",
)
_UPSERT_MEMBER = (
    f"INSERT INTO members ({', '.join(SNAPSHOT_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in SNAPSHOT_COLUMNS)}) ON CONFLICT(member_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SNAPSHOT_COLUMNS[1:])
)

#: Members per ``member_events`` (two SQL variables each) or ``spend_days`` recount statement.
_MEMBERS_PER_QUERY = 400

#: A member's spend of one UTC day, kept with every event that has one (``append``).
_ADD_SPEND_DAY = (
    "INSERT INTO spend_days (member_id, day, spend_minor) VALUES (?, ?, ?) "
    "ON CONFLICT (member_id, day) DO UPDATE SET spend_minor = spend_minor + excluded.spend_minor"
)


def _lots_text(account: Account) -> str:
    """``members.lots``: the account's lots as JSON; spent lots are not kept."""
    return canonical.dumps([lot.to_json() for lot in account.lots if lot.points])


def owed_text(account: Account) -> str | None:
    """``members.owed``: what a refund left owed and what covered it (``Account.owed``), as
    JSON; NULL when there is none, as for nearly every member."""
    stored = account.owed_json()
    return None if stored is None else canonical.dumps(stored)


@contextmanager
def _upgrade_lock(path: str) -> Iterator[None]:
    """Held while one program upgrades the cache at ``path`` (another waits for it)."""
    try:
        lock = FileLock(path + ".upgrade-lock", timeout=UPGRADE_WAIT_S, mode=FILE_MODE)
        lock.acquire()
    except FileLockTimeout as e:
        raise StorageError(
            f"The database {path} is being upgraded by another program; wait for it to finish "
            "and try again.",
            reason="locked",
        ) from e
    except OSError as e:
        raise StorageError(
            f"The database {path} needs an upgrade for this version, and its folder cannot be "
            f"written ({e.strerror or e}); nothing was changed. Check the disk and permissions.",
            reason="readonly",
        ) from e
    try:
        yield
    finally:
        lock.release()


@retry(
    retry=retry_if_exception(lambda e: "locked" in str(e)),
    wait=wait_random(0.005, 0.05),
    stop=stop_after_delay(BUSY_TIMEOUT_MS / 1000),
    reraise=True,
)
def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (a no-op once it is). The switch needs the file to itself, and
    SQLite answers "locked" at once, without waiting the busy timeout, when another program
    holds it: a cache first opened by two programs at the same moment (the app and a CLI call
    after an install) would make one of them fail. So it waits here as a busy timeout would."""
    conn.execute("PRAGMA journal_mode=WAL")


def open_store(path: str | Path, *, create: bool = False) -> Store:
    """Open the cache at ``path`` and bring its schema up to date; ``create`` (a new terminal)
    makes it. Without ``create`` a missing or empty file is damage: SQLite would start a new,
    empty cache there, and the till would go on as if it had never sold (``verify`` ok with no
    events, the nightly backing that up in place of the good backups)."""
    path = str(path)
    if not create:
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise damaged(path, "the file is missing") from None
        except OSError as e:
            raise StorageError(
                f"The database {path} could not be used: {e.strerror or e}", reason="sqlite"
            ) from e
        if size == 0:
            raise damaged(path, "the file is empty")
    try:
        if create:
            # Made here, before SQLite would make it with the umask's mode: the members' data
            # is the till's user's alone, and SQLite gives the -wal and -shm the cache's mode.
            create_file(path)
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        _use_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        store = Store(conn, path)
        if migrations.pending(store.db):
            # One program upgrades, any other opening the cache at that moment waits for it
            # (the app and a CLI call started together after an update).
            with _upgrade_lock(path):
                if migrations.pending(store.db):
                    migrations.apply(store.db)
        conn.row_factory = sqlite3.Row
        return store
    except sqlite3.Error as e:
        cause = e
        # An upgrade that met a full disk: SQLite rolled its transaction back by itself, and
        # the rollback after it says only "cannot rollback - no transaction is active".
        while "cannot rollback" in str(cause) and isinstance(cause.__context__, sqlite3.Error):
            cause = cause.__context__
        raise _unwritable_folder(path) or _storage_error(cause, path) from e


def _unwritable_folder(path: str) -> StorageError | None:
    """Why the cache at ``path`` cannot be opened when its folder cannot be written, or None.
    The till writes beside the cache even to read it (WAL's ``-wal`` and ``-shm``), so SQLite
    said only "unable to open database file", naming neither the folder nor the cause: a disk
    the kernel made read-only after I/O errors, or a folder of another user's."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return None
    if not read_only and os.access(folder, os.W_OK | os.X_OK):
        return None
    why = "read-only file system" if read_only else "permission denied for this user"
    return StorageError(
        f"The folder {folder} cannot be written ({why}): the till writes beside its cache "
        f"{os.path.basename(path)} (its -wal and -shm files) even to read it. Check the disk "
        "(one the system made read-only after errors is checked before it is used again) and "
        "that the folder belongs to the user who runs the till.",
        reason="readonly",
    )
