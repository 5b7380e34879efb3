"""The records a profile is made of: ``Evidence``, ``Fact`` and ``DataIssue`` (re-exported by
cds.profile.model, where the profile itself lives).

They behave as the frozen dataclasses they were: keyword or positional construction with the same
defaults, equality and hash over their fields, the same ``repr``, and attributes that cannot be
rebound (``Final``: mypy refuses it, and the compiled classes have no setter). They are plain classes
rather than dataclasses because this module is compiled (mypyc): a call builds a hundred or so of
them, and a compiled dataclass keeps the interpreted ``__init__`` the dataclasses module writes,
whereas these are native classes, built and read without a Python call or attribute lookup by name
(from every compiled module: the profile, the selector, the pathway).
"""

from __future__ import annotations

from typing import Final, Generic, Literal, TypeVar

T = TypeVar("T")

IssueKind = Literal["missing", "conflicting", "unreadable", "truncated", "ignored"]


class Evidence:
    """One resource that supports a fact: ``Observation/er-1``, its date, and what it said."""

    __slots__ = ("date", "reference", "text")

    def __init__(self, reference: str, date: str | None, text: str) -> None:
        self.reference: Final = reference
        self.date: Final = date
        self.text: Final = text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evidence) or type(other) is not type(self):
            return NotImplemented
        return (self.reference, self.date, self.text) == (other.reference, other.date, other.text)

    def __hash__(self) -> int:
        return hash((self.reference, self.date, self.text))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(reference={self.reference!r}, date={self.date!r}, text={self.text!r})"
        )


class Fact(Generic[T]):
    __slots__ = ("evidence", "note", "value")

    def __init__(self, value: T, evidence: tuple[Evidence, ...] = (), note: str | None = None) -> None:
        self.value: Final = value
        self.evidence: Final = evidence
        self.note: Final = note  # why (menopause reason), or what conflicted

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fact) or type(other) is not type(self):
            return NotImplemented
        return (self.value, self.evidence, self.note) == (other.value, other.evidence, other.note)

    def __hash__(self) -> int:
        return hash((self.value, self.evidence, self.note))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(value={self.value!r}, evidence={self.evidence!r}, note={self.note!r})"
        )


class DataIssue:
    """Something the service could not read or that disagreed; shown to the clinician, never hidden."""

    __slots__ = ("evidence", "kind", "message", "topic")

    def __init__(
        self, topic: str, kind: IssueKind, message: str, evidence: tuple[Evidence, ...] = ()
    ) -> None:
        self.topic: Final = topic  # a profile field name, or "data" for general reading problems
        self.kind: Final = kind
        self.message: Final = message
        self.evidence: Final = evidence

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataIssue) or type(other) is not type(self):
            return NotImplemented
        return (self.topic, self.kind, self.message, self.evidence) == (
            other.topic,
            other.kind,
            other.message,
            other.evidence,
        )

    def __hash__(self) -> int:
        return hash((self.topic, self.kind, self.message, self.evidence))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(topic={self.topic!r}, kind={self.kind!r}, "
            f"message={self.message!r}, evidence={self.evidence!r})"
        )
