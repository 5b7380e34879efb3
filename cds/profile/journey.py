"""The treatment journey: regimens and lines, their setting, what is current, what failed, relapse timing.

Reads the medication records (``cds.profile.medications.collect_uses``) and disease-status
Observations. Each fact keeps its evidence and says in its note how it was decided.

1. **Regimens and lines.** Orders only planned or proposed (``intent`` plan/proposal/option, or a start
   after today) are not therapy given; they are reported, not counted. Medicines of a line (not
   bone-modifying agents, not ovarian suppression alone) are taken in order of start:
   * records starting within ``TOGETHER_DAYS`` (28, one cycle) of each other start together;
   * a start whose agents are all in the running regimen continues it (refills, cycles, and a switch
     of formulation or route: trastuzumab IV to subcutaneous, or to pertuzumab/trastuzumab in one
     product, is the same agents); trastuzumab restarted with a new chemotherapy is a new line;
   * an agent started while the regimen runs, within ``JOIN_DAYS`` (90) of its start, joins it. Why 90:
     biomarker results that add an agent (PD-L1 for pembrolizumab, a reflex HER2 ISH) commonly return
     after the first cycles, and a regimen is usually first assessed after about three months, so an
     agent added before then is part of the first plan, not a response to progression;
   * but an agent of a class never given together (a second CDK4/6 inhibitor, aromatase inhibitor...;
     ``cds.profile.regimens.NEVER_COMBINED``) replaces the other: a switch, a new regimen in the same
     line (no progression presumed), with a data issue when both are recorded as taken at once;
   * later than that, an add-on joins while the records show what it joins still given after it began
     (in use now, or a period or administration running past its start; not an order merely left
     open): endocrine therapy added to trastuzumab/pertuzumab maintenance, or a CDK4/6 or PI3K/AKT/mTOR
     inhibitor added to its endocrine therapy (``cds.profile.regimens._adds_on``). The line goes on and
     no progression is presumed; but after a progression recorded since the regimen began (a stop for
     progression, or a disease-status result up to a month after the addition), the addition starts the
     next line with what it joined (capivasertib beside continued fulvestrant);
   * any other new agent starts the next regimen (another endocrine backbone too: letrozole, then
     fulvestrant + palbociclib, is the next line however long the letrozole order stayed open).
2. **Setting** (cds.profile.placement). A record is for metastatic disease when its reason is a
   secondary cancer (code or a reference to a metastasis Condition), its intent is palliative, or its
   agent is used only for metastatic disease (``METASTATIC_ONLY``), or by date: started on or after
   the first dated metastatic evidence, or up to ``BEFORE_METASTASIS_DAYS`` (60) before it and still
   running then (the work-up that leads to a recorded metastasis takes weeks). A curative, adjuvant or
   neoadjuvant intent keeps a record in the early setting. Treatment goes one way: once a line is placed as
   metastatic therapy by its reason, intent, agent or date, whatever starts on or after that day is
   metastatic therapy too (capecitabine after palbociclib + fulvestrant is no adjuvant therapy, however
   soon after surgery). When the patient is metastatic and no metastatic date exists, therapy active
   now is current metastatic therapy; past therapy that began before, or within a year after, breast
   cancer surgery (mastectomy, lumpectomy) and before any metastatic line is (neo)adjuvant; other past
   therapy of unknown setting is counted as received, not as a line (a data issue says so).
3. **Current therapy and progression.** The current regimen is the metastatic regimen with a record in use
   now; the current therapy names what of it is still given (not docetaxel completed months before the
   trastuzumab + pertuzumab maintenance it began with, nor a medicine stopped for side effects while the
   rest goes on, nor one stopped for another reason or none while the rest goes on:
   ``stopped_in_current_line`` says when and why, and a progression on the line is one after it too). A
   regimen progressed when a disease-status Observation (LOINC 97509-4) says worsened while it ran, when a
   record of it was stopped for progression, or (presumed, said so) when a later line began after it
   without another stop reason. A stop for side effects is kept apart; a hold or a dose change is no stop
   (``cds.profile.regimens.mark_pauses``): a record stopped for side effects or held after which the
   medicine is given again in its line, or a last record held ("Cycle held - ANC 0.9, restart next
   week") while the line goes on, which keeps the medicine in the current therapy, its hold quoted. A
   last line stopped (status "stopped") with no reason, no progression result and nothing after it is
   neither, nor is one whose drug given until progression (endocrine therapy, a CDK4/6 or PI3K/AKT/mTOR
   inhibitor, anti-HER2 therapy, a PARP inhibitor or antibody-drug conjugate) is recorded "completed" with
   no reason (a chemotherapy course completed is explained): ``last_line_stopped_unexplained`` says so, a
   warning says what would settle it, and ``last_line_unexplained_therapies`` names the drugs, so an
   option giving one again says so.
4. **Relapse timing.** (Neo)adjuvant therapy with relapse during it or within 12 months of its end
   (endocrine, CDK4/6 and PARP inhibitors) or 6 months (anti-HER2 therapy, checkpoint inhibitors)
   is an early relapse after it; the disease counts as having progressed on it (ESO-ESMO ABC 5;
   DESTINY-Breast03 enrolled relapse within 6 months of adjuvant anti-HER2 therapy as second line).
   ASCO HER2+ 2022 (Recommendation 5.0) follows the second-line recommendations up to 12 months after
   it: ``relapse_within_year_after``, which keeps the first-line options from being put first.
   Endocrine resistance follows ESO-ESMO ABC 5: primary = relapse in the first 2 years of adjuvant
   endocrine therapy, or progression in the first 6 months of the first endocrine line for metastatic
   disease; secondary = relapse on adjuvant endocrine therapy after 2 years or within 12 months of
   completing it, or progression on the first endocrine line later than 6 months; sensitive = relapse
   more than 12 months after completing it (once the first endocrine line for metastatic disease has
   progressed, it decides; while it runs, the "at progression" card weighs the next line on what a
   progression today would say, ``resistance_at_progression``). ``adjuvant_endocrine_resistance`` keeps
   the adjuvant reading alone (DESTINY-Breast06 enrolled a relapse in the first 2 years of adjuvant
   endocrine therapy after one metastatic line, however long that line lasted). Adjuvant therapy whose
   end is not recorded leaves the timing unknown, not negative (``relapse_timing_unknown_after``).
5. **Early therapies.** The (neo)adjuvant medicines of a line are grouped into regimens like metastatic
   lines, an agent started while one runs joining it up to ``EARLY_JOIN_DAYS`` (183) after its start:
   ``early_systemic_therapies`` counts them (labels such as sacituzumab govitecan's count prior therapy
   in any setting), its note giving each regimen's dates and time to relapse.

6. **New sites** (cds.profile.new_sites): the metastatic sites first recorded while the last line ran
   or with its progression (``metastases_new_on_last_line``).

This module places each record (point 2) and puts the facts together; regimens, lines and progression
(points 1 and 3) are cds.profile.regimens, relapse timing (point 4) is cds.profile.relapse.

One module, about 600 lines (over the ~400 of the others, on purpose): the journey's facts (lines,
current therapy, progression, relapse timing, resistance) are read from the same placed regimens in one
pass, and splitting the pass would hand its intermediate lists between modules; medication records are
read in cds.profile.medications, placement in cds.profile.placement, regimens in cds.profile.regimens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from cds.evidence import DataIssue, Evidence, Fact
from cds.fhir import models
from cds.profile.common import Context, MedicationRecord, Observations, evidence, procedure_date
from cds.profile.dates import to_date
from cds.profile.medications import MedUse, collect_uses
from cds.profile.model import EndocrineResistance, YesNoUnknown
from cds.profile.new_sites import new_sites
from cds.profile.placement import BEFORE_METASTASIS_DAYS, breast_surgery, settings
from cds.profile.regimens import (
    EARLY_JOIN_DAYS,
    JOIN_DAYS,
    Regimen,
    group_regimens,
    last_record,
    mark_progressions,
    overlapping_class_agents,
    progression_results,
    regimens_of,
)
from cds.profile.relapse import (
    WITHIN_YEAR,
    adjuvant_resistance,
    early_relapse,
    endocrine_resistance,
    resistance_if_progressing,
    timing_unknown,
)

# Facts without evidence are the same every call (and immutable): made once.
_NONE: Final[Fact[int]] = Fact(0)
_NO: Final[Fact[YesNoUnknown]] = Fact("no")
_UNKNOWN: Final[Fact[YesNoUnknown]] = Fact("unknown")
_NO_SET: Final[Fact[frozenset[str]]] = Fact(frozenset())
#: a systemic therapy procedure counts as recorded by medicines when a course runs within this many days
PROCEDURE_MATCH_DAYS: Final = 31


@dataclass(slots=True)
class JourneyFacts:
    """The journey's facts, for build_profile. Not frozen, like DiseaseFacts and ReceptorFacts: a frozen
    dataclass sets each field through object.__setattr__ (about 1% of the profile for these fields)."""

    prior_therapies: Fact[frozenset[str]]
    metastatic_therapies: Fact[frozenset[str]]
    metastatic_lines: Fact[int]
    metastatic_chemotherapy_lines: Fact[int]
    metastatic_her2_lines: Fact[int]
    metastatic_endocrine_lines: Fact[int]
    medication_history: Fact[YesNoUnknown]
    medicines_unidentified: Fact[YesNoUnknown]
    ovarian_suppression_current: Fact[YesNoUnknown]
    on_therapy: Fact[YesNoUnknown]
    current_therapies: Fact[frozenset[str]]
    current_non_line_therapies: Fact[frozenset[str]]
    progressed_on: Fact[frozenset[str]]
    stopped_for_toxicity: Fact[frozenset[str]]
    completed_metastatic_lines: Fact[int]
    early_relapse_after: Fact[frozenset[str]]
    early_systemic_therapies: Fact[int]
    endocrine_resistance: Fact[EndocrineResistance]
    adjuvant_endocrine_resistance: Fact[EndocrineResistance]
    resistance_at_progression: Fact[EndocrineResistance] | None  # PatientProfile's field of that name
    current: tuple[MedUse, ...]  # every medicine in use now (menopause reads tamoxifen / ovarian suppression)
    recent_chemotherapy: tuple[Evidence, ...]  # in use now or within a year (menopause: labs unreliable)
    # the latest dated progression, the early relapse, or the end of a last line stopped with no reason
    # (a possible progression): ESR1 testing
    last_progression: date | None
    last_line_stopped_unexplained: Fact[YesNoUnknown] = _UNKNOWN
    last_line_ended_without_progression: Fact[YesNoUnknown] = _UNKNOWN
    last_line_unexplained_therapies: Fact[frozenset[str]] = _NO_SET
    stopped_in_current_line: Fact[frozenset[str]] = _NO_SET
    relapse_timing_unknown_after: Fact[frozenset[str]] = _NO_SET
    metastases_new_on_last_line: Fact[frozenset[str]] = _NO_SET
    relapse_within_year_after: Fact[frozenset[str]] = _NO_SET


def derive_journey(
    resources: Sequence[MedicationRecord],
    observations: Observations,
    procedures: Sequence[models.Procedure],
    ctx: Context,
    *,
    metastatic: bool,
    metastatic_since: str | None,
    secondary_refs: frozenset[str],
    sites_seen: Sequence[tuple[str, Evidence]] = (),
) -> JourneyFacts:
    uses, received = collect_uses(resources, ctx, secondary_refs)
    uses.sort(key=lambda u: u.start_key)
    relapse = to_date(metastatic_since)
    surgery = breast_surgery(procedures, ctx)
    unread = _therapy_procedures(procedures, [u for u in uses if u.counts_as_line], ctx)
    early, metastatic_uses, unplaced = settings(uses, metastatic=metastatic, relapse=relapse, surgery=surgery)
    if unplaced:
        ctx.issue(
            "metastatic_lines",
            "missing",
            f"{len(unplaced)} past cancer medicine record(s) could not be placed as early or metastatic "
            "therapy (no dated metastatic diagnosis): counted as received, not as a line.",
            *(u.evidence for u in unplaced[:5]),
        )
    for cls, earlier, later in overlapping_class_agents([u for u in uses if u.counts_as_line]):
        ctx.issue(
            "prior_therapies",
            "conflicting",
            f"{earlier.names} and {later.names} are recorded as taken at the same time, but two agents of "
            f"one class ({ctx.terminology.classes[cls].display}) are never given together: check which one "
            "the patient takes (the later was read as replacing the earlier).",
            earlier.evidence,
            later.evidence,
        )
    results, settled = progression_results(observations, ctx)
    regimens = regimens_of([u for u in metastatic_uses if u.counts_as_line], ctx, [d for d, _ in results])
    mark_progressions(regimens, results)
    current = [r for r in regimens if r.current]
    running = current[-1] if current else None
    # what of it goes on: not a medicine of it stopped for side effects while the rest goes on
    going_on = running.going_on() if running is not None else []
    # and of that, what is still given: not a course completed while the rest goes on (docetaxel before
    # trastuzumab + pertuzumab maintenance): the current therapy names only those
    given_now = running.given_now(going_on) if running is not None else []
    # and of that, what the patient still takes: not a medicine stopped while the rest goes on
    # (palbociclib stopped for patient choice beside letrozole); a progression on the line is one after it
    taken_now = running.taken_now(given_now) if running is not None else []
    halted_now = [u for u in given_now if u not in taken_now]

    progressed_classes: set[str] = set()
    progressed_ev: list[Evidence] = []
    notes: list[str] = []
    toxic: set[str] = set()
    toxic_ev: list[Evidence] = []
    for regimen in regimens:
        if regimen.progression is not None:
            progressed_classes |= regimen.classes_at_progression()
            progressed_ev.append(regimen.progression)
            notes.append(f"{regimen.label()} ({regimen.progression_why})")
        # only the medicine stopped for side effects, not its partners (palbociclib for neutropenia
        # leaves letrozole an option); not a hold or dose change it went on after (``mark_pauses``)
        for use in regimen.uses:
            if use.ended_for == "toxicity":
                toxic |= use.classes
                toxic_ev.append(use.evidence)
    early_after, early_ev, early_note = early_relapse(early, relapse)
    adjuvant = adjuvant_resistance(early, relapse, metastatic_since)
    progressed_classes |= early_after
    progressed_ev += early_ev
    if early_note:
        notes.append(early_note)

    # each line's latest regimen: a switch within a drug class takes the place of the regimen before it
    lines = [r for i, r in enumerate(regimens) if i + 1 == len(regimens) or not regimens[i + 1].switch]
    lines_note = "; ".join(_line_words(regimens))
    # a line is completed when the disease progressed on it, or it ended and another began after it; a
    # last regimen stopped only for side effects leaves the patient at the same decision point
    completed = [
        r
        for i, r in enumerate(lines)
        if r.progression is not None or (not r.current and (not r.toxicity or i < len(lines) - 1))
    ]
    on_now = running is not None and running.progression is None
    all_current = tuple(u for u in uses if u.current)
    ofs_now = [u for u in all_current if "ovarian_suppression" in u.classes]
    unnamed = _unidentified_issues(ctx)
    history, ofs = _history(received, ctx, uses, ofs_now, unread, unnamed)
    on_therapy: Fact[YesNoUnknown]
    if history.value == "unknown":
        on_therapy = Fact("unknown", (), "No medication records were received.")
    elif on_now and running is not None:
        on_therapy = Fact(
            "yes", (running.uses[0].evidence,), f"line {len(regimens)}: {running.label(taken_now)}"
        )
    elif running is not None:
        on_therapy = Fact(
            "no", (running.progression,) if running.progression else (), "progressed on the current line"
        )
    else:
        on_therapy = Fact("no", (), "no therapy for metastatic disease in use now")
    # what the patient is on now: the current line, and medicines that are not a line (bone-modifying
    # agents, ovarian suppression), so no option repeats them
    supportive_now = [u for u in all_current if not u.counts_as_line]
    current_classes = frozenset(c for u in [*taken_now, *supportive_now] for c in u.classes)
    current_evidence = tuple(taken_now[:4]) + tuple(supportive_now[:2])
    unexplained, unexplained_therapies, unexplained_end = _stopped_unexplained(lines, history)
    return JourneyFacts(
        prior_therapies=Fact(frozenset(c for u in uses for c in u.classes), _one_per_drug(uses)),
        metastatic_therapies=Fact(
            frozenset(c for u in metastatic_uses for c in u.classes),
            _one_per_drug(metastatic_uses),
            _setting_note(relapse) if metastatic_uses else None,
        ),
        metastatic_lines=Fact(len(lines), tuple(r.uses[0].evidence for r in lines[:6]), lines_note or None),
        metastatic_chemotherapy_lines=_count(lines, "chemotherapy"),
        metastatic_her2_lines=_count(lines, "her2_directed"),
        metastatic_endocrine_lines=_count(lines, "endocrine_therapy"),
        medication_history=history,
        medicines_unidentified=_unidentified(unnamed),
        ovarian_suppression_current=ofs,
        on_therapy=on_therapy,
        current_therapies=Fact(
            current_classes,
            tuple(u.evidence for u in current_evidence),
            _current_note(running, taken_now, on_now),
        ),
        stopped_in_current_line=_halted(halted_now) if on_now else _NO_SET,
        metastases_new_on_last_line=new_sites(lines, sites_seen, settled, ctx.today),
        current_non_line_therapies=Fact(
            frozenset(c for u in supportive_now for c in u.classes),
            tuple(u.evidence for u in supportive_now[:2]),
            "in use now, not a line: they go on beside the next line" if supportive_now else None,
        ),
        progressed_on=Fact(frozenset(progressed_classes), tuple(progressed_ev[:6]), "; ".join(notes) or None),
        stopped_for_toxicity=Fact(frozenset(toxic), tuple(toxic_ev[:4])),
        completed_metastatic_lines=Fact(len(completed), tuple(r.uses[0].evidence for r in completed[:6])),
        early_relapse_after=Fact(frozenset(early_after), tuple(early_ev), early_note or None),
        relapse_timing_unknown_after=timing_unknown(early, relapse),
        relapse_within_year_after=_within_year(early, relapse),
        early_systemic_therapies=_early_therapies(early, relapse, ctx.today),
        endocrine_resistance=endocrine_resistance(adjuvant, lines),
        adjuvant_endocrine_resistance=adjuvant,
        resistance_at_progression=resistance_if_progressing(lines, running, ctx.today),
        current=all_current,
        recent_chemotherapy=_recent_chemotherapy(uses, ctx.today),
        last_line_stopped_unexplained=unexplained,
        last_line_ended_without_progression=_ended_without_progression(completed, lines, history, on_now),
        last_line_unexplained_therapies=unexplained_therapies,
        last_progression=max(
            [r.progressed for r in regimens if r.progression is not None and r.progressed is not None]
            + ([relapse] if early_after and relapse is not None else [])
            + ([unexplained_end] if unexplained_end is not None else []),
            default=None,
        ),
    )


#: Drug classes given until progression (or side effects), never as a course of fixed length: a record of
#: one "completed" with no reason does not say why it ended (an expired EHR order shows so), unlike a
#: chemotherapy course completed as planned. Each label gives them until disease progression or
#: unacceptable toxicity (endocrine partners, PARP inhibitors, antibody-drug conjugates); anti-HER2
#: maintenance goes on until progression (ASCO HER2+ 2022).
UNTIL_PROGRESSION: Final = frozenset(
    {
        "endocrine_therapy",
        "cdk4_6_inhibitor",
        "pi3k_akt_mtor_inhibitor",
        "her2_directed",
        "parp_inhibitor",
        "antibody_drug_conjugate",
    }
)


def _ended_without_progression(
    completed: list[Regimen], lines: list[Regimen], history: Fact[YesNoUnknown], on_now: bool
) -> Fact[YesNoUnknown]:
    """Whether nothing is in use now and the last line, counted as completed, ended with no progression
    recorded (a chemotherapy course completed, pembrolizumab stopped for colitis beside it: review 27,
    P2-6): the next line is for when the disease needs treatment again, not one to start now."""
    if history.value == "unknown":
        return Fact("unknown", (), history.note)
    last = lines[-1] if lines else None
    counted = any(r is last for r in completed)  # the same regimen, not an equal one (no deep compare)
    if on_now or last is None or last.current or last.progression is not None or not counted:
        return _NO
    end = last.end
    when = end.isoformat() if end is not None else "on a day not recorded"
    return Fact("yes", (last.uses[-1].evidence,), f"line {len(lines)}, {last.label()}, ended {when}")


def _stopped_unexplained(
    lines: list[Regimen], history: Fact[YesNoUnknown]
) -> tuple[Fact[YesNoUnknown], Fact[frozenset[str]], date | None]:
    """Whether the last line for metastatic disease ended with no reason recorded, no progression result,
    and no line after it: a record of it stopped (status "stopped": halted before all of it occurred), or
    one of a drug given until progression (``UNTIL_PROGRESSION``) that ended with no reason (status
    "completed", as an expired order shows). Unknown is not negative: it may have stopped for progression
    (then the next line is weighed after progression on it) or for side effects; the options are weighed
    as if it had not progressed. Also the drug classes of those records (the options giving one again say
    so; the note says how and when they ended, which the options' caution quotes) and the day they ended
    (an ESR1 result since then is from that possible progression). Unknown without medication records."""
    if history.value == "unknown":
        return Fact("unknown", (), history.note), _NO_SET, None
    last = lines[-1] if lines else None
    if last is None or last.current or last.progression is not None or last.ended_for() is not None:
        return _NO, _NO_SET, None
    going_on = last.going_on()
    halted = [u for u in going_on if u.stopped and not u.paused]
    ended = halted or [u for u in going_on if not UNTIL_PROGRESSION.isdisjoint(u.classes)]
    if not ended:
        return _NO, _NO_SET, None  # a course completed, or ended without a status that says it was halted
    end = last.end
    when = end.isoformat() if end is not None else "on a day not recorded"
    # "Patient choice"; not the reason of a pause (a stop for side effects given again after it)
    said = "; ".join(dict.fromkeys(u.reason for u in ended if u.reason and not u.paused))
    reason = f'("{said}": not read as progression or side effects)' if said else "with no reason recorded"
    how = f"stopped {when} {reason}" if halted else f"recorded as completed {when} {reason}"
    why = "" if halted else ": it is given until progression, so 'completed' does not say why it ended"
    shown = tuple(u.evidence for u in ended[:4])
    return (
        Fact(
            "yes",
            shown,
            f"line {len(lines)}, {last.label()} from {last.start.isoformat()}, {how} and no progression "
            f"result; no line after it{why}",
        ),
        Fact(frozenset(c for u in ended for c in u.classes), shown, how),
        end,
    )


def _within_year(early: list[MedUse], relapse: date | None) -> Fact[frozenset[str]]:
    """The anti-HER2 therapy the relapse came during or within 12 months of (``WITHIN_YEAR``)."""
    after, ev, note = early_relapse(early, relapse, WITHIN_YEAR)
    return Fact(frozenset(after), tuple(ev), note or None) if after else _NO_SET


def _current_note(running: Regimen | None, taken: list[MedUse], on_now: bool) -> str | None:
    if running is None:
        return None
    if running.progression is not None:  # a record not closed when the disease progressed on the line
        return f"{running.label(taken)}: still recorded in use, after the progression on this line"
    return "; ".join([running.label(taken), *(_paused_words(running, taken) if on_now else [])])


def _paused_words(running: Regimen, taken: list[MedUse]) -> list[str]:
    """How each medicine taken now was paused in the line, as its records say (``mark_pauses``): held
    now, its last record a hold ('palbociclib held 2026-08-29 ("Cycle held - ANC 0.9, restart next
    week")'), or held for side effects and then given again."""
    said: list[str] = []
    for names in dict.fromkeys(u.names for u in taken):
        records = [u for u in running.uses if u.names == names]
        last = last_record(records)
        if last.paused and last.held:
            said.append(f"{names} held {_when_why(last)}")
            continue
        paused = next((u for u in records if u.paused and u.stop_reason == "toxicity"), None)
        if paused is not None:
            said.append(f"{names} held for side effects {_when_why(paused)}, then given again")
    return said


def _when_why(use: MedUse) -> str:
    """When a record ended (else was written) and its reason quoted: '2026-08-29 ("Cycle held")'."""
    quoted = f' ("{use.reason}")' if use.reason else ""
    return f"{use.end or use.start or 'on a day not recorded'}{quoted}"


def _halted(uses: list[MedUse]) -> Fact[frozenset[str]]:
    """Medicines of the current line stopped while the rest goes on, each with when and why it stopped."""
    if not uses:
        return _NO_SET
    by_medicine: dict[str, list[MedUse]] = {}
    for use in uses:
        by_medicine.setdefault(use.names, []).append(use)
    last = [last_record(records) for records in by_medicine.values()]  # one entry a medicine, not a refill
    said = [
        f"{u.names} stopped {u.end or 'on a day not recorded'} "
        + (f'("{u.reason}")' if u.reason else "with no reason recorded")
        for u in last
    ]
    return Fact(
        frozenset(c for u in uses for c in u.classes), tuple(u.evidence for u in last[:4]), "; ".join(said)
    )


RECENT_CHEMOTHERAPY: Final = timedelta(days=365)


def _recent_chemotherapy(uses: list[MedUse], today: date) -> tuple[Evidence, ...]:
    """Chemotherapy in any setting in use now or within the last year, latest first (NCCN: amenorrhoea
    after chemotherapy is unreliable; FSH and estradiol alone do not make a woman under 60
    postmenopausal then)."""
    recent = [
        u
        for u in uses
        if "chemotherapy" in u.classes
        and (u.current or ((u.end_date or u.start_date) or date.min) >= today - RECENT_CHEMOTHERAPY)
    ]
    return tuple(u.evidence for u in reversed(recent[-2:]))


def _early_therapies(early: list[MedUse], relapse: date | None, today: date) -> Fact[int]:
    """How many systemic therapies were given for early breast cancer: the (neo)adjuvant medicines of a
    line grouped into regimens as metastatic lines are, but an agent started while a regimen runs joins
    it up to ``EARLY_JOIN_DAYS`` after its start (AC then paclitaxel is one therapy; capecitabine for
    residual disease after surgery, or endocrine therapy after radiotherapy, another). Records without
    a start date count as one therapy when no dated one exists (therapy was given; how much is not
    known). The note gives each regimen's dates and its time to the metastatic relapse (the Trodelvy
    label counts prior therapy in any setting; ASCENT counted (neo)adjuvant therapy only with a relapse
    within 12 months)."""
    given = [u for u in early if u.counts_as_line]
    if not given:
        return _NONE
    dated: list[MedUse] = []
    undated: list[MedUse] = []
    for use in given:
        (dated if use.start_date is not None or use.current else undated).append(use)
    regimens = group_regimens(dated, today, EARLY_JOIN_DAYS, add_ons=False)
    said: list[str] = []
    for regimen in regimens:
        end = regimen.end
        words = f"{'switched ' if regimen.switch else ''}{_started(regimen)} {regimen.label()}"
        if regimen.current:
            words += " (in use now)"
        elif end is not None:
            words += f", ended {end.isoformat()}"
            if relapse is not None and end < relapse:
                months = round((relapse - end).days / 30.44)
                words += f", {months} month{'' if months == 1 else 's'} before the metastatic relapse"
            elif relapse is not None and regimen.start <= relapse:
                words += ", the metastatic relapse during it"
        said.append(words)
    if undated:
        counted = "" if regimens else ", counted as one"
        said.append(f"{len(undated)} record(s) without a start date{counted}")
    return Fact(
        sum(not r.switch for r in regimens) or 1,  # a switch within a drug class is the same therapy
        tuple(r.uses[0].evidence for r in regimens[:6]) + tuple(u.evidence for u in undated[:2]),
        "; ".join(said),
    )


def _therapy_procedures(
    procedures: Sequence[models.Procedure], lines: list[MedUse], ctx: Context
) -> tuple[Evidence, ...]:
    """Systemic therapy recorded only as a Procedure (list ``systemic-therapy-procedures``; the German MII
    oncology model records it so) is not read: medicines, dates and outcomes come from medication records.
    One outside every recorded course of a cancer medicine, give or take a month (undated: with no course
    recorded at all), is reported, so the clinician knows the treatment history may be incomplete."""
    found = [
        proc
        for proc in procedures
        if proc.status in ("completed", "in-progress")
        and ctx.match("systemic-therapy-procedures", proc.code) is not None
        and not _recorded_as_medicines(proc, lines, ctx.today)
    ]
    shown = tuple(
        evidence(proc, procedure_date(proc), f"Systemic therapy (procedure): {ctx.describe(proc.code)}")
        for proc in found[:5]
    )
    if found:
        ctx.issue(
            "prior_therapies",
            "missing",
            f"{len(found)} systemic therapy record(s) were sent as procedures, not medication records: their "
            "medicines, dates and outcome were not read, so the treatment history may be incomplete (check "
            "it, or record the medicines).",
            *shown,
        )
    return shown


def _recorded_as_medicines(proc: models.Procedure, lines: list[MedUse], today: date) -> bool:
    """A procedure dated within a recorded course of a cancer medicine (from a month before its start to
    a month after its end, or today for one in use): US EHRs send one chemotherapy-administration
    procedure per infusion beside the orders."""
    when = to_date(procedure_date(proc))
    if when is None:
        return bool(lines)
    margin = timedelta(days=PROCEDURE_MATCH_DAYS)
    for use in lines:
        if use.start_date is None:
            continue
        end = today if use.current else (use.end_date or use.start_date)
        if use.start_date - margin <= when <= end + margin:
            return True
    return False


def _line_words(regimens: list[Regimen]) -> list[str]:
    """Each regimen in words ("line 1: 2024-01-06 palbociclib + letrozole"), a switch under its line."""
    words: list[str] = []
    number = 0
    for regimen in regimens:
        if regimen.switch:
            words.append(f"line {number} switched {_started(regimen)} to {regimen.label()}")
        else:
            number += 1
            words.append(f"line {number}: {_started(regimen)} {regimen.label()}")
    return words


def _started(regimen: Regimen) -> str:
    """When the regimen began: a switch on its own first record's day (its ``start`` is the line's)."""
    first = regimen.uses[0].start_date
    if first is None:
        return "start not recorded,"
    return (first if regimen.switch else regimen.start).isoformat()


def _setting_note(relapse: date | None) -> str:
    since = f"metastatic since {relapse.isoformat()}" if relapse else "no dated metastatic diagnosis"
    return (
        f"{since}; metastatic therapy by reason, palliative intent, agent or date "
        f"(from {BEFORE_METASTASIS_DAYS} days before when still running then); agents added within "
        f"{JOIN_DAYS} days of a running regimen join it, later ones only as an add-on to therapy still "
        "given (endocrine therapy to trastuzumab/pertuzumab, a CDK4/6 or PI3K/AKT/mTOR inhibitor to "
        "endocrine therapy)"
    )


def _unidentified_issues(ctx: Context) -> list[DataIssue]:
    """The records naming their medicine only by a code or a reference this service cannot read
    (cds.fhir.select; an unresolved reference, cds.profile.medications): a cancer therapy may hide there."""
    return [i for i in ctx.issues if i.topic == "prior_therapies" and i.kind == "unreadable"]


def _unidentified(issues: list[DataIssue]) -> Fact[YesNoUnknown]:
    if not issues:
        return Fact("no")
    return Fact("yes", tuple(e for i in issues for e in i.evidence)[:5])  # the issue says the rest


def _history(
    received: int,
    ctx: Context,
    uses: list[MedUse],
    ofs_now: list[MedUse],
    unread: tuple[Evidence, ...],
    unnamed: list[DataIssue],
) -> tuple[Fact[YesNoUnknown], Fact[YesNoUnknown]]:
    others = [i for i in ctx.issues if i.topic == "medication_history" and i.kind == "ignored"]
    if received:
        ofs: Fact[YesNoUnknown] = Fact("yes", tuple(u.evidence for u in ofs_now)) if ofs_now else _NO
        return Fact("yes", _one_per_drug(uses)[:5]), ofs
    if others:
        return Fact(
            "yes", others[0].evidence[:5], "Medication records were received; none is a cancer medicine."
        ), _NO
    if unnamed:
        why = (
            "Medication records were received, but none names its medicine readably: prior treatment "
            "is not known."
        )
        return Fact("unknown", unnamed[0].evidence[:5], why), Fact("unknown", (), why)
    if unread:
        why = (
            f"No medication records were received, but {len(unread)} systemic therapy procedure(s) were: "
            "prior treatment is not known."
        )
        return Fact("unknown", unread, why), Fact("unknown", (), "No medication records were received.")
    return (
        Fact("unknown", (), "No medication records were received (none given, or not sent)."),
        Fact("unknown", (), "No medication records were received."),
    )


def _count(regimens: list[Regimen], cls: str) -> Fact[int]:
    chosen = [r for r in regimens if cls in r.classes]
    if not chosen:
        return _NONE
    return Fact(
        len(chosen),
        tuple(r.uses[0].evidence for r in chosen[:6]),
        "; ".join(f"{r.start.isoformat()}: {r.label()}" for r in chosen),
    )


def _one_per_drug(uses: Sequence[MedUse]) -> tuple[Evidence, ...]:
    seen: set[str] = set()
    out: list[Evidence] = []
    for use in uses:
        if use.names not in seen:
            seen.add(use.names)
            out.append(use.evidence)
    return tuple(out[:12])
