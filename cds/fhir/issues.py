"""Data issues found reading a call's data, bounded at their source: a few word for word per kind of
problem, the rest counted, so that 3,000,000 empty Bundle entries give one line, not 3,000,000."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cds.evidence import DataIssue, Evidence, IssueKind

# --- bounded data issues --------------------------------------------------------------------------

KEEP_PER_KIND = 5  # issues kept word for word per kind of problem; the rest are counted
EVIDENCE_PER_SUMMARY = 20


@dataclass(slots=True)
class _Group:
    topic: str
    kind: IssueKind
    summary: str  # "{n} ..." for the issues beyond the ones kept (all of them for a tally)
    tally: bool
    one: str | None = None  # a tally of one, with "{ref}" for its evidence's reference
    count: int = 0
    evidence: list[Evidence] = field(default_factory=list)


class Issues:
    """Data issues found reading one part of a call, bounded by kind of problem (``group``): the first
    KEEP_PER_KIND of a kind word for word, then one summary that counts the rest (with a few of their
    references). A tally kind is only counted ("200,000 Bundle entries held no resource", once)."""

    __slots__ = ("_groups", "_kept")

    def __init__(self) -> None:
        self._kept: list[DataIssue] = []
        self._groups: dict[str, _Group] = {}

    def add(self, group: str, issue: DataIssue, *, more: str) -> None:
        """Keep ``issue``, or count it in ``group`` once KEEP_PER_KIND were kept; ``more`` says what the
        counted ones are, with ``{n}`` for their number."""
        g = self._group(group, issue.topic, issue.kind, more, tally=False)
        g.count += 1
        if g.count <= KEEP_PER_KIND:
            self._kept.append(issue)
        elif len(g.evidence) < EVIDENCE_PER_SUMMARY:
            g.evidence.extend(issue.evidence[:1])

    def tally(
        self,
        group: str,
        topic: str,
        kind: IssueKind,
        summary: str,
        evidence: Evidence | None = None,
        *,
        one: str | None = None,
    ) -> None:
        """Count one more problem of ``group``; ``summary`` (with ``{n}``) is the one issue they make,
        ``one`` (with ``{ref}``) the issue when there is only one, with evidence."""
        g = self._group(group, topic, kind, summary, tally=True)
        g.one = one
        g.count += 1
        if evidence is not None and len(g.evidence) < EVIDENCE_PER_SUMMARY:
            g.evidence.append(evidence)

    def _group(self, group: str, topic: str, kind: IssueKind, summary: str, *, tally: bool) -> _Group:
        g = self._groups.get(group)
        if g is None:
            g = self._groups[group] = _Group(topic, kind, summary, tally)
        return g

    def extend(self, issues: Iterable[DataIssue]) -> None:
        for issue in issues:
            self.add(f"{issue.topic}:{issue.kind}", issue, more=f"{{n}} more {issue.kind} data issues")

    def clear(self) -> None:
        self._kept.clear()
        self._groups.clear()

    def list(self) -> list[DataIssue]:
        out = list(self._kept)
        for g in self._groups.values():
            n = g.count if g.tally else g.count - KEEP_PER_KIND
            if g.tally and n == 1 and g.one and g.evidence:
                out.append(
                    DataIssue(g.topic, g.kind, g.one.format(ref=g.evidence[0].reference), tuple(g.evidence))
                )
            elif n > 0:
                out.append(DataIssue(g.topic, g.kind, g.summary.format(n=f"{n:,}"), tuple(g.evidence)))
        return out
