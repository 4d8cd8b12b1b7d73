"""The ledger store: terminals' pushes, pulls, admin operations, all over SQLAlchemy Core.

Every write runs in one transaction that first locks the ``ledger_state`` row (``db.writing``), so
writers are serialised, the global sequence commits in order and member records are never lost to
a concurrent update. A push of a batch does a fixed number of round trips whatever its size: read
the terminal's head, the ids of events it may already hold, the members (and cards) the batch
mentions; then write the events, their transfers and the member and card caches with multi-row
statements. On PostgreSQL these go out a hundred events at a time while the store works on the
next ones, and the transaction waits for the server once, before it commits (``db.Writer``).

Idempotency is the database's: ``events.event_id`` and ``events(terminal_id, seq)`` are unique
constraints. A resend is recognised by its event id and answered with the original result.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loyalty_pos.domain.accounting import spend_moment
from loyalty_pos.domain.cards import card_in_capitals
from loyalty_pos.domain.csvrows import MEMBER_COLUMNS, read_rows
from loyalty_pos.domain.errors import AuthError, NotFound, Refused
from loyalty_pos.domain.events import (
    GENESIS_HASH,
    MAX_ID,
    MAX_POINTS,
    MAX_TEXT,
    birthday_problem,
    email_problem,
    reason_problem,
    receipt_seq,
    seal,
    text_problem,
)
from loyalty_pos.domain.lots import Lot, expiry_date
from loyalty_pos.domain.program import Program, parse_program, program_to_json
from loyalty_pos.domain.tiers import tier_status

from . import wire
from .db import Writer, make_engine, migrate, reading, writing
from .posting import Book, CardRow, EventInvalid, MemberRecord, Posted, mask, member_account, post
from .schema import (
    cards,
    events,
    ledger_state,
    members,
    programs,
    rejections,
    spend_moments,
    terminals,
    transfers,
)
from .times import from_us, to_us, utc_now

SKEW_LIMIT_S = 24 * 3600
#: What a pull's member snapshots hold: 2 since they carry ``window_spend``, 3 since a refund's
#: spend in it is dated at its sale's moment, 4 since they carry ``enrolled_at`` (a terminal
#: holding snapshots of an older format pulls every member again).
SNAPSHOT_FORMAT = 4
_CHUNK = 500
#: Events of a push are sent to PostgreSQL this many at a time while the next ones are computed.
_STREAM_CHUNK = 100


class Conflict(Refused):
    """The request contradicts what the ledger already holds (HTTP 409)."""

    code = "conflict"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EventResult(NamedTuple):
    """The ledger's answer for one pushed event (a tuple: one is built for every pushed event).

    Attributes:
        status: accepted, duplicate or rejected.
        reason: for rejected: invalid, conflict, gap or chain.
        ledger_seq: the ledger's global sequence number of the stored event, when stored.
        duplicate: the event was already stored; status and reason are its original result.
    """

    event_id: str | None
    status: str
    reason: str | None = None
    message: str | None = None
    ledger_seq: int | None = None
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        event_id, status, reason, message, ledger_seq, duplicate = self
        out: dict[str, Any] = {"event_id": event_id, "status": status}
        if reason is not None:
            out["reason"] = reason
        if message is not None:
            out["message"] = message
        if ledger_seq is not None:
            out["ledger_seq"] = ledger_seq
        if duplicate:
            out["duplicate"] = True
        return out


class _Stored(NamedTuple):
    """An event the ledger holds, as a resend of it is answered: read from the database, or
    stored earlier in the same push (a tuple: one for every event a push stores)."""

    body: str
    hash: str | None
    status: str
    reason: str | None
    message: str | None
    gseq: int | None


@dataclass(frozen=True, slots=True)
class PushOutcome:
    results: tuple[EventResult, ...]
    head_seq: int
    head_hash: str


@dataclass(frozen=True, slots=True)
class CurrentProgram:
    version: int
    change_seq: int
    program: Program
    rules: dict[str, Any]


@dataclass
class _Rows:
    """Rows one transaction will write, and the counters it advances."""

    gseq: int
    ledger_seq: int
    ledger_hash: str
    received_us: int
    #: as tuples of ``_EVENT_COLUMNS`` and ``_TRANSFER_COLUMNS`` (a push builds one or more for
    #: every event: tuples cost less than mappings, to build and to send)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    programs: list[dict[str, Any]] = field(default_factory=list)
    #: (gseq, spend_us) of the refunds whose spend counts at their sale's moment
    spend_moments: list[tuple[int, int]] = field(default_factory=list)
    #: (terminal id, seq) -> occurred_us of the sales a refund of this push may name: those of
    #: this push, and the stored ones its refunds name (``LedgerStore._sales``)
    sales: dict[tuple[str, int], int] = field(default_factory=dict)
    sent_events: int = 0  # events, transfers and spend moments already handed to the writer
    sent_transfers: int = 0
    sent_spend_moments: int = 0
    #: member id -> the change (gseq) of the record handed to the writer
    sent_members: dict[str, int] = field(default_factory=dict)
    #: (member id, a lot's earning day and expiry) -> when an expiry run first wrote that lot off
    #: (``LedgerStore._written_off_at``), read for an ``unexpire`` only
    written_off_at: Callable[[str, tuple[date, date | None]], int | None] = lambda m, k: None
    #: how many of the book's changed members the streaming has looked at, and those of them a
    #: later event still named then (looked at again at the next chunk)
    looked_at: int = 0
    unsettled: list[str] = field(default_factory=list)


_EVENT_COLUMNS = (
    "gseq",
    "event_id",
    "terminal_id",
    "seq",
    "type",
    "member_id",
    "occurred_at",
    "occurred_us",
    "received_us",
    "skew_s",
    "program_version",
    "prev_hash",
    "hash",
    "status",
    "reason",
    "message",
    "spend_minor",
    "body",
)
_SPEND_MOMENT_COLUMNS = ("gseq", "spend_us")
_NOTHING_POSTED = Posted()
_TRANSFER_COLUMNS = ("gseq", "leg", "kind", "debit", "credit", "amount", "member_id", "occurred_us")


class _RecordCache:
    """Member records as this process last committed or read them.

    A push needs the record of every member in its batch, and reading and parsing their state
    was the dearest part of a push. The cache is exact while this process is the only writer:
    ``synced`` is the global sequence at which this process last committed a push, and when the
    ledger is still at that sequence under the write lock, nobody else has written since and
    every cached record is current. Otherwise (another process, an admin call) the cache is
    emptied and the push reads its members from the database. Each emptying starts a new epoch;
    records read in an older epoch are never put back, so a slow thread cannot reinsert a
    record that another writer has since changed.
    """

    def __init__(self, size: int = 50_000) -> None:
        self._items: dict[str, MemberRecord] = {}
        self._lock = threading.Lock()
        self._size = size
        self._synced: int | None = None
        self._epoch = 0

    def check(self, gseq: int) -> tuple[bool, int]:
        """(whether the cache is exact at ``gseq``, the epoch); call it under the write lock."""
        with self._lock:
            if self._synced == gseq:
                return True, self._epoch
            self._items.clear()
            self._synced = None
            self._epoch += 1
            return False, self._epoch

    def get(self, member_id: str) -> MemberRecord | None:
        return self._items.get(member_id)

    def commit(self, records: Iterable[MemberRecord], gseq: int, epoch: int) -> None:
        """After a push committed at ``gseq``: its records are current, and so is the cache."""
        with self._lock:
            if epoch != self._epoch:
                return
            if len(self._items) >= self._size:
                self._items.clear()
            for record in records:
                self._items[record.member_id] = record
            self._synced = gseq


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class _Batch:
    """The events of one push: what the push must know before it starts (which stored ids,
    members and cards to read), taken from the raw events without checking them, and each
    event's envelope and validated body, computed once, when the push reaches the event.

    The up-front facts are a superset of what the checked events name (an event that turns out
    unsound names nothing), which only means reading a row that is not needed. Checking the
    events one by one inside the loop, rather than all before it, lets that CPU work (canonical
    JSON, hash, validation: about half of a push's Python) run while PostgreSQL writes the
    events before it (``db.Writer``). A retry of the push (``check_all_ids``) reuses the checks.
    """

    def __init__(self, raw_events: Sequence[Any]) -> None:
        self.raw = list(raw_events)
        self._checked: list[tuple[wire.Envelope, wire.EventIn | str | None] | None] = [None] * len(
            self.raw
        )
        self.member_ids: list[str] = []
        self.card_ids: list[str] = []
        #: member id -> index of the last event naming it
        self.last_use: dict[str, int] = {}
        #: (terminal id, seq) of the sales the batch's refunds name
        self.refunded: set[tuple[str, int]] = set()
        for i, raw in enumerate(self.raw):
            if not isinstance(raw, dict):
                continue
            if raw.get("type") == "refund" and isinstance(terminal := raw.get("terminal_id"), str):
                sale = _sale_seq(terminal, raw.get("original_receipt_id"))
                if sale is not None:
                    self.refunded.add((terminal, sale))
            member_id, card = raw.get("member_id"), raw.get("card")
            if isinstance(member_id, str):
                self.member_ids.append(member_id)
                self.last_use[member_id] = i
            if isinstance(card, str) and (
                member_id is None or raw.get("type") not in ("checkout", "refund")
            ):
                self.card_ids.append(card)

    def __len__(self) -> int:
        return len(self.raw)

    def ids_to_look_up(self, terminal_id: str, head_seq: int, check_all_ids: bool) -> list[str]:
        """Event ids that may already be stored: a resend has seqs at or below the head; new
        events normally have new ids, and if one does not, the unique constraint says so at
        insert time (see ``LedgerStore.push``)."""
        ids = []
        for raw in self.raw:
            if not isinstance(raw, dict) or not isinstance(event_id := raw.get("event_id"), str):
                continue
            seq = raw.get("seq")
            if (
                check_all_ids
                or raw.get("terminal_id") != terminal_id
                or (isinstance(seq, int) and seq <= head_seq)
            ):
                ids.append(event_id)
        return ids

    def event(self, i: int) -> tuple[wire.Envelope, wire.EventIn | str | None]:
        """The envelope of event ``i`` and its body: the typed event, the sentence saying why it
        is invalid, or None when the envelope is unsound."""
        checked = self._checked[i]
        if checked is None:
            env = wire.Envelope.check(self.raw[i])
            body: wire.EventIn | str | None = None
            if env.problem is None:
                try:
                    body = wire.parse_body(env.raw, wire.TERMINAL_TYPES)
                except ValueError as e:
                    body = str(e)
            checked = self._checked[i] = (env, body)
        return checked


class LedgerStore:
    """The ledger's one way in: the HTTP service, the CLI and the benchmarks all use it."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._program_cache: CurrentProgram | None = None
        self._records = _RecordCache()
        #: token hash -> terminal id, of the tokens ``authenticate`` accepted (see ``push``)
        self._tokens: dict[str, str] = {}
        self._tokens_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, clock: Callable[[], datetime] = utc_now) -> LedgerStore:
        engine = make_engine(url)
        migrate(engine)
        return cls(engine, clock)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ terminals and auth

    def add_terminal(self, terminal_id: str) -> str:
        """Register a terminal and return its bearer token (only its hash is stored)."""
        if not wire.TERMINAL_ID_RE.match(terminal_id):
            raise Refused(f"terminal id {terminal_id[:40]!r} must be 1-32 of A-Z a-z 0-9 _ -")
        token = "lpt_" + secrets.token_urlsafe(32)
        now = to_us(self.clock())
        self._forget_tokens(terminal_id)
        with writing(self.engine) as conn:
            row = conn.execute(
                sa.select(terminals.c.revoked_us).where(terminals.c.terminal_id == terminal_id)
            ).first()
            if row is not None and row.revoked_us is None:
                raise Conflict(
                    f"terminal {terminal_id} already exists; revoke it first to issue a new token"
                )
            if row is None:
                conn.execute(
                    terminals.insert().values(
                        terminal_id=terminal_id,
                        token_hash=hash_token(token),
                        created_us=now,
                        revoked_us=None,
                        head_seq=0,
                        head_hash=GENESIS_HASH,
                    )
                )
            else:  # re-admitted after a revocation: same journal, so the chain head is kept
                conn.execute(
                    terminals.update()
                    .where(terminals.c.terminal_id == terminal_id)
                    .values(token_hash=hash_token(token), revoked_us=None)
                )
        return token

    def revoke_terminal(self, terminal_id: str) -> datetime:
        now = self.clock()
        self._forget_tokens(terminal_id)
        with writing(self.engine) as conn:
            row = conn.execute(
                sa.select(terminals.c.revoked_us).where(terminals.c.terminal_id == terminal_id)
            ).first()
            if row is None:
                raise NotFound(f"no terminal {terminal_id[:40]!r}")
            if row.revoked_us is not None:
                return from_us(row.revoked_us)
            conn.execute(
                terminals.update()
                .where(terminals.c.terminal_id == terminal_id)
                .values(revoked_us=to_us(now))
            )
        return now

    def authenticate(self, token: str) -> str:
        """The terminal id a bearer token belongs to; AuthError if unknown or revoked."""
        with reading(self.engine) as conn:
            row = conn.execute(
                sa.select(terminals.c.terminal_id, terminals.c.revoked_us).where(
                    terminals.c.token_hash == hash_token(token)
                )
            ).first()
        if row is None:
            raise AuthError("unknown token")
        if row.revoked_us is not None:
            raise AuthError(f"terminal {row.terminal_id} has been revoked")
        with self._tokens_lock:
            if len(self._tokens) >= 10_000:
                self._tokens.clear()
            self._tokens[hash_token(token)] = str(row.terminal_id)
        return str(row.terminal_id)

    def pushing_terminal(self, token: str) -> str | None:
        """The terminal a token belonged to when ``authenticate`` last accepted it, without
        reading the database, or None. Only for a push, which checks the token again under the
        write lock (``push(..., token=)``): another process may have revoked it since."""
        return self._tokens.get(hash_token(token))

    def _forget_tokens(self, terminal_id: str) -> None:
        with self._tokens_lock:
            self._tokens = {h: t for h, t in self._tokens.items() if t != terminal_id}

    def terminal_head(self, terminal_id: str) -> tuple[int, str]:
        with reading(self.engine) as conn:
            row = conn.execute(
                sa.select(terminals.c.head_seq, terminals.c.head_hash).where(
                    terminals.c.terminal_id == terminal_id
                )
            ).first()
        if row is None:
            raise NotFound(f"no terminal {terminal_id[:40]!r}")
        return int(row.head_seq), str(row.head_hash)

    # ------------------------------------------------------------------ push

    def push(
        self,
        terminal_id: str,
        raw_events: Sequence[Any],
        sent_at: datetime | None = None,
        token: str | None = None,
    ) -> PushOutcome:
        """Apply a terminal's batch in order; see DESIGN.md §8 and the module docstring.

        With ``token``, the push itself checks, under the write lock, that it is the terminal's
        current token and the terminal is not revoked (AuthError otherwise): the HTTP service
        then authenticates pushes from ``pushing_terminal`` without a read of its own."""
        received = self.clock()
        received_us = to_us(received)
        offset_s = int((received - sent_at).total_seconds()) if sent_at is not None else None
        batch = _Batch(raw_events)
        try:
            return self._push(terminal_id, batch, received_us, offset_s, False, token)
        except sa.exc.IntegrityError:
            # An event id of this batch already exists elsewhere (another terminal, another seq):
            # the fast path did not look for it, the unique constraint caught it. Redo the batch
            # comparing every id with the stored events.
            return self._push(terminal_id, batch, received_us, offset_s, True, token)

    def _push(
        self,
        terminal_id: str,
        batch: _Batch,
        received_us: int,
        offset_s: int | None,
        check_all_ids: bool,
        token: str | None,
    ) -> PushOutcome:
        with writing(self.engine) as conn, Writer(conn) as out:
            rows = self._rows(conn, received_us, before_read=out.sync)
            cached, epoch = self._records.check(rows.gseq)
            term = conn.execute(
                sa.select(
                    terminals.c.head_seq,
                    terminals.c.head_hash,
                    terminals.c.revoked_us,
                    terminals.c.token_hash,
                ).where(terminals.c.terminal_id == terminal_id)
            ).first()
            if term is None or term.revoked_us is not None:
                self._forget_tokens(terminal_id)  # revoked by another process since it was read
                raise AuthError(f"terminal {terminal_id} is not registered or has been revoked")
            if token is not None and not hmac.compare_digest(
                str(term.token_hash), hash_token(token)
            ):
                self._forget_tokens(terminal_id)
                raise AuthError("unknown token")
            head_seq, head_hash = int(term.head_seq), str(term.head_hash)
            known = self._known_events(
                conn, batch.ids_to_look_up(terminal_id, head_seq, check_all_ids)
            )
            # A member or card the preload missed is read in the loop: the writer syncs first.
            book = self._book(conn, cached, before_read=out.sync)
            book.preload(batch.member_ids, batch.card_ids)
            rows.sales = self._sales(conn, terminal_id, head_seq, batch.refunded)

            results: list[EventResult] = []
            refused: list[tuple[int, wire.Envelope]] = []
            for i in range(len(batch)):
                # Checked here, not before the lock: on PostgreSQL this CPU work (canonical
                # JSON, hash, validation) runs while the server writes the events before it.
                env, body = batch.event(i)
                result = None
                if env.problem is not None or env.event_id is None:
                    result = EventResult(env.event_id, "rejected", "invalid", env.problem)
                elif env.terminal_id != terminal_id:
                    # Before the duplicate check: another terminal's event, even one stored,
                    # is refused, not answered "duplicate" with its ledger_seq (QA).
                    result = EventResult(
                        env.event_id,
                        "rejected",
                        "invalid",
                        f"event of terminal {str(env.terminal_id)[:40]!r} pushed by {terminal_id}",
                    )
                elif env.event_id in known:
                    original = known[env.event_id]
                    if original.body != env.body or original.hash != env.hash:
                        result = EventResult(
                            env.event_id,
                            "rejected",
                            "conflict",
                            "this event id was already pushed with another body",
                        )
                    elif original.status == "accepted":
                        result = EventResult(
                            env.event_id, "duplicate", None, None, original.gseq, True
                        )
                    else:
                        result = EventResult(
                            env.event_id,
                            "rejected",
                            original.reason,
                            original.message,
                            original.gseq,
                            True,
                        )
                elif env.seq is not None and env.seq <= head_seq:
                    result = EventResult(
                        env.event_id,
                        "rejected",
                        "chain",
                        f"seq {env.seq} was already acknowledged with another "
                        f"event (head is {head_seq}): the journal was truncated "
                        "or rewritten",
                    )
                elif env.seq != head_seq + 1:
                    result = EventResult(
                        env.event_id,
                        "rejected",
                        "gap",
                        f"expected seq {head_seq + 1}, got {env.seq}",
                    )
                elif env.prev_hash != head_hash:
                    result = EventResult(
                        env.event_id,
                        "rejected",
                        "chain",
                        f"prev_hash does not match the hash of seq {head_seq}",
                    )
                elif not env.hash_ok:
                    result = EventResult(
                        env.event_id,
                        "rejected",
                        "chain",
                        "hash does not match the event's content: it was edited",
                    )
                if result is not None:
                    results.append(result)
                    if result.status == "rejected" and not result.duplicate:
                        refused.append((len(results) - 1, env))
                    continue
                assert body is not None  # a sound envelope always has a parse result
                result = self._consume(book, rows, env.raw, env.body, body, offset_s)
                results.append(result)
                known[str(env.event_id)] = _Stored(
                    env.body,
                    env.hash,
                    result.status,
                    result.reason,
                    result.message,
                    result.ledger_seq,
                )
                head_seq, head_hash = int(env.seq or 0), str(env.hash)
                if out.streams and len(rows.events) - rows.sent_events >= _STREAM_CHUNK:
                    # On to the server while the next events are computed. A member goes too
                    # once no later event of the batch names it (one changed again after all,
                    # through a card, is written again at the end).
                    self._stream(out, book, rows, _named_before(batch.last_use, len(results)))
            self._conflicts_among(conn, refused, known, results, before_read=out.sync)
            rows.rejections.extend(
                {
                    "received_us": received_us,
                    "terminal_id": terminal_id,
                    "event_id": env.event_id,
                    "seq": env.seq,
                    "reason": results[i].reason,
                    "message": results[i].message or "",
                }
                for i, env in self._first_refusals(
                    conn, terminal_id, refused, results, before_read=out.sync
                )
            )
            self._flush(conn, book, rows, out)
            if head_seq != term.head_seq:
                out.update(
                    terminals,
                    {"terminal_id": terminal_id},
                    {"head_seq": head_seq, "head_hash": head_hash},
                )
        # Committed, and no one wrote in between (the lock): the cache is exact at rows.gseq.
        self._records.commit((r for r in book.members.values() if r is not None), rows.gseq, epoch)
        return PushOutcome(tuple(results), head_seq, head_hash)

    def _conflicts_among(
        self,
        conn: Connection,
        refused: list[tuple[int, wire.Envelope]],
        known: dict[str, _Stored],
        results: list[EventResult],
        before_read: Callable[[], None],
    ) -> None:
        """An event refused for a gap or a broken chain whose id the ledger already holds is a
        conflict: the same id with another body (it cannot be the same event, whose seq would
        be at or below the head). The fast path did not look these ids up; do it now."""
        unseen = [env.event_id for _, env in refused if env.event_id and env.event_id not in known]
        if not unseen:
            return
        before_read()
        stored = self._known_events(conn, unseen)
        for i, env in refused:
            if env.event_id in stored and results[i].reason in ("gap", "chain"):
                results[i] = EventResult(
                    env.event_id,
                    "rejected",
                    "conflict",
                    "this event id was already pushed with another body",
                )

    def _first_refusals(
        self,
        conn: Connection,
        terminal_id: str,
        refused: list[tuple[int, wire.Envelope]],
        results: list[EventResult],
        before_read: Callable[[], None],
    ) -> list[tuple[int, wire.Envelope]]:
        """The refusals to put on record. A terminal sends the events that wait behind one held
        back (``gap``) again at every sync; ``rejections`` keeps an event's refusal once for each
        reason, the first time, so that its rows (never updated or deleted) do not grow with the
        tries and the report counts events, not tries."""
        ids = sorted({str(env.event_id) for _, env in refused if env.event_id is not None})
        recorded: set[tuple[str, str]] = set()
        if ids:
            before_read()
            for chunk in _chunks(ids):
                recorded.update(
                    (str(r.event_id), str(r.reason))
                    for r in conn.execute(
                        sa.select(rejections.c.event_id, rejections.c.reason)
                        .distinct()
                        .where(
                            rejections.c.terminal_id == terminal_id,
                            rejections.c.event_id.in_(chunk),
                        )
                    )
                )
        first: list[tuple[int, wire.Envelope]] = []
        for i, env in refused:
            if env.event_id is not None:  # an event without an id cannot be told from another
                key = (str(env.event_id), str(results[i].reason))
                if key in recorded:
                    continue
                recorded.add(key)
            first.append((i, env))
        return first

    def _consume(
        self,
        book: Book,
        rows: _Rows,
        raw: Mapping[str, Any],
        body_text: str,
        parsed: wire.EventIn | str,
        offset_s: int | None = None,
    ) -> EventResult:
        """Store one event that fits its chain; apply it unless its body is invalid."""
        rows.gseq += 1
        gseq = rows.gseq
        status, reason, message = "accepted", None, None
        posted = _NOTHING_POSTED
        occurred_us = None
        skew = 0
        if isinstance(parsed, str):
            status, reason, message = "rejected", "invalid", parsed
        else:
            occurred_us = to_us(parsed.occurred_at)
            skew = (rows.received_us - occurred_us) // 1_000_000
            if offset_s is not None and skew > -SKEW_LIMIT_S:
                skew = offset_s  # the terminal told its clock: an old event is just late
            try:
                posted = post(book, parsed, gseq, occurred_us)
            except EventInvalid as e:
                status, reason, message = "rejected", "invalid", str(e)
        kind = raw.get("type")
        version = raw.get("program_version")
        rows.events.append(
            (  # _EVENT_COLUMNS
                gseq,
                raw["event_id"],
                raw["terminal_id"],
                raw["seq"],
                kind[:32] if isinstance(kind, str) else "?",
                posted.member_id,
                str(raw.get("occurred_at"))[:64],
                occurred_us,
                rows.received_us,
                skew,
                version if isinstance(parsed, wire.EventIn) else None,
                raw["prev_hash"],
                raw["hash"],
                status,
                reason,
                message,
                posted.spend_minor,
                body_text,
            )
        )
        if occurred_us is not None and isinstance(parsed, wire.Checkout):
            rows.sales[parsed.terminal_id, parsed.seq] = occurred_us
        elif occurred_us is not None and isinstance(parsed, wire.Refund) and posted.member_id:
            # Its money counts in the tier window at its sale's moment.
            sale = _sale_seq(parsed.terminal_id, parsed.original_receipt_id)
            sold = None if sale is None else rows.sales.get((parsed.terminal_id, sale))
            if posted.spend_minor and (moment := spend_moment(occurred_us, sold)) != occurred_us:
                rows.spend_moments.append((gseq, moment))
        for leg, t in enumerate(posted.transfers):
            at_us = occurred_us
            if t.kind == "unexpire" and occurred_us is not None and t.lot is not None:
                # Points an expiry run wrote off, booked back: a correction of that run, dated
                # at the run when the event came before it (not at a sale before the run, whose
                # day would read "expired -200" while the run's day kept the gross; nor at the
                # push, which left the member owing those points from the run to the push; QA),
                # at the event when it came after (a refund of points that lapsed unused).
                run_us = rows.written_off_at(t.member_id, t.lot)
                at_us = max(occurred_us, rows.received_us if run_us is None else run_us)
            rows.transfers.append(
                # _TRANSFER_COLUMNS
                (gseq, leg, t.kind, t.debit, t.credit, t.amount, t.member_id, at_us)
            )
        if status == "rejected":
            rows.rejections.append(
                {
                    "received_us": rows.received_us,
                    "terminal_id": raw["terminal_id"],
                    "event_id": raw["event_id"],
                    "seq": raw["seq"],
                    "reason": reason,
                    "message": message or "",
                }
            )
        return EventResult(raw["event_id"], status, reason, message, gseq)

    # ------------------------------------------------------------------ ledger's own events

    def _append_ledger(
        self,
        book: Book,
        rows: _Rows,
        kind: str,
        occurred_at: datetime,
        body: Mapping[str, Any],
        program_version: int | None = None,
    ) -> EventResult:
        """Seal an event on the ledger's own chain and apply it; Refused if it cannot apply."""
        event = {
            "event_id": str(uuid.uuid4()),
            "terminal_id": wire.LEDGER_TERMINAL,
            "seq": rows.ledger_seq + 1,
            "type": kind,
            "occurred_at": occurred_at.isoformat(),
            "program_version": program_version,
            **body,
        }
        sealed = seal(event, rows.ledger_hash)
        parsed = wire.parse_body(sealed, wire.LEDGER_TYPES)
        rows.ledger_seq += 1
        rows.ledger_hash = sealed["hash"]
        result = self._consume(book, rows, sealed, wire.Envelope.check(sealed).body, parsed)
        if result.status != "accepted":
            # An admin's request is refused, not recorded: raising rolls the transaction back.
            raise Conflict(result.message or "the ledger could not apply this change")
        return result

    def _program_version(self, conn: Connection) -> int | None:
        current = self.current_program(conn)
        return current.version if current else None

    def adjust(self, member_id: str, points: int, reason: str) -> dict[str, Any]:
        """An admin's correction: points in (a lot with the program's expiry) or out."""
        if points == 0:
            raise Refused("an adjustment must move at least one point")
        if abs(points) > MAX_POINTS:
            raise Refused(f"an adjustment moves at most {MAX_POINTS} points")
        reason = _reason(reason)
        now = self.clock().astimezone()  # the lot's days are the store's: this machine's
        with writing(self.engine) as conn:
            rows, book = self._rows(conn, to_us(now)), self._book(conn)
            record = self._member(book, member_id)
            current = self.current_program(conn)
            lots = []
            if points > 0:
                days = current.program.expiry_days if current else 0
                lots = [Lot(points, now.date(), expiry_date(now, days)).to_json()]
            result = self._append_ledger(
                book,
                rows,
                "adjust",
                now,
                {"member_id": record.member_id, "points": points, "reason": reason, "lots": lots},
                current.version if current else None,
            )
            self._flush(conn, book, rows)
            after = book.members[member_id]
        assert after is not None
        return {
            "member_id": member_id,
            "event_id": result.event_id,
            "ledger_seq": result.ledger_seq,
            "balance": after.balance,
        }

    def set_frozen(self, member_id: str, frozen: bool, reason: str) -> dict[str, Any]:
        reason = _reason(reason)
        now = self.clock()
        with writing(self.engine) as conn:
            rows, book = self._rows(conn, to_us(now)), self._book(conn)
            self._member(book, member_id)
            kind = "freeze" if frozen else "unfreeze"
            result = self._append_ledger(
                book,
                rows,
                kind,
                now,
                {"member_id": member_id, "reason": reason},
                self._program_version(conn),
            )
            self._flush(conn, book, rows)
        return {
            "member_id": member_id,
            "status": "frozen" if frozen else "active",
            "event_id": result.event_id,
            "ledger_seq": result.ledger_seq,
        }

    def block_card(self, card: str) -> dict[str, Any]:
        now = self.clock()
        with writing(self.engine) as conn:
            rows, book = self._rows(conn, to_us(now)), self._book(conn)
            row = book.card(card)
            if row is None and (capitals := card_in_capitals(card)) != card:
                # typed by an admin in small letters: the card as the ledger keeps it
                card, row = capitals, book.card(capitals)
            if row is None:
                raise NotFound(f"no card {mask(card)}")
            if row.status == "blocked":
                raise Conflict(f"card {mask(card)} is already blocked")
            result = self._append_ledger(
                book,
                rows,
                "card_block",
                now,
                {"member_id": row.member_id, "card": card},
                self._program_version(conn),
            )
            self._flush(conn, book, rows)
        return {
            "card": card,
            "member_id": row.member_id,
            "status": "blocked",
            "event_id": result.event_id,
            "ledger_seq": result.ledger_seq,
        }

    def link_card(self, member_id: str, card: str) -> dict[str, Any]:
        card = card_in_capitals(card)  # a new card, kept as a till scans it
        now = self.clock()
        with writing(self.engine) as conn:
            rows, book = self._rows(conn, to_us(now)), self._book(conn)
            self._member(book, member_id)
            row = book.card(card)
            if row is not None and row.member_id == member_id and row.status == "active":
                raise Conflict(f"card {mask(card)} is already linked to member {member_id}")
            # Its twin of the same member may be linked: it is how a card an earlier release
            # kept in small letters gets the form a till scans.
            other = self._twins(conn, [card]).get(card)
            if other is not None and other != member_id:
                raise Conflict(f"card {mask(card)} already belongs to member {other}{_OTHER_CASE}")
            result = self._append_ledger(
                book,
                rows,
                "card_link",
                now,
                {"member_id": member_id, "card": card},
                self._program_version(conn),
            )
            self._flush(conn, book, rows)
        return {
            "card": card,
            "member_id": member_id,
            "status": "active",
            "event_id": result.event_id,
            "ledger_seq": result.ledger_seq,
        }

    def put_program(self, rules: Mapping[str, Any], source: str = "program") -> dict[str, Any]:
        """Store a new program version; ConfigError lists every problem, Conflict if not newer
        or in another currency. The program in force given again stores nothing and answers
        its version and change (``unchanged``)."""
        program = parse_program(rules, source)
        stored = program_to_json(program)
        now = self.clock()
        with writing(self.engine) as conn:
            current = self.current_program(conn)
            if (
                current is not None
                and program.version == current.version
                and json.dumps(stored, sort_keys=True) == json.dumps(current.rules, sort_keys=True)
            ):
                # The program in force, given again (a set-up script run a second time): there
                # is nothing to store, and nothing is wrong.
                return {
                    "version": current.version,
                    "ledger_seq": current.change_seq,
                    "unchanged": True,
                }
            if current is not None and program.version <= current.version:
                raise Conflict(
                    f"program version {program.version} is not above the current "
                    f"version {current.version}"
                )
            # Every amount the ledger holds (spend, the tier window, reports) is in minor units
            # of the first program's currency: another currency would silently rescale them all
            # (100.00 EUR, 10000 minor units, would read as 10000 JPY).
            if current is not None and program.currency != current.program.currency:
                raise Conflict(
                    f"the program's currency is {program.currency}, but the ledger keeps its "
                    f"amounts in {current.program.currency}: a program cannot change the currency"
                )
            rows, book = self._rows(conn, to_us(now)), self._book(conn)
            result = self._append_ledger(
                book,
                rows,
                "program",
                now,
                {"version": program.version, "rules": stored},
                program.version,
            )
            rows.programs.append(
                {
                    "version": program.version,
                    "change_seq": result.ledger_seq,
                    "rules": json.dumps(stored, sort_keys=True),
                    "created_us": to_us(now),
                }
            )
            self._flush(conn, book, rows)
        self._program_cache = None
        return {"version": program.version, "ledger_seq": result.ledger_seq}

    def expire(self, at: datetime | None = None) -> dict[str, Any]:
        """Write an ``expire`` event for every lot that has lapsed on ``at``'s date. ``at`` may
        lie in the past (a run that was missed), never in the future: the events are final, and
        a mistyped year would take every member's points that lapse by then. Without ``at``,
        now, on the day of this machine's clock (the store's, as cron runs the job by it):
        lots lapse as the store's day begins, and the UTC day is a day behind it in the small
        hours east of UTC, a day ahead of it in the evening west of UTC."""
        now = self.clock()
        if at is not None and at > now:
            raise Refused(
                f"{at.isoformat()} is in the future: points are expired for a moment that has "
                "come (leave the time out for now)"
            )
        at = at or now.astimezone()
        on = at.date()
        lots_n = points = 0
        with writing(self.engine) as conn:
            rows, book = self._rows(conn, to_us(self.clock())), self._book(conn)
            due = conn.execute(
                sa.select(members.c.member_id, members.c.state)
                .where(members.c.next_expiry.is_not(None), members.c.next_expiry <= on.isoformat())
                .order_by(members.c.member_id)
            ).all()
            version = self._program_version(conn)
            for row in due:
                record = MemberRecord.from_state(row.state)
                book.members[record.member_id] = record
                _, lapsed = record.account.expire(on)
                for lot in lapsed:
                    self._append_ledger(
                        book,
                        rows,
                        "expire",
                        at,
                        {
                            "member_id": record.member_id,
                            "points": lot.points,
                            "earned_at": lot.earned_at.isoformat(),
                            "expires_at": lot.expires_at.isoformat() if lot.expires_at else None,
                        },
                        version,
                    )
                    lots_n += 1
                    points += lot.points
            self._flush(conn, book, rows)
        return {"at": at.isoformat(), "members": len(due), "lots": lots_n, "points": points}

    def import_members(self, text: str, source: str = "members.csv") -> dict[str, Any]:
        """Enrol every member of a CSV file, or none: problems name the file and the line."""
        rows_read, read_problems = read_rows(text, MEMBER_COLUMNS)
        problems = [f"{source}: {p}" for p in read_problems]
        entries: list[tuple[int, dict[str, Any]]] = []
        today = self.clock().date()
        seen_ids: dict[str, int] = {}
        seen_cards: dict[str, tuple[int, str]] = {}
        for line, row in rows_read:
            problems.extend(
                f"{source}: line {line}: {p}"
                for p in _member_row_problems(row, seen_ids, seen_cards, line, today)
            )
            entries.append((line, row))
        if not entries and not problems:
            raise Refused(f"{source}: no members in the file")
        now = self.clock()
        with writing(self.engine) as conn:
            rows, book = self._rows(conn, to_us(now)), self._book(conn)
            book.preload(seen_ids, seen_cards)
            for member_id, line in seen_ids.items():
                if book.members.get(member_id) is not None:
                    problems.append(f"{source}: line {line}: member {member_id} already exists")
            twins = self._twins(conn, seen_cards)
            for card, (line, typed) in seen_cards.items():
                found = book.cards.get(card)
                owner = found.member_id if found is not None else twins.get(card)
                if owner is not None:
                    other_case = _OTHER_CASE if found is None or typed != card else ""
                    problems.append(
                        f"{source}: line {line}: card {mask(card)} already belongs "
                        f"to member {owner}{other_case}"
                    )
            if problems:
                problems.sort(key=lambda p: int(p.split("line ")[1].split(":")[0]))
                raise Refused(
                    f"{len(problems)} problem(s), nothing imported: " + "; ".join(problems[:20]),
                    problems=problems,
                )
            version = self._program_version(conn)
            for _line, row in entries:
                self._append_ledger(
                    book,
                    rows,
                    "enroll",
                    now,
                    {
                        "member_id": row["member_id"].strip(),
                        "card": (row["card"] or "").strip() or None,
                        "name": (row["name"] or "").strip() or None,
                        "email": (row["email"] or "").strip() or None,
                        "phone": None,
                        "birthday": (row["birthday"] or "").strip() or None,
                        "provisional": False,
                    },
                    version,
                )
            self._flush(conn, book, rows)
        return {"imported": len(entries)}

    def _twins(self, conn: Connection, wanted: Iterable[str]) -> dict[str, str]:
        """The members holding one of the ``wanted`` cards (in capitals, ``card_in_capitals``)
        in other capitals: a card an earlier release kept as a file gave it, or a till whose
        card pattern takes small letters. Those are few, and a scan finds them without an
        index of their own (a members file, an admin's link: not a till's sale)."""
        wanted = set(wanted)
        found = conn.execute(
            sa.select(cards.c.card, cards.c.member_id).where(
                cards.c.card != sa.func.upper(cards.c.card)
            )
        )
        return {
            capitals: str(r.member_id)
            for r in found
            if (capitals := card_in_capitals(r.card)) in wanted
        }

    # ------------------------------------------------------------------ reads

    def current_program(self, conn: Connection | None = None) -> CurrentProgram | None:
        if conn is None:
            with reading(self.engine) as c:
                return self.current_program(c)
        row = conn.execute(
            sa.select(programs.c.version, programs.c.change_seq, programs.c.rules)
            .order_by(programs.c.version.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        cached = self._program_cache
        if cached is None or cached.version != row.version:
            rules = json.loads(row.rules)
            cached = CurrentProgram(
                int(row.version),
                int(row.change_seq),
                parse_program(rules, f"program v{row.version}"),
                rules,
            )
            self._program_cache = cached
        return cached

    def pull(self, since: int, limit: int, terminal_id: str | None = None) -> dict[str, Any]:
        """Member snapshots changed after ``since``, oldest change first, at most ``limit``; with
        ``terminal_id`` (a terminal's own pull), that terminal's chain head as a push answers it:
        a terminal told a higher seq before knows the ledger lost its events after this one."""
        now = self.clock()
        head = None
        with reading(self.engine) as conn:
            if terminal_id is not None:
                term = conn.execute(
                    sa.select(terminals.c.head_seq, terminals.c.head_hash).where(
                        terminals.c.terminal_id == terminal_id
                    )
                ).first()
                if term is not None:  # whose head: a till given another's token learns so
                    head = {
                        "terminal_id": terminal_id,
                        "seq": int(term.head_seq),
                        "hash": str(term.head_hash),
                    }
            # Read the top of the sequence first: every change up to it has committed (writers
            # are serialised), so a cursor never skips a change that commits later.
            top = int(conn.execute(sa.select(ledger_state.c.gseq)).scalar_one())
            current = self.current_program(conn)
            # Each member's spend in the tier window is read in the same statement as the member
            # (a correlated aggregate over ix_events_member_time): one round trip per page, no
            # list of ids to bind, and spend and state from the same snapshot.
            found = conn.execute(
                sa.select(members.c.change_seq, members.c.state, self._window_column(now, current))
                .where(members.c.change_seq > since, members.c.change_seq <= top)
                .order_by(members.c.change_seq)
                .limit(limit + 1)
            ).all()
            more = len(found) > limit
            found = found[:limit]
            # A cursor below ``since`` means the ledger is behind the caller (restored from a
            # backup): the caller should pull again from 0.
            cursor = int(found[-1].change_seq) if more else top
        program = None
        if current is not None and since < current.change_seq <= cursor:
            program = {"version": current.version, "rules": current.rules}
        return {
            "members": [
                self._snapshot(MemberRecord.from_state(r.state), r.window, now, current)
                for r in found
            ],
            "program": program,
            "cursor": cursor,
            "more": more,
            "snapshot_format": SNAPSHOT_FORMAT,
            "head": head,
        }

    def card_snapshot(self, card: str) -> dict[str, Any]:
        now = self.clock()
        with reading(self.engine) as conn:
            # As a till asks, or as an admin types it in small letters (``block_card``).
            forms = {card, card_in_capitals(card)}
            row = conn.execute(
                sa.select(cards.c.member_id)
                .where(cards.c.card.in_(forms))
                .order_by((cards.c.card == card).desc())
            ).first()
            if row is None:
                raise NotFound(f"no card {mask(card)}")
            return self._snapshot_of(conn, self._load_record(conn, str(row.member_id)), now)

    def member_view(self, member_id: str) -> dict[str, Any]:
        """The pull snapshot plus what an admin wants to see: debt, spendable, ledger balance."""
        now = self.clock()
        with reading(self.engine) as conn:
            record = self._load_record(conn, member_id)
            snap = self._snapshot_of(conn, record, now)
            booked = _member_balance(conn, member_id)
        snap.update(
            {
                "debt": record.account.debt,
                # lots lapse as the store's day begins: this machine's day, not UTC's
                "spendable_balance": record.account.balance(now.astimezone().date()),
                "ledger_balance": booked,
                "next_expiry": record.next_expiry,
                "enrolled_at": record.enrolled_at,
            }
        )
        return snap

    def audit(self) -> dict[str, Any]:
        """Reconciliation: every account's balance from the transfers, their sum (0), and members
        whose cached balance disagrees with their transfers."""
        with reading(self.engine) as conn:
            balances = _balances(conn)
            cached = dict(conn.execute(sa.select(members.c.member_id, members.c.balance)).all())
            bad = conn.execute(
                sa.select(sa.func.count())
                .select_from(transfers)
                .where(sa.or_(transfers.c.amount <= 0, transfers.c.debit == transfers.c.credit))
            ).scalar_one()
            n_transfers = conn.execute(
                sa.select(sa.func.count()).select_from(transfers)
            ).scalar_one()
            n_events = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        mismatched = sorted(m for m, bal in cached.items() if balances.get(f"member:{m}", 0) != bal)
        return {
            "events": int(n_events),
            "transfers": int(n_transfers),
            "unbalanced_transfers": int(bad),
            "sum_of_balances": sum(balances.values()),
            "program_accounts": {
                a: v for a, v in sorted(balances.items()) if a.startswith("program:")
            },
            "member_points": sum(v for a, v in balances.items() if a.startswith("member:")),
            "members_mismatched": mismatched,
        }

    def report(self, start: datetime, end: datetime, active_days: int = 90) -> dict[str, Any]:
        from .report import summary

        with reading(self.engine) as conn:
            return summary(conn, self.current_program(conn), start, end, active_days)

    def balances(self, start: datetime, end: datetime) -> dict[str, Any]:
        from .report import balances

        with reading(self.engine) as conn:
            return balances(conn, self.current_program(conn), start, end)

    def health(self) -> dict[str, Any]:
        with reading(self.engine) as conn:
            top = conn.execute(sa.select(ledger_state.c.gseq)).scalar_one()
        return {"status": "ok", "database": self.engine.dialect.name, "ledger_seq": int(top)}

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _sales(
        conn: Connection, terminal_id: str, head_seq: int, refunded: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """The moments (occurred_us) of the stored sales of ``terminal_id`` that refunds of a push
        name; the sales after ``head_seq`` come in the push itself."""
        seqs = sorted(
            seq for terminal, seq in refunded if terminal == terminal_id and seq <= head_seq
        )
        found: dict[tuple[str, int], int] = {}
        for i in range(0, len(seqs), _CHUNK):
            for row in conn.execute(
                sa.select(events.c.seq, events.c.occurred_us).where(
                    events.c.terminal_id == terminal_id,
                    events.c.seq.in_(seqs[i : i + _CHUNK]),
                    events.c.type == "checkout",
                    events.c.occurred_us.is_not(None),
                )
            ):
                found[terminal_id, int(row.seq)] = int(row.occurred_us)
        return found

    def _rows(
        self,
        conn: Connection,
        received_us: int,
        before_read: Callable[[], None] | None = None,
    ) -> _Rows:
        state = conn.execute(
            sa.select(
                ledger_state.c.gseq, ledger_state.c.ledger_seq, ledger_state.c.ledger_hash
            ).where(ledger_state.c.id == 1)
        ).one()
        rows = _Rows(int(state.gseq), int(state.ledger_seq), str(state.ledger_hash), received_us)
        rows.written_off_at = self._written_off_at(conn, before_read)
        return rows

    @staticmethod
    def _written_off_at(
        conn: Connection, before_read: Callable[[], None] | None
    ) -> Callable[[str, tuple[date, date | None]], int | None]:
        """When an expiry run first wrote off a member's lot of an earning day and expiry: the
        moment of its ``expire`` event (the ledger's, canonical JSON), None if none did.
        ``before_read`` runs before the query (a writer's ``sync``)."""

        def written_off_at(member_id: str, lot: tuple[date, date | None]) -> int | None:
            earned, expires = lot
            if before_read is not None:
                before_read()
            expiry = f'"expires_at":"{expires.isoformat()}"' if expires else '"expires_at":null'
            found = conn.execute(
                sa.select(sa.func.min(events.c.occurred_us)).where(
                    events.c.member_id == member_id,
                    events.c.type == "expire",
                    events.c.terminal_id == wire.LEDGER_TERMINAL,
                    events.c.status == "accepted",
                    events.c.body.contains(f'"earned_at":"{earned.isoformat()}"', autoescape=True),
                    events.c.body.contains(expiry, autoescape=True),
                )
            ).scalar()
            return None if found is None else int(found)

        return written_off_at

    def _book(
        self,
        conn: Connection,
        cached: bool = False,
        before_read: Callable[[], None] | None = None,
    ) -> Book:
        """A book reading members and cards through ``conn``; with ``cached``, members come from
        the record cache when it has them (see ``_RecordCache``). ``before_read`` runs before
        every query (a writer's ``sync``)."""

        def load_members(ids: Iterable[str]) -> dict[str, MemberRecord]:
            found: dict[str, MemberRecord] = {}
            wanted = []
            for member_id in ids:
                record = self._records.get(member_id) if cached else None
                if record is None:
                    wanted.append(member_id)
                else:
                    found[member_id] = record
            if wanted and before_read is not None:
                before_read()
            for chunk in _chunks(sorted(wanted)):
                for row in conn.execute(
                    sa.select(members.c.state).where(members.c.member_id.in_(chunk))
                ):
                    record = MemberRecord.from_state(row.state)
                    found[record.member_id] = record
            return found

        def load_cards(ids: Iterable[str]) -> dict[str, CardRow]:
            found: dict[str, CardRow] = {}
            wanted = sorted(ids)
            if wanted and before_read is not None:
                before_read()
            for chunk in _chunks(wanted):
                for row in conn.execute(sa.select(cards).where(cards.c.card.in_(chunk))):
                    found[row.card] = CardRow(row.member_id, row.status)
            return found

        current = self.current_program(conn)
        return Book(load_members, load_cards, current.program.currency if current else None)

    @staticmethod
    def _member(book: Book, member_id: str) -> MemberRecord:
        record = book.member(member_id)
        if record is None:
            raise NotFound(f"no member {member_id[:64]!r}")
        return record

    def _known_events(self, conn: Connection, ids: list[str]) -> dict[str, _Stored]:
        known: dict[str, _Stored] = {}
        for chunk in _chunks(sorted(set(ids))):
            for row in conn.execute(
                sa.select(
                    events.c.event_id,
                    events.c.body,
                    events.c.hash,
                    events.c.status,
                    events.c.reason,
                    events.c.message,
                    events.c.gseq,
                ).where(events.c.event_id.in_(chunk))
            ):
                known[row.event_id] = _Stored(
                    row.body, row.hash, row.status, row.reason, row.message, int(row.gseq)
                )
        return known

    def _stream(
        self, out: Writer, book: Book, rows: _Rows, settled: Callable[[str], bool] | None = None
    ) -> None:
        """Hand to the writer the events and transfers not written yet (events first: the
        transfers refer to them) and the changed members ``settled`` says are final; without
        ``settled``, every changed member not written as it is now (the end of a transaction).

        While streaming, only the members changed since the last chunk and those still named
        by a later event then are looked at, not every member of the batch again at every
        chunk; one changed again after it was written is written at the end."""
        out.insert_rows(events, _EVENT_COLUMNS, rows.events[rows.sent_events :])
        out.insert_rows(transfers, _TRANSFER_COLUMNS, rows.transfers[rows.sent_transfers :])
        out.insert_rows(
            spend_moments, _SPEND_MOMENT_COLUMNS, rows.spend_moments[rows.sent_spend_moments :]
        )
        rows.sent_events, rows.sent_transfers = len(rows.events), len(rows.transfers)
        rows.sent_spend_moments = len(rows.spend_moments)
        ready: Iterable[str] = book.changed_members
        if settled is not None:
            looked = rows.unsettled
            looked.extend(itertools.islice(book.changed_members, rows.looked_at, None))
            rows.looked_at = len(book.changed_members)
            now: list[str] = []
            later: list[str] = []
            for member_id in looked:
                (now if settled(member_id) else later).append(member_id)
            ready, rows.unsettled = now, later
        changed = []
        for member_id in ready:
            gseq = book.changed_members[member_id]
            if rows.sent_members.get(member_id) == gseq:
                continue
            record = book.members[member_id]
            assert record is not None
            changed.append(
                {
                    "member_id": member_id,
                    "change_seq": gseq,
                    "balance": record.balance,
                    "status": record.status,
                    "next_expiry": record.next_expiry,
                    "enrolled_us": record.enrolled_us,
                    "state": record.to_state(),
                }
            )
            rows.sent_members[member_id] = gseq
        out.upsert(members, changed)

    def _flush(self, conn: Connection, book: Book, rows: _Rows, out: Writer | None = None) -> None:
        """Write what one transaction has not written yet with a handful of multi-row statements
        (through ``out``, or a writer of its own that has waited for the server on return)."""
        if out is None:
            with Writer(conn) as own:
                self._flush(conn, book, rows, own)
            return
        self._stream(out, book, rows)
        changed_cards = []
        for card in book.changed_cards:
            row = book.cards[card]
            assert row is not None
            changed_cards.append({"card": card, "member_id": row.member_id, "status": row.status})
        out.upsert(cards, changed_cards)
        out.insert(rejections, rows.rejections)
        out.insert(programs, rows.programs)
        out.update(
            ledger_state,
            {"id": 1},
            {"gseq": rows.gseq, "ledger_seq": rows.ledger_seq, "ledger_hash": rows.ledger_hash},
        )

    @staticmethod
    def _window_column(now: datetime, current: CurrentProgram | None) -> Any:
        """A member's spend that counts in the tier window from ``now`` on, as a column of a
        select from ``members``: ``moment:spend_minor`` of each such event, joined by commas
        (NULL when there is none, and without a program). A correlated aggregate over
        ``ix_events_member_time``: the rows the window's sum used to read, sent instead of
        summed. Events stamped after ``now`` are in it too: they count from their time on.

        The moment is the event's own, but a refund's is its sale's (``spend_moments``, looked
        up for refunds only). A refund is never dated after itself, so the window's events all
        occurred after its start, and the index range stays the one it was."""
        if current is None:
            return sa.null().label("window")
        start = to_us(now - timedelta(days=current.program.tier_window_days))
        sold = (
            sa.select(spend_moments.c.spend_us)
            .where(spend_moments.c.gseq == events.c.gseq)
            .scalar_subquery()
        )
        moment = sa.func.coalesce(sa.case((events.c.type == "refund", sold)), events.c.occurred_us)
        pair = sa.cast(moment, sa.String) + ":" + sa.cast(events.c.spend_minor, sa.String)
        return (
            sa.select(sa.func.aggregate_strings(pair, ","))
            .where(
                events.c.member_id == members.c.member_id,
                events.c.spend_minor != 0,
                events.c.occurred_us > start,
                moment > start,
            )
            .scalar_subquery()
            .label("window")
        )

    @staticmethod
    def _load_record(conn: Connection, member_id: str) -> MemberRecord:
        row = conn.execute(
            sa.select(members.c.state).where(members.c.member_id == member_id)
        ).first()
        if row is None:
            raise NotFound(f"no member {member_id[:64]!r}")
        return MemberRecord.from_state(row.state)

    def _snapshot_of(self, conn: Connection, record: MemberRecord, now: datetime) -> dict[str, Any]:
        current = self.current_program(conn)
        window = conn.execute(
            sa.select(self._window_column(now, current)).where(
                members.c.member_id == record.member_id
            )
        ).scalar_one()
        return self._snapshot(record, window, now, current)

    @staticmethod
    def _snapshot(
        record: MemberRecord, window: str | None, now: datetime, current: CurrentProgram | None
    ) -> dict[str, Any]:
        """The member's snapshot; ``window`` is what ``_window_column`` read for them."""
        spend_minor, window_spend = _window_spend(window, to_us(now))
        tier = None
        if current is not None:
            spend = Decimal(spend_minor).scaleb(-_exponent(current.program.currency))
            tier = tier_status(current.program, spend).tier.name
        return {
            "member_id": record.member_id,
            "cards": [{"card": c, "status": s} for c, s in record.cards],
            "name": record.name,
            "email": record.email,
            "phone": record.phone,
            "birthday": record.birthday,
            "tier": tier,
            "qualifying_spend_minor": spend_minor,
            "window_spend": window_spend,
            "balance": record.balance,
            "lots": [lot.to_json() for lot in record.account.lots],
            # lapsed lots the expiry runs wrote off, not in the balance: a refund takes the
            # points of its sale that lapsed unused from these (``posting._from_written_off``)
            "written_off": [lot.to_json() for lot in record.written_off],
            # what a refund took back after the points were spent, and what covered it: the
            # return of the sale that spent them settles it (``Account.owed``)
            "owed": [lot.to_json() for lot in record.account.owed],
            "covered": [lot.to_json() for lot in record.account.covered],
            "status": record.status,
            "punch": dict(record.punch),
            "last_birthday_bonus": record.last_birthday_bonus,
            "counted_through": dict(record.counted_through),
            # the till's report counts a member's lifetime (t) from it, as this ledger's does
            "enrolled_at": record.enrolled_at or None,
        }


def _named_before(last_use: Mapping[str, int], end: int) -> Callable[[str], bool]:
    """Whether no event from index ``end`` on names the member (``last_use``: the index of the
    last event naming each member)."""
    return lambda member_id: last_use.get(member_id, -1) < end


def _sale_seq(terminal_id: str, original_receipt_id: object) -> int | None:
    """The seq of the sale a refund of ``terminal_id`` names, when it names one of that
    terminal's receipts (``{terminal}-{seq:06d}``: a till refunds only its own sales)."""
    if not isinstance(original_receipt_id, str):
        return None
    if original_receipt_id.rpartition("-")[0] != terminal_id:
        return None
    return receipt_seq(original_receipt_id)


def _window_spend(window: str | None, now_us: int) -> tuple[int, list[list[Any]]]:
    """From ``_window_column``'s text: the qualifying spend at ``now_us`` (what is dated up to
    then) and the snapshot's ``window_spend``, ``[occurred_at, spend_minor]`` pairs oldest first,
    one per moment (sales of the same microsecond added up; a moment that adds up to 0 left
    out)."""
    if not window:
        return 0, []
    by_moment: dict[int, int] = {}
    for pair in window.split(","):
        at, _, minor = pair.partition(":")
        moment = int(at)
        by_moment[moment] = by_moment.get(moment, 0) + int(minor)
    spend = 0
    dated: list[list[Any]] = []
    for moment in sorted(by_moment):
        amount = by_moment[moment]
        if moment <= now_us:
            spend += amount
        if amount:
            dated.append([from_us(moment).isoformat(), amount])
    return spend, dated


def _exponent(currency: str) -> int:
    from loyalty_pos.domain.money import exponent

    return exponent(currency)


def _balances(conn: Connection) -> dict[str, int]:
    credits = sa.select(transfers.c.credit.label("account"), transfers.c.amount.label("delta"))
    debits = sa.select(transfers.c.debit.label("account"), (-transfers.c.amount).label("delta"))
    legs = sa.union_all(credits, debits).subquery()
    return {
        str(account): int(total)
        for account, total in conn.execute(
            sa.select(legs.c.account, sa.func.sum(legs.c.delta)).group_by(legs.c.account)
        )
    }


def _member_balance(conn: Connection, member_id: str) -> int:
    """A member's balance recomputed from their transfers (the truth the cache must match)."""
    account = member_account(member_id)
    delta = sa.case((transfers.c.credit == account, transfers.c.amount), else_=-transfers.c.amount)
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(delta), 0)).where(transfers.c.member_id == member_id)
    ).scalar_one()
    return int(total)


def _member_row_problems(
    row: dict[str, str],
    seen_ids: dict[str, int],
    seen_cards: dict[str, tuple[int, str]],
    line: int,
    today: date,
) -> list[str]:
    """What is wrong with one row of a members file; its card is put in the form the ledger
    keeps (``card_in_capitals``), and a card is kept in ``seen_cards`` with its line and how it
    was typed there."""
    problems = []
    member_id = (row.get("member_id") or "").strip()
    typed = (row.get("card") or "").strip()
    card = row["card"] = card_in_capitals(typed)
    if not member_id or len(member_id) > MAX_ID:
        problems.append(f"member_id must be 1-{MAX_ID} characters")
    elif problem := text_problem(member_id, MAX_ID, "member_id"):
        problems.append(problem)
    elif member_id in seen_ids:
        problems.append(f"member {member_id} is also on line {seen_ids[member_id]}")
    else:
        seen_ids[member_id] = line
    if problem := text_problem(card, MAX_ID, "card"):
        problems.append(problem)
    elif card and card in seen_cards:
        first, first_typed = seen_cards[card]
        other_case = _OTHER_CASE if typed != first_typed else ""
        problems.append(f"card {mask(card)} is also on line {first}{other_case}")
    elif card:
        seen_cards[card] = (line, typed)
    for key in ("name", "email"):
        if problem := text_problem((row.get(key) or "").strip(), MAX_TEXT, key):
            problems.append(problem)
    email = (row.get("email") or "").strip()
    if email and not text_problem(email, MAX_TEXT, "email") and (problem := email_problem(email)):
        problems.append(problem)
    birthday = (row.get("birthday") or "").strip()
    if birthday and (problem := birthday_problem(birthday, today)):
        problems.append(problem)
    return problems


#: Said of a card given in other capitals than one the ledger or the file holds.
_OTHER_CASE = " (in another case: the same card)"


def _reason(reason: str) -> str:
    """An admin's reason as it goes on the record: one line of printable text with at least one
    visible character (not only spaces and zero-width characters)."""
    if problem := reason_problem(reason):
        raise Refused(problem)
    return reason.strip()
