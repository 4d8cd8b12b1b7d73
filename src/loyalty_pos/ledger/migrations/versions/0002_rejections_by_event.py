"""A terminal's refusals found by event: a push records an event's refusal only the first time
(an event that waits behind one held back is sent again at every sync), and the report counts an
event in the period it was first refused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_rejections_event", "rejections", ["terminal_id", "event_id"])


def downgrade() -> None:
    op.drop_index("ix_rejections_event", table_name="rejections")
