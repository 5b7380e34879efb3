"""A chart's data issues in a few escaped lines, however many there are: one line per kind and topic,
those that bear on a treatment decision first, the rest counted. Shown on the warnings card
(cds.pathway.render) and by ``cds-mbc demo``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Final

from cds.pathway.markdown import escape_all, escape_md
from cds.profile.model import DataIssue

ISSUE_LINES: Final = 5  # data-issue lines on the warnings card; the rest are counted in one more line
ISSUE_REFERENCES: Final = 3  # resources named per data-issue line beyond its first message
# Data issues that bear on a treatment decision come first; the others by how many there are.
_ISSUE_RANK: Final = {"discordant": 0, "conflicting": 1, "pending": 2}

_ISSUE_KEY = attrgetter("kind", "topic")
_LEADING_REFERENCE: Final = re.compile(r"^[A-Z][A-Za-z]+/[^\s:]+: ")  # "Observation/obs-1: ..."


@dataclass(frozen=True, slots=True)
class IssueSummary:
    """A chart's data issues, counted by kind and topic, and the few lines that show them."""

    counts: Counter[tuple[str, str]]  # (kind, topic) -> how many
    lines: list[str]
    firsts: dict[tuple[str, str], str]  # (kind, topic) -> its first message, as written (not escaped)

    def count(self, *, covered: Collection[str] = ()) -> int:
        """How many issues change what is safe or knowable, leaving out those on ``covered`` topics."""
        return sum(self.counts[key] for key in self._counted(covered))

    def only(self, *, covered: Collection[str] = ()) -> str | None:
        """The message of the one issue ``count`` counts, when it counts exactly one, without a leading
        resource reference (the detail names it): a card's summary can then say what it is, not "1 data
        problem"."""
        keys = self._counted(covered)
        if len(keys) != 1 or self.counts[keys[0]] != 1:
            return None
        return _LEADING_REFERENCE.sub("", self.firsts[keys[0]], count=1)

    def _counted(self, covered: Collection[str]) -> list[tuple[str, str]]:
        return [
            (kind, topic)
            for kind, topic in self.counts
            if not _informational(kind, topic) and topic not in covered
        ]


def _informational(kind: str, topic: str) -> bool:
    """A note that changes nothing that is safe or knowable (records read and found not to be cancer
    medicines): listed on a warnings card that is shown anyway, never the reason to show one."""
    return kind == "ignored" and topic != "data"


def summarize_issues(issues: Sequence[DataIssue], limit: int = ISSUE_LINES) -> IssueSummary:
    """Data issues as at most ``limit + 1`` escaped lines, whatever their number: one per kind and topic
    (its first message, then how many more like it, naming the first few resources they concern),
    discordant, conflicting and pending results first, then the most frequent; the rest in one line.

    Counted in C (Counter over attrgetter), then read only until every group has its first message and
    the resources it names: a chart with three million empty Bundle entries costs one line and
    milliseconds here.
    """
    counts: Counter[tuple[str, str]] = Counter(map(_ISSUE_KEY, issues))
    if not counts:
        return IssueSummary(counts, [], {})
    with_evidence: Counter[tuple[str, str]] = Counter(map(_ISSUE_KEY, filter(attrgetter("evidence"), issues)))
    firsts: dict[tuple[str, str], DataIssue] = {}
    named: dict[tuple[str, str], list[str]] = {}  # the resources of the group's next few issues
    wanted: dict[tuple[str, str], int] = {}  # how many resources each group still names
    incomplete = len(counts)
    for issue in issues:
        key = _ISSUE_KEY(issue)
        if key not in firsts:
            firsts[key] = issue
            named[key] = []
            wanted[key] = min(ISSUE_REFERENCES, with_evidence[key] - (1 if issue.evidence else 0))
        elif wanted[key] > 0 and issue.evidence:
            named[key].append(issue.evidence[0].reference)
            wanted[key] -= 1
        else:
            continue
        if wanted[key] <= 0:
            incomplete -= 1
            wanted[key] = 0
            if not incomplete:
                break
    keys = sorted(counts, key=lambda k: (_ISSUE_RANK.get(k[0], len(_ISSUE_RANK)), -counts[k]))
    lines = []
    for shown in keys[:limit]:
        more = counts[shown] - 1
        line = f"- {escape_md(firsts[shown].message)}"
        if more:
            refs = escape_all(named[shown]) if named[shown] else []
            listed = f": {', '.join(refs)}{', …' if more > len(refs) else ''}" if refs else ""
            line += f" (and {more:,} more like it{listed})"
        lines.append(line)
    rest = sum(counts[k] for k in keys[limit:])
    if rest:
        lines.append(f"- {rest:,} other data problem{'' if rest == 1 else 's'}")
    return IssueSummary(counts, lines, {key: issue.message for key, issue in firsts.items()})
