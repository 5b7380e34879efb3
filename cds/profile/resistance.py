"""Endocrine resistance from adjuvant endocrine therapy dates (ESO-ESMO ABC5, as used by INAVO120).

* primary: metastatic relapse during the first 2 years of adjuvant endocrine therapy;
* secondary: relapse on adjuvant endocrine therapy after at least 2 years, or within 12 months of
  completing it;
* sensitive: relapse more than 12 months after completing adjuvant endocrine therapy;
* unknown: no dated metastatic diagnosis, no medication records, no adjuvant endocrine therapy
  recorded (de novo metastatic disease is endocrine-naive, not classified here), or dates that do not
  allow the decision (no start date; a completed course without an end date).

Adjuvant endocrine therapy = endocrine medicines (not ovarian suppression alone) started before the
first dated metastatic evidence and not given for metastatic disease. Several adjuvant medicines
(tamoxifen then an aromatase inhibitor) are one course: from the earliest start to the latest end,
ongoing when any of them is still current or has no end date while active.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Final

from cds.profile.common import Context, evidence
from cds.profile.dates import to_date
from cds.profile.medications import _MED_TYPES, _identify, _usable, dates_of, record_kind
from cds.profile.model import EndocrineResistance, Evidence, Fact

TWO_YEARS = timedelta(days=730)
TWELVE_MONTHS = timedelta(days=365)
_ACTIVE: Final = ("active", "on-hold", "intended")  # a tuple: see cds.profile.common


def derive_endocrine_resistance(
    resources: Sequence[Any], ctx: Context, *, metastatic_since: str | None
) -> Fact[EndocrineResistance]:
    relapse = to_date(metastatic_since)
    if relapse is None:
        return Fact("unknown", (), "no dated metastatic diagnosis")
    starts: list[date] = []
    ends: list[date] = []
    ongoing = False
    undated = False
    ev: list[Evidence] = []
    for resource in resources:
        kind = record_kind(resource)
        if kind not in _MED_TYPES or not _usable(resource, kind):
            continue
        drugs, how, _ = _identify(ctx, resource)
        classes = {c for d in drugs for c in d.classes}
        if "endocrine_therapy" not in classes:
            continue
        start_s, end_s = dates_of(ctx, resource, kind)
        start, end = to_date(start_s), to_date(end_s)
        if start is None:
            undated = True
            continue
        if start >= relapse:
            continue  # given for metastatic disease
        starts.append(start)
        ev.append(evidence(resource, start_s, f"{how}: {start_s} to {end_s or 'no end date'}"))
        status = (getattr(resource, "status", None) or "").lower()
        if end is not None:
            ends.append(end)
        elif status in _ACTIVE:
            ongoing = True
        else:
            undated = True
    if not starts:
        why = (
            "an endocrine medicine without a start date"
            if undated
            else "no adjuvant endocrine therapy recorded"
        )
        return Fact("unknown", (), why)
    began = min(starts)
    last_end = max(ends) if ends else None
    on_therapy = ongoing or (last_end is not None and last_end >= relapse)
    evs = tuple(ev[:4])
    if on_therapy:
        years = (relapse - began).days / 365.25
        if relapse - began < TWO_YEARS:
            return Fact(
                "primary",
                evs,
                f"relapse {metastatic_since} after {years:.1f} years of adjuvant endocrine therapy",
            )
        return Fact(
            "secondary",
            evs,
            f"relapse {metastatic_since} on adjuvant endocrine therapy after {years:.1f} years",
        )
    if last_end is None or undated:
        return Fact("unknown", evs, "adjuvant endocrine therapy without an end date")
    gap = relapse - last_end
    months = gap.days / 30.44
    if gap <= TWELVE_MONTHS:
        return Fact(
            "secondary", evs, f"relapse {months:.0f} months after completing adjuvant endocrine therapy"
        )
    return Fact("sensitive", evs, f"relapse {months:.0f} months after completing adjuvant endocrine therapy")
