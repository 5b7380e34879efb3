"""Seen JWT ids (issuer + jti), so a token replayed to any replica is refused (PostgreSQL only uses it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jwt_seen",
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti"),
    )
    op.create_index("ix_jwt_seen_expires_at", "jwt_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_jwt_seen_expires_at", table_name="jwt_seen")
    op.drop_table("jwt_seen")
