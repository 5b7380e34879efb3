"""Table definitions (SQLAlchemy Core) shared by the store and checked against the migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

metadata = MetaData()

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 hex of the record's content; the unique constraint makes inserts idempotent.
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("service_id", Text, nullable=False),
    Column("rule_id", String(200), nullable=True),
    Column("card_uuid", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),  # JSON array of suggestion uuids
    Column("override_code", Text, nullable=True),
    Column("override_system", Text, nullable=True),
    Column("override_display", Text, nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_feedback_rule_id", "rule_id"),
)

rule_shown = Table(
    "rule_shown",
    metadata,
    Column("rule_id", String(200), primary_key=True),
    Column("shown", BigInteger, nullable=False),
)

# JWT ids seen (issuer + jti), kept until the token expires (epoch seconds): the replay check shared
# by every replica on one PostgreSQL database (cds.auth.replay.SharedReplayCache).
jwt_seen = Table(
    "jwt_seen",
    metadata,
    Column("issuer", Text, primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Index("ix_jwt_seen_expires_at", "expires_at"),
)
