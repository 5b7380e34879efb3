"""The metastatic sites new on the last line for metastatic disease (``metastases_new_on_last_line``): a
site first recorded while the line ran may be a progression the record does not state (RECIST 1.1: a new
lesion is a progression), and one found with the progression may be all of it (a brain metastasis on
HER2-directed therapy). Each site is dated by the earliest record naming it (cds.profile.conditions
``DiseaseFacts.sites_seen``); the line and its progression come from cds.profile.regimens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final

from cds.evidence import Evidence, Fact
from cds.profile.dates import to_date
from cds.profile.regimens import ASSIGN_PROGRESSION_DAYS, Regimen

#: A metastasis first recorded up to this many days after a line began was found by the staging before
#: it, not while the line ran.
BASELINE_DAYS: Final = 30
#: A metastasis first recorded up to this many days before a progression was found with it (the scan
#: that showed it); one recorded earlier was known while the line still worked.
WITH_PROGRESSION_DAYS: Final = 60


def new_sites(
    lines: list[Regimen], seen: Sequence[tuple[str, Evidence]], settled: Sequence[date], today: date
) -> Fact[frozenset[str]]:
    """The metastatic sites first recorded while the last line for metastatic disease ran: more than
    ``BASELINE_DAYS`` after it began and, when the disease progressed on it, with that progression (from
    ``WITH_PROGRESSION_DAYS`` before it to ``ASSIGN_PROGRESSION_DAYS`` after: the new brain metastasis
    that was the progression; review 19). On a line with no progression, a site a later disease-status
    result found no progression after (a later day: one the same day contradicts it) is settled, not new
    (review 20). A site with an undated record may be older, so it is not new."""
    if not lines:
        return Fact(frozenset())
    last = lines[-1]
    first: dict[str, Evidence] = {}
    undated: set[str] = set()
    for site, ev in seen:
        when = to_date(ev.date)
        if when is None:
            undated.add(site)
        elif site not in first or when < (to_date(first[site].date) or date.max):
            first[site] = ev
    since = last.start + timedelta(days=BASELINE_DAYS)
    until = today
    if last.progression is not None and last.progressed is not None:
        since = max(since, last.progressed - timedelta(days=WITH_PROGRESSION_DAYS))
        until = last.progressed + timedelta(days=ASSIGN_PROGRESSION_DAYS)
        settled = ()  # the progression is the answer
    new: dict[str, Evidence] = {}
    for site, ev in first.items():
        when = to_date(ev.date) or date.min
        if site not in undated and since < when <= until and not any(s > when for s in settled):
            new[site] = ev
    if not new:
        return Fact(frozenset())
    said = ", ".join(f"{site} {ev.date}" for site, ev in sorted(new.items()))
    return Fact(
        frozenset(new),
        tuple(new.values())[:4],
        f"first recorded {said}, after {last.label()} began {last.start.isoformat()}",
    )
