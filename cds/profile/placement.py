"""Where each medicine record belongs: (neo)adjuvant therapy for early breast cancer, therapy for
metastatic disease, or unplaced (cds.profile.journey, point 2: by reason, intent, agent and date; once a
line for metastatic disease has begun, what starts after it is metastatic therapy too)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final, Literal

from cds.fhir import models
from cds.profile.common import Context, procedure_date
from cds.profile.dates import to_date
from cds.profile.medications import MedUse
from cds.profile.regimens import TOGETHER_DAYS

BEFORE_METASTASIS_DAYS: Final = 60
ADJUVANT_AFTER_SURGERY: Final = timedelta(days=365)
_ONE_CYCLE: Final = timedelta(days=TOGETHER_DAYS)

#: Agents given only for metastatic disease (their US labels have no early-breast-cancer indication):
#: a record of one is metastatic therapy whatever its date.
METASTATIC_ONLY: Final = frozenset(
    {
        "palbociclib",
        "fulvestrant",
        "everolimus",
        "alpelisib",
        "capivasertib",
        "inavolisib",
        "elacestrant",
        "imlunestrant",
        "tucatinib",
        "t_dxd",
        "sacituzumab_govitecan",
        "datopotamab_deruxtecan",
        "eribulin",
        "talazoparib",
        "margetuximab",
    }
)


def breast_surgery(procedures: Sequence[models.Procedure], ctx: Context) -> date | None:
    """The date of the latest breast cancer surgery, if any was recorded."""
    dates = [
        when
        for proc in procedures
        if proc.status == "completed"
        and ctx.match("breast-surgery", proc.code) is not None
        and (when := to_date(procedure_date(proc))) is not None
    ]
    return max(dates) if dates else None


def settings(
    uses: list[MedUse], *, metastatic: bool, relapse: date | None, surgery: date | None
) -> tuple[list[MedUse], list[MedUse], list[MedUse]]:
    """(early, metastatic, unplaced) uses, by reason, intent, agent and date (module docstring, 2). Once
    a line is placed as metastatic therapy by its reason, intent, agent or date, whatever starts on or
    after that day is metastatic therapy too, never (neo)adjuvant (unless its own intent is curative):
    letrozole recorded the same day as palbociclib is its partner, whichever record comes first."""
    early: list[MedUse] = []
    late: list[MedUse] = []
    unplaced: list[MedUse] = []
    by_evidence = [
        use.start_date
        for use in uses
        if use.counts_as_line
        and use.start_date is not None
        and _setting(use, metastatic=metastatic, relapse=relapse, surgery=surgery, first_line=None)
        == "metastatic"
    ]
    first_line = min(by_evidence, default=None)  # the start of the first line for metastatic disease
    for use in uses:
        setting = _setting(
            use, metastatic=metastatic, relapse=relapse, surgery=surgery, first_line=first_line
        )
        if setting == "early":
            early.append(use)
        elif setting == "unplaced":
            unplaced.append(use)
        else:
            late.append(use)
    return early, late, unplaced


Setting = Literal["early", "metastatic", "active now", "unplaced"]


def _setting(
    use: MedUse, *, metastatic: bool, relapse: date | None, surgery: date | None, first_line: date | None
) -> Setting:
    """Where one use belongs; "active now" is metastatic therapy only because it is in use now and no
    date tells (it does not place the records after it)."""
    start = use.start_date
    if use.intent == "curative":
        return "early"
    if use.metastatic_reason or (metastatic and not use.classes.isdisjoint(METASTATIC_ONLY)):
        return "metastatic"
    if not metastatic:
        return "early"
    if first_line is not None and start is not None and start >= first_line - _ONE_CYCLE:
        # started after a line for metastatic disease had begun, or within the cycle before it, as the
        # records of one regimen start (letrozole two weeks before palbociclib is its partner)
        return "metastatic"
    if use.current and (relapse is None or start is None):
        return "active now"  # no date to compare: therapy active now is for metastatic disease
    if relapse is None and _around_surgery(use, surgery):
        return "early"
    if relapse is None or start is None:
        return "unplaced" if use.counts_as_line else "early"
    if start >= relapse or (
        relapse - start <= timedelta(days=BEFORE_METASTASIS_DAYS)
        and (use.current or use.end_date is None or use.end_date >= relapse)
    ):
        return "metastatic"
    return "early"


def _around_surgery(use: MedUse, surgery: date | None) -> bool:
    """Begun before, or within a year after, breast cancer surgery: (neo)adjuvant therapy."""
    return (
        surgery is not None
        and use.start_date is not None
        and use.start_date <= surgery + ADJUVANT_AFTER_SURGERY
    )
