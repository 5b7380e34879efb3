"""ER, PR, hormone-receptor status, HER2 (IHC, ISH, status, HER2-low) and subtype, reconciled.

Readings come from Observations (coded answers, v3 interpretation with any system, percentages in
valueQuantity or components, free-text values such as "Positive (>10%)", "2+", "Score 3+") and from
receptor-status Conditions (SNOMED disorders, ICD-10-CM Z17.x), dated by effective / onset / recorded
date. How they are reconciled:

* Pathology beats the problem list. A receptor-status Condition (Z17.31 "HER2 positive", SNOMED
  427685000, ...) is a summary or a billing code: it counts for a marker only when no Observation result
  for that marker exists (``Fact.note`` then says so); otherwise a Condition that disagrees is named in
  the note and not used. A result received but not read (an Allred 3 or 4, which can be <1 % as well as
  1-10 %; an H-score alone; an unreadable value; "unknown") is a result too: the Condition does not stand
  in for it, the status stays unknown and a DataIssue of kind ``ignored`` names both.
* Final beats preliminary. Results whose status is ``registered`` or ``preliminary`` are never used for a
  status; one that is newer than the latest final (``final``/``amended``/``corrected``, or another
  status that carries a result) result, or the only result, is a DataIssue of kind ``pending`` naming
  the test and its date, and the status note says it is pending.
* Disagreement on one date is "conflicting" (unknown is not negative) with a DataIssue.
* Disagreement across dates (specimens, re-biopsy) is a named discordance: a DataIssue of kind
  ``discordant`` saying which results disagreed, and ``discordant_markers`` lists the marker. A target
  positive in at least one biopsy stays positive (ESO-ESMO ABC 5, Cardoso et al. Ann Oncol
  2020;31:1623: "it is reasonable to consider use of targeted therapy (ET and/or anti-HER2 therapy)
  when receptors are positive in at least one biopsy, regardless of timing"); otherwise the most recent
  result is used. Results that differ only in degree (ER 90 % then ER 5 %) are not a discordance; the
  most recent is used and the earlier one is named in the note.
* ER/PR (ASCO/CAP 2020, Allison et al. JCO 2020): < 1 % negative, 1-10 % low_positive ("ER-low
  positive"), > 10 % positive; a coded positive without a percentage is "positive". An Allred score
  (0-8) or an H-score (0-300) is a score, never a percentage (see ``receptor_values.score_reading``).
* hormone_receptor_status: positive if ER or PR is positive/low_positive (an ER-low-only result is
  named in the note); negative if both are negative; conflicting if either conflicts (and none is
  positive); otherwise an HR-level result (ER+PR test, or when no ER/PR/HR test exists a Z17.41x /
  417181009 Condition) decides; else unknown. Unknown is never read as negative.
* HER2 (ASCO/CAP 2018, affirmed 2023, Wolff et al.; clinical.md 1.4): positive = IHC 3+ or ISH
  amplified; negative = IHC 0/1+, or 2+ with ISH not amplified, or a coded negative without a score
  (IHC then "unknown"); equivocal = 2+ without ISH. Dual-probe ISH with both the HER2/CEP17 ratio and the
  average HER2 copy number is put in groups 1-5 (``her2_values.ish_group``). The most recent test date
  decides; a reflex ISH dated after the IHC is paired with the latest IHC before it. Combined texts such as
  "Negative (IHC 2+, FISH not amplified)" give both readings. her2_low: yes = 1+ or 2+/ISH not
  amplified; no = 0 or HER2-positive; else unknown.
* subtype from HR and HER2, "unknown" unless both are known and neither conflicting/equivocal.

This module is the entry point (``derive_receptors``: readings -> decisions -> pending results ->
subtype). The work is in modules of one job each, lowest first: ``receptor_labels`` (values in a
clinician's words), ``receptor_reading`` (a reading; date order, notes, the discordance issue),
``receptor_values`` and ``her2_values`` (reading one value), ``receptor_collect`` (Observations and
Conditions -> readings), ``receptor_status`` (ER, PR, HR) and ``her2_status`` (HER2, HER2-low).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

from cds.profile.common import Conditions, Context, Observations
from cds.profile.her2_status import her2
from cds.profile.model import (
    Fact,
    Her2Ihc,
    Her2Ish,
    Her2Status,
    HormoneReceptorStatus,
    ReceptorStatus,
    Subtype,
    YesNoUnknown,
)
from cds.profile.receptor_collect import collect, unread_results
from cds.profile.receptor_labels import clinical_label
from cds.profile.receptor_reading import Reading, as_sentence, reading_order, shown_date, with_note
from cds.profile.receptor_status import hormone_status, receptor_status


class ReceptorFacts:
    __slots__ = (
        "discordant_markers",
        "er_status",
        "her2_ihc",
        "her2_ish",
        "her2_low",
        "her2_status",
        "hormone_receptor_status",
        "pr_status",
        "subtype",
    )

    def __init__(
        self,
        er_status: Fact[ReceptorStatus],
        pr_status: Fact[ReceptorStatus],
        hormone_receptor_status: Fact[HormoneReceptorStatus],
        her2_status: Fact[Her2Status],
        her2_ihc: Fact[Her2Ihc],
        her2_ish: Fact[Her2Ish],
        her2_low: Fact[YesNoUnknown],
        subtype: Fact[Subtype],
        discordant_markers: Fact[frozenset[str]] | None = None,
    ) -> None:
        self.er_status = er_status
        self.pr_status = pr_status
        self.hormone_receptor_status = hormone_receptor_status
        self.her2_status = her2_status
        self.her2_ihc = her2_ihc
        self.her2_ish = her2_ish
        self.her2_low = her2_low
        self.subtype = subtype
        self.discordant_markers = discordant_markers if discordant_markers is not None else _NO_DISCORDANCE


_NO_DISCORDANCE: Final[Fact[frozenset[str]]] = Fact(frozenset())


def subtype(hr: Fact[HormoneReceptorStatus], her2_status: Fact[Her2Status]) -> Fact[Subtype]:
    ev = hr.evidence + her2_status.evidence
    h, e = hr.value, her2_status.value
    er_low = hr.note is not None and hr.note.startswith("HR-positive on ER-low")
    if h == "positive" and e == "negative":
        note = (
            "HR-positive on ER-low positive (1-10%) alone: triple-negative options need ER < 1% "
            "(ASCO/CAP 2020); discuss which pathway applies"
            if er_low
            else None
        )
        return Fact("hr_positive_her2_negative", ev, note)
    if h == "positive" and e == "positive":
        return Fact("hr_positive_her2_positive", ev)
    if h == "negative" and e == "positive":
        return Fact("hr_negative_her2_positive", ev)
    if h == "negative" and e == "negative":
        return Fact("triple_negative", ev)
    said = f"{clinical_label('hormone_receptor_status', h)}, {clinical_label('her2_status', e)}"
    return Fact("unknown", (), said)


# --- results not yet final ---------------------------------------------------------------------------


_V = TypeVar("_V")
_MARKER_NAME = {"er": "ER", "pr": "PR", "hr": "ER+PR", "ihc": "HER2 IHC", "ish": "HER2 ISH", "her2": "HER2"}


def _pending(
    readings: Sequence[Reading], markers: tuple[str, ...], topic: str, fact: Fact[_V], ctx: Context
) -> Fact[_V]:
    """Report results of ``markers`` that are not final yet (newer than the facts' results, or the only
    ones) as pending, and say so in the fact's note. A preliminary result never replaces a final one."""
    pend = [r for r in readings if r.pending and r.marker in markers]
    if not pend:
        return fact
    finals = [r for r in readings if not r.pending and not r.from_condition and r.marker in markers]
    newest_final = max((r.key for r in finals), default=None)
    shown: list[Reading] = []
    seen: set[str] = set()
    for r in sorted(pend, key=reading_order, reverse=True):
        if newest_final is not None and r.key < newest_final:
            continue  # an older preliminary report, superseded by a final one
        if r.evidence.reference in seen:
            continue
        seen.add(r.evidence.reference)
        shown.append(r)
    if not shown:
        return fact
    parts = []
    for r in shown:
        what = f": {r.detail}" if r.value else ""
        test = _MARKER_NAME.get(r.marker, r.marker)
        said = f"{test} ({r.evidence.reference}, {shown_date(r)}) is {r.pending}{what}"
        parts.append(said)
        ctx.issue(
            topic,
            "pending",
            f"{said}; not used until the final report"
            + ("; the last final result is used meanwhile." if finals else "."),
            r.evidence,
        )
    note = "Pending: " + "; ".join(parts) + (" (not used until final)." if parts else "")
    if fact.value == "unknown":
        return Fact(
            fact.value, fact.evidence + tuple(r.evidence for r in shown), as_sentence([fact.note or "", note])
        )
    return with_note(fact, note)


def derive_receptors(conditions: Conditions, observations: Observations, ctx: Context) -> ReceptorFacts:
    raised = len(ctx.issues)
    readings = collect(conditions, observations, ctx)
    # results received but not read: a problem-list receptor status must not stand in for them
    unread = unread_results(ctx.issues[raised:])
    er, er_disc = receptor_status(readings, "er", ctx, unread.get("er", ()))
    pr, pr_disc = receptor_status(readings, "pr", ctx, unread.get("pr", ()))
    hr = hormone_status(er, pr, readings, unread="er" in unread or "pr" in unread)
    (status, ihc, ish, low), her2_disc = her2(readings, ctx, unread.get("her2", ()))
    kind = subtype(hr, status)
    er = _pending(readings, ("er",), "er_status", er, ctx)
    pr = _pending(readings, ("pr",), "pr_status", pr, ctx)
    hr = _pending(readings, ("hr",), "hormone_receptor_status", hr, ctx)
    status = _pending(readings, ("ihc", "ish", "her2"), "her2_status", status, ctx)
    found = frozenset(m for m, d in (("er", er_disc), ("pr", pr_disc), ("her2", her2_disc)) if d)
    discordant: Fact[frozenset[str]] = _NO_DISCORDANCE
    if found:
        ev = tuple(
            e for m, f in (("er", er), ("pr", pr), ("her2", status)) if m in found for e in f.evidence[:2]
        )
        names = ", ".join(_MARKER_NAME[m] for m in sorted(found))
        discordant = Fact(
            found, ev, f"{names}: results disagree between biopsies or over time (see data issues)."
        )
    return ReceptorFacts(er, pr, hr, status, ihc, ish, low, kind, discordant)
