"""A refund's spend counts in the tier window at its sale's moment: ``spend_moments`` holds that
moment for each refund whose sale came before it, and is filled here for the refunds already
received (their sale found by the refund's ``original_receipt_id``, ``{terminal}-{seq:06d}``,
among its terminal's events). Nothing in ``events`` is changed: the table is added beside it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Refunds read per round trip while filling the table.
PAGE = 1000

events = sa.table(
    "events",
    sa.column("gseq", sa.BigInteger),
    sa.column("terminal_id", sa.String),
    sa.column("seq", sa.BigInteger),
    sa.column("type", sa.String),
    sa.column("member_id", sa.String),
    sa.column("occurred_us", sa.BigInteger),
    sa.column("spend_minor", sa.BigInteger),
    sa.column("body", sa.Text),
)


def upgrade() -> None:
    moments = op.create_table(
        "spend_moments",
        sa.Column(
            "gseq",
            sa.BigInteger,
            sa.ForeignKey("events.gseq"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("spend_us", sa.BigInteger, nullable=False),
    )
    bind = op.get_bind()
    after = 0
    while True:
        page = bind.execute(
            sa.select(events.c.gseq, events.c.terminal_id, events.c.occurred_us, events.c.body)
            .where(
                events.c.gseq > after,
                events.c.type == "refund",
                events.c.member_id.is_not(None),
                events.c.spend_minor != 0,
                events.c.occurred_us.is_not(None),
            )
            .order_by(events.c.gseq)
            .limit(PAGE)
        ).all()
        if not page:
            return
        after = int(page[-1].gseq)
        refunds = []
        wanted: dict[str, set[int]] = {}
        for row in page:
            seq = _sale_seq(str(row.terminal_id), str(row.body))
            if seq is not None:
                refunds.append((int(row.gseq), str(row.terminal_id), seq, int(row.occurred_us)))
                wanted.setdefault(str(row.terminal_id), set()).add(seq)
        sold: dict[tuple[str, int], int] = {}
        for terminal_id, seqs in wanted.items():
            for sale in bind.execute(
                sa.select(events.c.seq, events.c.occurred_us).where(
                    events.c.terminal_id == terminal_id,
                    events.c.seq.in_(sorted(seqs)),
                    events.c.type == "checkout",
                    events.c.occurred_us.is_not(None),
                )
            ):
                sold[terminal_id, int(sale.seq)] = int(sale.occurred_us)
        rows = [
            {"gseq": gseq, "spend_us": sold[terminal_id, seq]}
            for gseq, terminal_id, seq, own in refunds
            if sold.get((terminal_id, seq), own) < own
        ]
        if rows:
            op.bulk_insert(moments, rows)


def downgrade() -> None:
    op.drop_table("spend_moments")


def _sale_seq(terminal_id: str, body: str) -> int | None:
    """The seq of the sale a refund's body names, when it is one of the same terminal's
    receipts (as of this revision, ``domain.events.receipt_id``)."""
    try:
        original = json.loads(body).get("original_receipt_id")
    except (ValueError, AttributeError):
        return None
    if not isinstance(original, str):
        return None
    prefix, dash, digits = original.rpartition("-")
    if not dash or prefix != terminal_id:
        return None
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 18):
        return None
    return int(digits)
