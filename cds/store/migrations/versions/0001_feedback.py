"""Feedback records (deduplicated by content hash) and per-rule "cards shown" counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=True),
        sa.Column("card_uuid", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text(), nullable=False),
        sa.Column("override_code", sa.Text(), nullable=True),
        sa.Column("override_system", sa.Text(), nullable=True),
        sa.Column("override_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("content_hash"),
    )
    op.create_index("ix_feedback_rule_id", "feedback", ["rule_id"])
    op.create_table(
        "rule_shown",
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("shown", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_shown")
    op.drop_index("ix_feedback_rule_id", table_name="feedback")
    op.drop_table("feedback")
