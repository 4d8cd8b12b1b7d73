"""The ledger's tables as SQLAlchemy Core objects, shared by the queries and checked against the
Alembic migrations by a test (the migrations create the tables; this module only describes them).

Truth lives in the append-only tables ``events``, ``transfers`` and ``rejections``: rows there are
never updated or deleted. So are the rows of ``spend_moments``, written with the events they date. ``members``, ``cards`` and ``terminals`` are caches derived from them
(member snapshots, card lookup, each terminal's acknowledged head) and may be rewritten.
``ledger_state`` is one row: the global sequence, the ledger's own chain head, and the row every
writer locks first so that writes are serialised and sequence numbers commit in order.

``events.body`` is the canonical JSON of the event as the terminal sealed it, without its ``hash``
(kept in its own column): exactly the bytes the hash covers after ``prev_hash``.

Times are integer microseconds since the Unix epoch (UTC) so that both databases compare them the
same way; the terminal's own ``occurred_at`` text is kept verbatim as its claim.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: A big integer that is also SQLite's auto-incrementing rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ledger_state = sa.Table(
    "ledger_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("gseq", sa.BigInteger, nullable=False),
    sa.Column("ledger_seq", sa.BigInteger, nullable=False),
    sa.Column("ledger_hash", sa.String(64), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("gseq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("terminal_id", sa.String(40), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("member_id", sa.String(64), nullable=True),
    sa.Column("occurred_at", sa.String(64), nullable=True),
    sa.Column("occurred_us", sa.BigInteger, nullable=True),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("skew_s", sa.BigInteger, nullable=False),
    sa.Column("program_version", sa.BigInteger, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(16), nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("spend_minor", sa.BigInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    sa.UniqueConstraint("terminal_id", "seq", name="uq_events_terminal_seq"),
    sa.CheckConstraint("status IN ('accepted', 'rejected')", name="ck_events_status"),
    sa.Index("ix_events_member_time", "member_id", "occurred_us"),
    sa.Index("ix_events_type_time", "type", "occurred_us"),
)

#: When an event's tier spend counts, where that is not the event's own moment
#: (``accounting.spend_moment``): a refund's money counts at its sale's, so that a sale and its
#: refunds enter and leave the tier window together. One row per refund whose sale came before
#: it, written with the refund (or, for refunds received before this table, by migration 0003).
spend_moments = sa.Table(
    "spend_moments",
    metadata,
    sa.Column(
        "gseq", sa.BigInteger, sa.ForeignKey("events.gseq"), primary_key=True, autoincrement=False
    ),
    sa.Column("spend_us", sa.BigInteger, nullable=False),
)

transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("gseq", sa.BigInteger, sa.ForeignKey("events.gseq"), primary_key=True),
    sa.Column("leg", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("debit", sa.String(80), nullable=False),
    sa.Column("credit", sa.String(80), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("member_id", sa.String(64), nullable=False),
    sa.Column("occurred_us", sa.BigInteger, nullable=False),
    sa.CheckConstraint("amount > 0", name="ck_transfers_amount_positive"),
    sa.CheckConstraint("debit <> credit", name="ck_transfers_two_accounts"),
    sa.Index("ix_transfers_kind_time", "kind", "occurred_us"),
    sa.Index("ix_transfers_member", "member_id"),
)

rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("terminal_id", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_rejections_time", "received_us"),
    sa.Index("ix_rejections_event", "terminal_id", "event_id"),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("member_id", sa.String(64), primary_key=True),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("next_expiry", sa.String(10), nullable=True),
    sa.Column("enrolled_us", sa.BigInteger, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Index("ix_members_change_seq", "change_seq"),
    sa.Index("ix_members_next_expiry", "next_expiry"),
)

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("card", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Index("ix_cards_member", "member_id"),
)

terminals = sa.Table(
    "terminals",
    metadata,
    sa.Column("terminal_id", sa.String(32), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("revoked_us", sa.BigInteger, nullable=True),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("token_hash", name="uq_terminals_token_hash"),
)

programs = sa.Table(
    "programs",
    metadata,
    sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("rules", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)
