"""The ledger's first schema: append-only events, transfers and rejections; member, card and
terminal caches; program versions; the single ledger_state row.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    state = op.create_table(
        "ledger_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("gseq", sa.BigInteger, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=False),
        sa.Column("ledger_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "gseq": 0, "ledger_seq": 0, "ledger_hash": GENESIS_HASH}])

    op.create_table(
        "events",
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
    )
    op.create_index("ix_events_member_time", "events", ["member_id", "occurred_us"])
    op.create_index("ix_events_type_time", "events", ["type", "occurred_us"])

    op.create_table(
        "transfers",
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
    )
    op.create_index("ix_transfers_kind_time", "transfers", ["kind", "occurred_us"])
    op.create_index("ix_transfers_member", "transfers", ["member_id"])

    op.create_table(
        "rejections",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("terminal_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_rejections_time", "rejections", ["received_us"])

    op.create_table(
        "members",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("next_expiry", sa.String(10), nullable=True),
        sa.Column("enrolled_us", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_index("ix_members_change_seq", "members", ["change_seq"])
    op.create_index("ix_members_next_expiry", "members", ["next_expiry"])

    op.create_table(
        "cards",
        sa.Column("card", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
    )
    op.create_index("ix_cards_member", "cards", ["member_id"])

    op.create_table(
        "terminals",
        sa.Column("terminal_id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_us", sa.BigInteger, nullable=True),
        sa.Column("head_seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_terminals_token_hash"),
    )

    op.create_table(
        "programs",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("programs", "terminals", "cards", "members", "rejections", "transfers", "events"):
        op.drop_table(table)
    op.drop_table("ledger_state")
