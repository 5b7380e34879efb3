"""ECOG performance status: the latest score recorded (0 to 5), from Observations coded as an ECOG
assessment (cards/codes/performance-status-tests.yaml) whose value is a number (valueInteger, as mCODE
sends it, or a Quantity), a coded grade (a LOINC answer LA9622-7 ... or a SNOMED CT grade finding,
cards/codes/performance-status-values.yaml) or a text that names one grade ("2", "ECOG 3 - in bed more
than half the day"). Of one day's results the highest (of most concern) is read. None when no score is
recorded, or the latest is undated or more than a year old (``RECENT``, as for the other results of
cds.profile.measurements): unknown is not 0, and an old score is not the patient's state now.
"""

from __future__ import annotations

import re
from typing import Final

from cds.profile.common import Context, Observations
from cds.profile.measurements import Parse, latest_of_concern, measurements, recent
from cds.profile.model import Fact
from cds.profile.values import Value

#: A grade written on its own: a single digit 0-5 that is not part of a number, a range or a percentage
#: ("ECOG 2 - <50% in bed" is 2; "1-2" names two grades and is not read).
_GRADE_RE: Final = re.compile(r"(?<![\d.,/])[0-5](?![\d.,%/])")
_NO_SCORE: Final[Fact[int | None]] = Fact(None, (), "No ECOG performance status recorded.")


def derive_performance_status(observations: Observations, ctx: Context) -> Fact[int | None]:
    readings = measurements(
        observations, "performance-status-tests", "performance_status", "ECOG", _grade_reader(ctx), ctx
    )
    latest = latest_of_concern(readings, highest=True)
    if latest is None:
        return _NO_SCORE
    if not recent(latest.when, ctx):  # performance status changes: an old score is no current one
        when = f"of {latest.when}, more than a year ago" if latest.when else "undated"
        return Fact(
            None,
            (latest.evidence,),
            f"The latest ECOG performance status ({latest.shown}) is {when}: a current assessment would "
            "settle it.",
        )
    before = [r for r in readings if r.key < latest.key and r.value != latest.value]
    if not before:
        return Fact(int(latest.value), (latest.evidence,))
    last = max(before, key=lambda r: r.key)  # a change says how fast the patient declined or recovered
    return Fact(int(latest.value), (latest.evidence,), f"Earlier ECOG {last.shown} on {last.when}.")


def _grade_reader(ctx: Context) -> Parse:
    def grade(value: Value, kind: str | None) -> tuple[float, str] | None:
        found = _grade(value, ctx)
        return None if found is None else (float(found), str(found))

    return grade


def _grade(value: Value, ctx: Context) -> int | None:
    q = value.quantity
    if q is not None:
        return int(q.value) if q.value in (0, 1, 2, 3, 4, 5) else None
    hit = ctx.match("performance-status-values", value.cc, by_text=False)
    if hit is not None and hit.value is not None:
        return int(hit.value)
    grades = {int(g) for g in _GRADE_RE.findall(value.text or "")}
    return grades.pop() if len(grades) == 1 else None
