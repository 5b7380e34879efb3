"""Relapse timing after (neo)adjuvant therapy: an early relapse during or soon after it (the disease
counts as having progressed on it), and endocrine resistance per ESO-ESMO ABC 5, from the adjuvant
endocrine therapy and the first endocrine line for metastatic disease (cds.profile.journey, point 4)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Final

from cds.evidence import Evidence, Fact
from cds.profile.medications import MedUse
from cds.profile.model import EndocrineResistance
from cds.profile.regimens import Regimen

TWO_YEARS: Final = timedelta(days=730)
#: ABC 5: progression within the first 6 months of first-line endocrine therapy for advanced disease,
#: while on it, is primary endocrine resistance; later progression on it, secondary.
FIRST_LINE_MONTHS: Final = 6

#: (Neo)adjuvant therapy families whose early relapse matters, with the window in days.
RELAPSE_WINDOWS: Final = (
    ("endocrine_therapy", 365),
    ("cdk4_6_inhibitor", 365),
    ("parp_inhibitor", 365),
    ("her2_directed", 183),
    ("immunotherapy", 183),
    # the Enhertu HER2-low indication: "recurrence during or within 6 months of completing adjuvant
    # chemotherapy" counts as the prior chemotherapy (DESTINY-Breast04); the disease progressed on it
    ("chemotherapy", 183),
)


#: ASCO HER2+ 2022, Recommendation 5.0: "If a patient finished trastuzumab-based adjuvant treatment
#: <=12 months before recurrence, clinicians should follow the second-line HER2-targeted therapy-based
#: treatment recommendations" (the 6 months of ``RELAPSE_WINDOWS`` is DESTINY-Breast03's and -09's).
WITHIN_YEAR: Final = (("her2_directed", 365),)


def early_relapse(
    early: list[MedUse], relapse: date | None, windows: Sequence[tuple[str, int]] = RELAPSE_WINDOWS
) -> tuple[set[str], list[Evidence], str]:
    if relapse is None:
        return set(), [], ""
    after: set[str] = set()
    ev: list[Evidence] = []
    said: list[str] = []
    for given, days in _kinds_before(early, relapse, windows):
        note = _relapsed_after(given, relapse, days)
        if note is not None:
            after |= {c for u in given for c in u.classes}
            ev.append(given[-1].evidence)
            said.append(note)
    return after, ev, "; ".join(said)


def _relapsed_after(given: list[MedUse], relapse: date, days: int) -> str | None:
    """How the relapse came during (neo)adjuvant ``given`` (records of one kind) or within ``days`` of its
    end, or None: not so, or its end is not recorded (``timing_unknown``)."""
    ongoing = any(u.current for u in given)
    last_end = None if ongoing else _last_end(given)
    names = " + ".join(dict.fromkeys(d.name for u in given for d in u.drugs))
    if ongoing or (last_end is not None and last_end >= relapse):
        return f"relapse {relapse.isoformat()} during (neo)adjuvant {names}"
    if last_end is None or (relapse - last_end).days > days:
        return None
    months = (relapse - last_end).days / 30.44
    return f"relapse {relapse.isoformat()}, {months:.0f} months after (neo)adjuvant {names} ended"


def timing_unknown(early: list[MedUse], relapse: date | None) -> Fact[frozenset[str]]:
    """The classes of (neo)adjuvant therapy given before the relapse that ended on a day not recorded (none
    of its records in use, one with no end date: anastrozole "completed" with only a start): whether the
    relapse came during or soon after it (``RELAPSE_WINDOWS``) cannot be told, so it is not read as
    either (review 19, P1-3). The options an early relapse on it rules out say so."""
    if relapse is None:
        return Fact(frozenset())
    unknown: list[MedUse] = []
    for given, _ in _kinds_before(early, relapse, RELAPSE_WINDOWS):
        if not any(u.current for u in given) and _last_end(given) is None:
            unknown += [u for u in given if u not in unknown]
    if not unknown:
        return Fact(frozenset())
    return Fact(
        frozenset(c for u in unknown for c in u.classes),
        tuple(u.evidence for u in unknown[:4]),
        f"relapse {relapse.isoformat()}",
    )


def _last_end(given: list[MedUse]) -> date | None:
    """The day the last of ``given`` (records of one kind, none in use) ended; None when that is not
    known: no end recorded, or a record with no end that began on or after every recorded end. One with no
    end that began before the latest recorded end is an earlier order the later one followed (anastrozole
    'completed' in 2021 with no end, then 2022 to 2026-03: it ended 2026-03; review 20)."""
    ends = [u.end_date for u in given if u.end_date is not None]
    if not ends:
        return None
    last = max(ends)
    if any(u.end_date is None and (u.start_date is None or u.start_date >= last) for u in given):
        return None
    return last


def _kinds_before(
    early: list[MedUse], relapse: date, windows: Sequence[tuple[str, int]]
) -> Iterator[tuple[list[MedUse], int]]:
    """The (neo)adjuvant records begun before the relapse, of each family of ``windows`` and by the class
    within it their drugs share, each kind with its family's window: the aromatase inhibitors apart from
    tamoxifen; trastuzumab and pertuzumab, with no class of their own, together. A relapse soon after
    tamoxifen says nothing of an aromatase inhibitor stopped years before, nor does tamoxifen's end date
    give an undated aromatase inhibitor's (review 21). Chemotherapy agents, given one after another (AC,
    then paclitaxel, then capecitabine), are each a kind of their own: a relapse 4 months after
    capecitabine is not one soon after the cyclophosphamide of a year before (review 27)."""
    for family, days in windows:
        kinds: dict[frozenset[str], list[MedUse]] = {}
        for use in early:
            if family in use.classes and use.start_date is not None and use.start_date < relapse:
                named = use.classes if family == "chemotherapy" else use.classes - use.agents
                kinds.setdefault(frozenset(named - {family}), []).append(use)
        for given in kinds.values():
            yield given, days


def endocrine_resistance(
    adjuvant: Fact[EndocrineResistance], lines: list[Regimen]
) -> Fact[EndocrineResistance]:
    """What the first endocrine line for metastatic disease says once it has progressed (the disease's
    latest answer to endocrine therapy: 18 months on it after an early adjuvant relapse is not primary
    resistance any more), else what the adjuvant endocrine therapy says (ABC 5 defines both)."""
    line = _first_endocrine_line(lines)
    if line is not None and line.progression is not None and line.progressed is not None:
        return _first_line_reading(line, line.progressed, (line.progression,), f"({line.progression_why})")
    return adjuvant


def resistance_if_progressing(
    lines: list[Regimen], running: Regimen | None, today: date
) -> Fact[EndocrineResistance] | None:
    """What ``endocrine_resistance`` would become if the disease progressed today on the running line,
    when that line is the first endocrine line for metastatic disease (the "at progression" card weighs
    the next line on it); None when a progression now would not change it."""
    line = _first_endocrine_line(lines)
    if line is None or line is not running or line.progression is not None:
        return None
    return _first_line_reading(line, today, (), "(if the disease progressed today)")


def _first_endocrine_line(lines: list[Regimen]) -> Regimen | None:
    return next((r for r in lines if "endocrine_therapy" in r.classes), None)


def _first_line_reading(
    line: Regimen, progressed: date, progression: tuple[Evidence, ...], why: str
) -> Fact[EndocrineResistance]:
    """Progression on the first endocrine line for metastatic disease: within ``FIRST_LINE_MONTHS`` of
    its start primary resistance, later secondary."""
    months = (progressed - line.start).days / 30.44
    value: EndocrineResistance = "primary" if months < FIRST_LINE_MONTHS else "secondary"
    return Fact(
        value,
        (line.uses[0].evidence, *progression),
        f"progression {months:.1f} months into the first endocrine line for metastatic disease, "
        f"{line.label()} from {line.start.isoformat()} {why}",
    )


def adjuvant_resistance(
    early: list[MedUse], relapse: date | None, metastatic_since: str | None
) -> Fact[EndocrineResistance]:
    """What the adjuvant endocrine therapy says (ABC 5), whatever came after: DESTINY-Breast06 counts a
    relapse in the first 24 months of adjuvant endocrine therapy as a line, however long the first line
    for metastatic disease then lasted."""
    if relapse is None:
        return Fact("unknown", (), "no dated metastatic diagnosis")
    given = [u for u in early if "endocrine_therapy" in u.classes]
    dated = [u for u in given if u.start_date is not None and u.start_date < relapse]
    if not dated:
        why = (
            "an endocrine medicine without a start date"
            if given
            else "no adjuvant endocrine therapy recorded"
        )
        return Fact("unknown", (), why)
    evs = tuple(u.evidence for u in dated[:4])
    began = min(u.start_date for u in dated if u.start_date is not None)
    ongoing = any(u.current for u in dated)
    last_end = None if ongoing else _last_end(dated)
    if not ongoing and last_end is None:
        return Fact("unknown", evs, "adjuvant endocrine therapy without an end date")
    if ongoing or (last_end is not None and last_end >= relapse):
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
    assert last_end is not None  # noqa: S101 (not ongoing: the last end is known)
    months = (relapse - last_end).days / 30.44
    value: EndocrineResistance = "secondary" if (relapse - last_end).days <= 365 else "sensitive"
    return Fact(value, evs, f"relapse {months:.0f} months after completing adjuvant endocrine therapy")
