"""Feedback store (SQLAlchemy 2.0 + Alembic; SQLite or PostgreSQL) and the shown-cards counter."""

from cds.store.feedback import (
    OUTCOMES,
    UNKNOWN_RULE,
    FeedbackRecord,
    FeedbackStore,
    RuleFeedbackSummary,
    StoreUnavailable,
)
from cds.store.shown import ShownCounter

__all__ = [
    "OUTCOMES",
    "UNKNOWN_RULE",
    "FeedbackRecord",
    "FeedbackStore",
    "RuleFeedbackSummary",
    "ShownCounter",
    "StoreUnavailable",
]
