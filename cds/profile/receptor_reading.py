"""One receptor reading (a marker's value on a date, with its evidence) and what reconciling them shares:
their order by date, the note sentences, and the discordance issue.

The ER/PR decision (cds.profile.receptor_status) and the HER2 decision (cds.profile.her2_status) read
readings through these, so that both order dates and word notes the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from cds.profile.common import Context
from cds.profile.dates import DateKey, date_key
from cds.profile.model import Evidence, Fact

_V = TypeVar("_V")


class Reading:
    __slots__ = ("copies", "detail", "evidence", "key", "marker", "note", "pending", "ratio", "value", "when")

    def __init__(
        self,
        marker: str,
        value: str,
        when: str | None,
        evidence: Evidence,
        detail: str = "",
        *,
        pending: str = "",
        note: str | None = None,
        ratio: float | None = None,
        copies: float | None = None,
    ) -> None:
        self.marker = marker  # er | pr | hr | ihc | ish | her2 (generic status)
        self.value = value
        self.when = when
        self.key = date_key(when)  # once: readings are sorted and grouped by date several times
        self.evidence = evidence
        self.detail = detail  # how it was read; "condition" for a receptor-status Condition
        self.pending = pending  # "" for a result, else the Observation status (registered | preliminary)
        self.note = note  # how a score was read (Allred, H-score), for the status note
        self.ratio = ratio  # ISH: HER2/CEP17 ratio, when given as a number
        self.copies = copies  # ISH: average HER2 copy number per cell, when given as a number

    @property
    def from_condition(self) -> bool:
        return self.detail == "condition"

    def _fields(self) -> tuple[object, ...]:
        return (self.marker, self.value, self.when, self.evidence, self.detail, self.pending, self.note)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reading):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())


def split_latest(readings: Sequence[Reading]) -> tuple[list[Reading], list[Reading]]:
    """(readings on the most recent date, earlier readings newest first)."""
    ordered = sorted(readings, key=reading_order, reverse=True)
    top = ordered[0].key
    return [r for r in ordered if r.key == top], [r for r in ordered if r.key != top]


def reading_order(r: Reading) -> tuple[DateKey, str, str, str, str]:
    """Newest last; on one date by resource and value, so that the order received never matters."""
    return (r.key, r.evidence.reference, r.marker, r.value, r.detail)


def by_date(readings: Sequence[Reading]) -> list[list[Reading]]:
    """The readings grouped by date, newest date first."""
    groups: list[list[Reading]] = []
    for r in sorted(readings, key=reading_order, reverse=True):
        if groups and groups[-1][0].key == r.key:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def shown_date(r: Reading) -> str:
    return r.when or "undated"


def as_sentence(parts: Sequence[str]) -> str | None:
    joined = "; ".join(p for p in parts if p)
    return (joined[:1].upper() + joined[1:] + ("" if joined.endswith(".") else ".")) if joined else None


def with_note(fact: Fact[_V], note: str) -> Fact[_V]:
    joined = f"{fact.note} {note}" if fact.note else note
    return Fact(fact.value, fact.evidence, joined)


def report_discordance(
    ctx: Context, marker: str, name: str, positive: Sequence[Reading], negative: Sequence[Reading], used: str
) -> None:
    def said(group: Sequence[Reading]) -> str:
        r = group[0]
        when = f"on {r.when}" if r.when else "undated"
        return f"{r.detail or r.value} {when}"

    # the summary shows the first ~140 characters: the two results and the reading come first, the
    # resources are the issue's evidence (review 19, P2-3)
    ctx.issue(
        f"{marker}_status" if marker != "her2" else "her2_status",
        "discordant",
        f"{name} results disagree ({said(positive)}, {said(negative)}): taken as {used.replace('_', ' ')}, "
        "as ESO-ESMO ABC advises considering targeted therapy when the receptor is positive in at least one "
        "biopsy. Check which lesion each result came from; a biopsy of a current lesion settles it.",
        positive[0].evidence,
        negative[0].evidence,
    )


def unread_note(conds: Sequence[Reading], unread: Sequence[Evidence], name: str) -> str:
    """Why a problem-list receptor status is not used: the pathology result is on record, unread (a
    sentence without its full stop; the status itself is "not known")."""
    c = max(conds, key=reading_order)
    results = ", ".join(e.reference for e in unread[:2])
    return (
        f"the {name} pathology result on record ({results}) could not be read or gives no status; the "
        f"problem-list or billing entry {c.evidence.text} ({c.evidence.reference}) says {name} {c.value} "
        "but was not used in its place (a summary entry cannot settle a result the report leaves open): "
        "the pathology report settles it"
    )
