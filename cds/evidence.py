"""The small records every layer shares: where a fact came from, the fact, and what could not be read.

They sit below ``cds.fhir`` and ``cds.profile`` so that both can use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

IssueKind = Literal["missing", "conflicting", "unreadable", "truncated", "ignored", "pending", "discordant"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One resource that supports a fact: ``Observation/er-1``, its date, and what it said."""

    reference: str
    date: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Fact(Generic[T]):
    """A profile value with the resources it came from and, where useful, why it was decided so."""

    value: T
    evidence: tuple[Evidence, ...] = ()
    note: str | None = None  # why (menopause reason), or what conflicted


@dataclass(frozen=True, slots=True)
class DataIssue:
    """Something the service could not read or that disagreed; shown to the clinician, never hidden."""

    topic: str  # a profile field name, or "data" for general reading problems
    kind: IssueKind
    message: str
    evidence: tuple[Evidence, ...] = ()
