"""Medication records read as uses of cancer medicines: which agents, when, current or not, why stopped.

* Sources: MedicationRequest (status active/completed/stopped/on-hold/unknown; intent not
  proposal/plan/option), MedicationStatement (not entered-in-error/not-taken/intended),
  MedicationAdministration (not not-done/entered-in-error). A record that starts after today is a plan,
  not therapy given: reported, not counted. The medicine is identified by an RxNorm code in
  ``medications.yaml`` (ingredient, product, brand and SCDG codes) or an ATC substance code (WHO, BfArM
  and DIMDI system URIs; current and pre-2022 codes), else by a synonym (generic or brand
  name) in the text or any coding's display (local/NDC codings), else through a contained Medication;
  an unresolvable ``medicationReference`` is reported once.
* Start date: MedicationRequest dosage timing boundsPeriod.start, else authoredOn; MedicationStatement
  effective[x], else dateAsserted; MedicationAdministration effective[x].
* Agents: a product's agents are the single-agent medicines its classes contain (pertuzumab/trastuzumab
  in one product is trastuzumab and pertuzumab), so a switch of formulation or route is the same agents.
* Why stopped: ``statusReason`` read with ``treatment-stop-reasons`` (progression, toxicity, completed);
  ``stopped`` says an order or statement was halted before all of it occurred (status "stopped").
* Held: ``held`` says the record is a pause, not an end: status "on-hold", or "stopped" with a reason
  that says the medicine is held, interrupted, to restart or resume, or its dose reduced
  (``treatment-hold-reasons``; "Grade 3 neutropenia - held, resume at 100 mg"), never a stop for
  progression, nor one whose reason says it ends for good ("no plan to restart", "discontinued").
  A stopped record read as held is not in use itself (an on-hold one is, until its end); the journey
  reads it as a pause while its line goes on or once the medicine is given again, and as what its
  reason says when the line ended with it (cds.profile.regimens.mark_pauses).

The journey (``cds.profile.journey``) makes regimens, lines and settings of these uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from cds.evidence import Evidence
from cds.fhir import models
from cds.fhir.codes import Drug
from cds.fhir.vocabulary import find_phrase, words
from cds.profile.common import Context, MedicationRecord, evidence, reference_id, stop_reasons, system_label
from cds.profile.dates import date_key, first_date, first_date_in, period_end, period_start, to_date

ADMINISTRATION_CURRENT_DAYS = 91  # a 3-monthly depot (goserelin 10.8 mg) counts as current this long
_ADMINISTRATION_CURRENT: Final = timedelta(days=ADMINISTRATION_CURRENT_DAYS)

_MR_IGNORED: Final = ("entered-in-error", "cancelled", "draft")
_MR_INTENT_PLANNED: Final = ("proposal", "plan", "option")
_MS_IGNORED: Final = ("entered-in-error", "not-taken", "intended")
_MA_IGNORED: Final = ("entered-in-error", "not-done")
_CURRENT_STATUSES: Final = ("active", "on-hold")


@dataclass(slots=True)
class MedUse:
    """One record of a cancer medicine, as the journey reads it."""

    drugs: tuple[Drug, ...]
    classes: frozenset[str]
    agents: frozenset[str]
    start: str | None
    end: str | None
    current: bool
    metastatic_reason: str | None  # why it counts as metastatic setting (besides its date)
    intent: str | None  # curative (adjuvant, neoadjuvant) or palliative, when the record says
    stop_reason: str | None  # progression, toxicity or completed
    counts_as_line: bool
    evidence: Evidence
    start_key: tuple[int, int, int] = (0, 0, 0)
    start_date: date | None = None
    end_date: date | None = None
    names: str = ""
    # an order or statement with status "stopped": halted before all of it occurred (FHIR R4), unlike
    # "completed"; with no ``stop_reason``, why is not recorded
    stopped: bool = False
    # what the record says of why it stopped (its statusReason texts), whether or not ``stop_reason``
    # reads it ("Patient choice"): the cards quote it
    reason: str = ""
    # the record says the medicine is held or its dose changed, to go on (``_held``)
    held: bool = False
    # MedicationRequest, MedicationStatement or MedicationAdministration
    kind: str = ""
    # read as a pause in its line, not a stop (cds.profile.regimens.mark_pauses): held while its line
    # goes on, or stopped for side effects and given again later in the line; then ``ended_for`` is None
    paused: bool = False

    def __post_init__(self) -> None:
        self.start_at(self.start)
        self.end_date = to_date(self.end)
        self.names = " + ".join(d.name for d in self.drugs)

    @property
    def ended_for(self) -> str | None:
        """Why it stopped, as the journey reads it: ``stop_reason``, none for a pause."""
        return None if self.paused else self.stop_reason

    def start_at(self, start: str | None) -> None:
        """Set the start, and the key and date derived from it."""
        self.start = start
        self.start_key = date_key(start)
        self.start_date = to_date(start)


def _identify(ctx: Context, resource: MedicationRecord) -> tuple[tuple[Drug, ...], str, bool]:
    """(drugs, how it was named, unresolvable reference?)."""
    cc = resource.medicationCodeableConcept
    if cc is not None:
        drugs = ctx.drugs(cc)
        return drugs, medicine_name(ctx, cc), False
    reference = resource.medicationReference
    if reference is None:
        return (), "no medication", False
    target = reference.reference
    if target is not None and target.startswith("#"):
        for med in resource.contained or ():
            if med.id == target[1:]:
                code = med.code
                drugs = ctx.drugs(code)
                if drugs:
                    return drugs, medicine_name(ctx, code), False
    display = reference.display
    if display is not None and display.strip():
        return ctx.terminology.drugs_for_text(display), display, False
    return (), str(target or "medication reference"), True


def medicine_name(ctx: Context, cc: models.CodeableConcept | None) -> str:
    text = ctx.text(cc)
    if text:
        return text
    for system, code, display in ctx.codings(cc):
        if display:
            return display
        if code:
            return f"{system_label(system)} {code}"
    return "(unnamed medicine)"


def _usable(resource: MedicationRecord) -> bool:
    status = resource.status.lower()
    if isinstance(resource, models.MedicationRequest):
        return status not in _MR_IGNORED
    if isinstance(resource, models.MedicationStatement):
        return status not in _MS_IGNORED
    return status not in _MA_IGNORED


def record_dates(resource: MedicationRecord) -> tuple[str | None, str | None]:
    if isinstance(resource, models.MedicationRequest):
        starts: list[str | None] = []
        ends: list[str | None] = []
        for dosage in resource.dosageInstruction or ():
            timing = dosage.timing
            if timing is None:
                continue  # no dates (first_date skips None: nothing to add)
            repeat = timing.repeat
            bounds = repeat.boundsPeriod if repeat is not None else None
            starts.append(period_start(bounds))
            ends.append(period_end(bounds))
            events = timing.event or ()
            starts.append(min(events) if events else None)
        dispense = resource.dispenseRequest
        validity = dispense.validityPeriod if dispense is not None else None
        starts.append(resource.authoredOn)
        starts.append(period_start(validity))
        ends.append(period_end(validity))
        return first_date_in(starts), first_date_in(ends)
    period = resource.effectivePeriod
    start = first_date(resource.effectiveDateTime, period_start(period))
    if isinstance(resource, models.MedicationStatement):
        return start or first_date(resource.dateAsserted), first_date(period_end(period))
    return start, first_date(period_end(period), resource.effectiveDateTime)


def _intent(ctx: Context, resource: MedicationRecord) -> str | None:
    for ext in resource.extension or ():
        url = ext.url.lower()
        if "treatment-intent" in url or "treatmentintent" in url:
            hit = ctx.match("treatment-intent", ext.valueCodeableConcept)
            if hit is not None:
                return hit.value
    return None


def _metastatic_reason(
    ctx: Context, resource: MedicationRecord, secondary_refs: frozenset[str]
) -> str | None:
    if secondary_cancer_reason(ctx, resource) is not None:
        return "reason is a secondary cancer"
    for reference in resource.reasonReference or ():
        rid = reference_id(reference)
        if rid and rid in secondary_refs:
            return f"reason is {rid}"
    if _intent(ctx, resource) == "palliative":
        return "palliative intent"
    return None


def secondary_cancer_reason(ctx: Context, resource: MedicationRecord) -> models.CodeableConcept | None:
    """The record's ``reasonCode`` that is a secondary cancer, not lymph-node disease that may be
    regional; None when it names none."""
    for cc in resource.reasonCode or ():
        if ctx.match("secondary-cancer", cc) is not None and not _regional_nodes(ctx, cc):
            return cc
    return None


def _regional_nodes(ctx: Context, cc: models.CodeableConcept) -> bool:
    """A secondary cancer of lymph nodes that may be regional (axillary, internal mammary, supraclavicular:
    the N category, treated with curative intent), not nodes named distant (cds.profile.conditions)."""
    site = ctx.match("metastasis-sites", cc)
    return site is not None and site.value == "nodes" and ctx.match("distant-lymph-nodes", cc) is None


def _current(resource: MedicationRecord, end: str | None, start: str | None, ctx: Context) -> bool:
    status = resource.status.lower()
    end_d = to_date(end)
    if isinstance(resource, models.MedicationAdministration):
        when = to_date(end) or to_date(start)
        return when is not None and ctx.today - when <= _ADMINISTRATION_CURRENT
    if status not in _CURRENT_STATUSES:
        return False
    return end_d is None or end_d >= ctx.today


def _planned(resource: MedicationRecord, start: str | None, ctx: Context) -> bool:
    """An order only planned or proposed, or one that starts after today: not therapy given."""
    if isinstance(resource, models.MedicationRequest) and resource.intent.lower() in _MR_INTENT_PLANNED:
        return True
    begins = to_date(start)
    return begins is not None and begins > ctx.today


def _stopped(resource: MedicationRecord, end: str | None, ctx: Context) -> bool:
    """An order or statement halted before all of it occurred: status "stopped", or "on-hold" with its
    period over and never taken up again (review 25, Q5: a hold of 2025 read as taken in 2026); an
    administration "stopped" is one infusion interrupted, not a course."""
    if isinstance(resource, models.MedicationAdministration):
        return False
    status = resource.status.lower()
    ended = to_date(end)
    return status == "stopped" or (status == "on-hold" and ended is not None and ended < ctx.today)


def _stop_reason(ctx: Context, resource: MedicationRecord) -> str | None:
    for cc in stop_reasons(resource):
        value = ctx.affirmed("treatment-stop-reasons", cc)
        if value is not None:
            return value
    return None


def _held(ctx: Context, resource: MedicationRecord, stop_reason: str | None) -> bool:
    """Whether an order or statement is a pause, to go on: status "on-hold", or "stopped" with a reason
    that says it is held, interrupted, to restart or resume, or its dose reduced, in a clause that does
    not deny it ("not held" is a stop). Never a stop for progression, nor one whose reason anywhere says
    the medicine ends for good or is not to be given again ("held, no plan to restart", "discontinued"):
    the list's ``exclude_text`` read over the whole reason, not clause by clause."""
    if stop_reason == "progression" or isinstance(resource, models.MedicationAdministration):
        return False
    status = resource.status.lower()
    if status == "on-hold":
        return True
    if status != "stopped":
        return False
    codes = ctx.terminology.codes("treatment-hold-reasons")
    reasons = stop_reasons(resource)
    texts = [words(t) for cc in reasons for t in (cc.text, *(d for _, _, d in ctx.codings(cc))) if t]
    if any(find_phrase(text, ex) >= 0 for text in texts for ex in codes.exclude_text):
        return False
    return any(ctx.affirmed("treatment-hold-reasons", cc) == "held" for cc in reasons)


def _undated_current(uses: list[MedUse], ctx: Context) -> None:
    """Records marked active with no date at all, beside dated records of a line in use now. With no
    start they would be placed as a line begun today, and the dated therapy the patient is on would read
    as progressed on. A medicine that dated records show given before (PACIO's sample patient: the
    chemotherapy and anastrozole of 2018 still "active", undated, beside palbociclib ordered in 2024) is not
    read as current; any other (letrozole on a reconciled medication list beside dated palbociclib) is read
    as part of the therapy in use now, from its start. Both are reported, so the clinician checks them."""
    running = [use for use in uses if use.current and use.start_date is not None and use.counts_as_line]
    if not running:
        return
    latest = max(running, key=lambda use: use.start_key)
    dated_agents = frozenset().union(*(use.agents for use in uses if use.start_date is not None))
    # the medicines of the regimen in use now (started within a quarter of its latest record): an undated
    # copy of one of them is the same record, not one to report
    since = latest.start_date - timedelta(days=91) if latest.start_date is not None else date.max
    in_use = frozenset().union(
        *(u.agents for u in running if u.start_date is not None and u.start_date >= since)
    )
    stale: list[MedUse] = []
    joined: list[MedUse] = []
    for use in uses:
        if use.current and use.start is None and use.end is None:
            if use.agents.isdisjoint(dated_agents):
                use.start_at(latest.start)
                joined.append(use)
            else:
                use.current = False
                if not use.agents <= in_use:
                    stale.append(use)
    if stale:
        ctx.issue(
            "current_therapies",
            "conflicting",
            f"{len(stale)} medication record(s) marked active have no date ({_names(stale)}), while dated "
            "records show the same medicine given before and other therapy in use now: they were not read as "
            "current (check whether they are still taken).",
            *(use.evidence for use in stale[:5]),
        )
    if joined:
        ctx.issue(
            "current_therapies",
            "missing",
            f"{len(joined)} medication record(s) marked active have no date ({_names(joined)}): read as part "
            f"of the therapy in use now, from {latest.start} ({latest.names}); check when they started.",
            *(use.evidence for use in joined[:5]),
        )


def _names(uses: list[MedUse]) -> str:
    return ", ".join(dict.fromkeys(use.names for use in uses))


def collect_uses(
    resources: Sequence[MedicationRecord], ctx: Context, secondary_refs: frozenset[str]
) -> tuple[list[MedUse], int]:
    """The uses of cancer medicines, and how many medication records were received (planned included)."""
    uses: list[MedUse] = []
    received = 0
    unresolved: list[Evidence] = []
    planned: list[Evidence] = []
    terminology = ctx.terminology
    for resource in resources:
        if not _usable(resource):
            continue
        received += 1
        drugs, how, unresolvable = _identify(ctx, resource)
        start, end = record_dates(resource)
        if unresolvable:
            unresolved.append(evidence(resource, start, f"medicine named only by {how}"))
            continue
        if not drugs:
            continue
        if _planned(resource, start, ctx):
            planned.append(evidence(resource, start, f"{how}: planned, not yet given"))
            continue
        classes = frozenset(c for d in drugs for c in d.classes)
        known = terminology.classes
        stop_reason = _stop_reason(ctx, resource)
        held = _held(ctx, resource, stop_reason)
        uses.append(
            MedUse(
                drugs=drugs,
                classes=classes,
                agents=frozenset().union(*(terminology.agents[d.name] for d in drugs)),
                start=start,
                end=end,
                current=_current(resource, end, start, ctx),
                metastatic_reason=_metastatic_reason(ctx, resource, secondary_refs),
                intent=_intent(ctx, resource),
                stop_reason=stop_reason,
                counts_as_line=any(known[c].counts_as_line for c in classes if c in known),
                evidence=evidence(resource, start, f"{how} ({', '.join(d.name for d in drugs)})"),
                stopped=_stopped(resource, end, ctx),
                reason="; ".join(ctx.describe(cc) for cc in stop_reasons(resource)),
                held=held,
                kind=resource.__resource_type__,
            )
        )
    _undated_current(uses, ctx)
    if unresolved:
        ctx.issue(
            "prior_therapies",
            "unreadable",
            f"{len(unresolved)} medication record(s) name their medicine only by a reference that was "
            "not sent; they could not be classified.",
            *unresolved[:5],
        )
    if planned:
        ctx.issue(
            "prior_therapies",
            "ignored",
            f"{len(planned)} cancer medicine order(s) are only planned or start in the future: not counted "
            "as therapy given.",
            *planned[:5],
        )
    return uses, received
