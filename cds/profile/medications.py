"""Prior cancer medicines, the metastatic setting and lines of therapy.

* Sources: MedicationRequest (status active/completed/stopped/on-hold/unknown; intent not
  proposal/option), MedicationStatement (not entered-in-error/not-taken/intended), MedicationAdministration
  (not not-done/entered-in-error). The medicine is identified by an RxNorm code in ``medications.yaml``
  (ingredient, product, brand and SCDG codes), else by a synonym (generic or brand name) in the text or
  any coding's display (local/NDC codings), else through a contained Medication; an unresolvable
  ``medicationReference`` is reported once.
* Start date: MedicationRequest dosage timing boundsPeriod.start, else authoredOn; MedicationStatement
  effective[x], else dateAsserted; MedicationAdministration effective[x].
* ``prior_therapies``: every class of every medicine (any setting). ``metastatic_therapies``: medicines
  started on/after the first dated metastatic evidence, or whose reason is a secondary cancer (code or a
  reference to a secondary-cancer Condition), or with a palliative treatment intent.
* Lines: metastatic-setting medicines whose classes count as a line (not bone-modifying / ovarian
  suppression) are sorted by start; medicines started within 28 days of each other start together;
  a group of only the current regimen's medicines continues it (refills, cycles); a group with any
  new medicine starts a new regimen, with all the medicines that started beside it.
  ``metastatic_*_lines`` count regimens containing chemotherapy / her2_directed /
  endocrine_therapy.
* ``medication_history``: "yes" when any medication resource was received; otherwise "unknown" — the
  service cannot tell "none given" from "not sent". The cheap filter only lets cancer medicines through
  to the profile, so the selector reports the other medication records it saw as a DataIssue
  (topic ``medication_history``, kind ``ignored``; see ``Terminology.is_medication_record``) and that
  issue counts as medication data received.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from cds.fhir.codes import Drug, system_key
from cds.profile.common import (
    Context,
    evidence,
    reference_id,
)
from cds.profile.dates import date_key, first_date, first_date_in, period_end, period_start, to_date
from cds.profile.model import Evidence, Fact, YesNoUnknown

REGIMEN_WINDOW_DAYS = 28
ADMINISTRATION_CURRENT_DAYS = 91  # a 3-monthly depot (goserelin 10.8 mg) counts as current this long
_REGIMEN_WINDOW: Final = timedelta(days=REGIMEN_WINDOW_DAYS)
_ADMINISTRATION_CURRENT: Final = timedelta(days=ADMINISTRATION_CURRENT_DAYS)

# constant tuples, not sets: ``in`` compares, without hashing each record's status (cds.profile.common)
_MR_IGNORED: Final = ("entered-in-error", "cancelled", "draft")
_MR_INTENT_IGNORED: Final = ("proposal", "option")
_MS_IGNORED: Final = ("entered-in-error", "not-taken", "intended")
_MA_IGNORED: Final = ("entered-in-error", "not-done")
_CURRENT_STATUSES: Final = ("active", "on-hold")
_MED_TYPES = frozenset({"MedicationRequest", "MedicationStatement", "MedicationAdministration"})
# Facts without evidence are the same every call (and immutable): made once.
_NO_LINES: Final[Fact[int]] = Fact(0)
_OFS_NO: Final[Fact[YesNoUnknown]] = Fact("no")


class MedUse:
    __slots__ = (
        "classes",
        "current",
        "drugs",
        "evidence",
        "metastatic_reason",
        "names",
        "start",
        "start_date",
        "start_key",
    )

    def __init__(
        self,
        drugs: tuple[Drug, ...],
        classes: frozenset[str],
        start: str | None,
        current: bool,
        metastatic_reason: str | None,
        evidence: Evidence,
    ) -> None:
        self.drugs = drugs
        self.classes = classes
        self.start = start
        # read once: the uses are filtered, sorted and grouped by their start several times
        self.start_key = date_key(start)
        self.start_date = to_date(start)
        self.current = current
        self.metastatic_reason = metastatic_reason  # why it counts as metastatic setting (besides its date)
        self.evidence = evidence
        self.names = " + ".join(d.name for d in drugs)


class MedicationFacts:
    __slots__ = (
        "current",
        "medication_history",
        "metastatic_chemotherapy_lines",
        "metastatic_endocrine_lines",
        "metastatic_her2_lines",
        "metastatic_lines",
        "metastatic_therapies",
        "ovarian_suppression_current",
        "prior_therapies",
    )

    def __init__(
        self,
        prior_therapies: Fact[frozenset[str]],
        metastatic_therapies: Fact[frozenset[str]],
        metastatic_lines: Fact[int],
        metastatic_chemotherapy_lines: Fact[int],
        metastatic_her2_lines: Fact[int],
        metastatic_endocrine_lines: Fact[int],
        medication_history: Fact[YesNoUnknown],
        ovarian_suppression_current: Fact[YesNoUnknown],
        current: tuple[MedUse, ...],
    ) -> None:
        self.prior_therapies = prior_therapies
        self.metastatic_therapies = metastatic_therapies
        self.metastatic_lines = metastatic_lines
        self.metastatic_chemotherapy_lines = metastatic_chemotherapy_lines
        self.metastatic_her2_lines = metastatic_her2_lines
        self.metastatic_endocrine_lines = metastatic_endocrine_lines
        self.medication_history = medication_history
        self.ovarian_suppression_current = ovarian_suppression_current
        self.current = current  # medicines in use now (menopause needs tamoxifen / OFS)


def record_kind(resource: Any) -> str:
    """The record class's ``__resource_type__``, else its name (remembered per class)."""
    cls = type(resource)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = getattr(cls, "__resource_type__", cls.__name__)
        if len(_KINDS) < 64:
            _KINDS[cls] = kind
    return kind


_KINDS: Final[dict[type, str]] = {}


def _identify(ctx: Context, resource: Any) -> tuple[tuple[Drug, ...], str, bool]:
    """(drugs, how it was named, unresolvable reference?)."""
    cc = getattr(resource, "medicationCodeableConcept", None)
    if cc is not None:
        drugs = ctx.drugs(cc)
        return drugs, _name(ctx, cc), False
    reference = getattr(resource, "medicationReference", None)
    if reference is None:
        return (), "no medication", False
    target = getattr(reference, "reference", None)
    if isinstance(target, str) and target.startswith("#"):
        for med in getattr(resource, "contained", None) or ():
            if getattr(med, "id", None) == target[1:]:
                code = getattr(med, "code", None)
                drugs = ctx.drugs(code)
                if drugs:
                    return drugs, _name(ctx, code), False
    display = getattr(reference, "display", None)
    if isinstance(display, str) and display.strip():
        return ctx.terminology.drugs_for_text(display), display, False
    return (), str(target or "medication reference"), True


def _name(ctx: Context, cc: Any) -> str:
    text = ctx.text(cc)
    if text:
        return text
    for system, code, display in ctx.codings(cc):
        if display:
            return display
        if code:
            return f"{system_key(system) or 'code'} {code}"
    return "(unnamed medicine)"


def _usable(resource: Any, kind: str) -> bool:
    status = (getattr(resource, "status", None) or "").lower()
    if kind == "MedicationRequest":
        intent = (getattr(resource, "intent", None) or "").lower()
        return status not in _MR_IGNORED and intent not in _MR_INTENT_IGNORED
    if kind == "MedicationStatement":
        return status not in _MS_IGNORED
    return status not in _MA_IGNORED


def _dates(resource: Any, kind: str) -> tuple[str | None, str | None]:
    if kind == "MedicationRequest":
        starts: list[Any] = []
        ends: list[Any] = []
        # Absent elements are None: tested before reading their members, since getattr(None, name, None)
        # raises (and catches) an AttributeError inside, several times a call (a dosage without timing).
        for dosage in getattr(resource, "dosageInstruction", None) or ():
            timing = getattr(dosage, "timing", None)
            if timing is None:
                continue  # no dates (first_date skips None: nothing to add)
            repeat = getattr(timing, "repeat", None)
            bounds = getattr(repeat, "boundsPeriod", None) if repeat is not None else None
            starts.append(period_start(bounds))
            ends.append(period_end(bounds))
            events = getattr(timing, "event", None) or ()
            starts.append(min(events, key=lambda e: str(e)) if events else None)
        dispense = getattr(resource, "dispenseRequest", None)
        validity = getattr(dispense, "validityPeriod", None) if dispense is not None else None
        starts.append(getattr(resource, "authoredOn", None))
        starts.append(period_start(validity))
        ends.append(period_end(validity))
        return first_date_in(starts), first_date_in(ends)
    period = getattr(resource, "effectivePeriod", None)
    start = first_date(getattr(resource, "effectiveDateTime", None), period_start(period))
    if kind == "MedicationStatement":
        return start or first_date(getattr(resource, "dateAsserted", None)), first_date(period_end(period))
    return start, first_date(period_end(period), getattr(resource, "effectiveDateTime", None))


def dates_of(ctx: Context, resource: Any, kind: str) -> tuple[str | None, str | None]:
    """``_dates`` of a record, read once per call (lines of therapy and endocrine resistance both ask)."""
    known = ctx.record_dates.get(id(resource))
    if known is None:
        start, end = _dates(resource, kind)
        known = ctx.record_dates[id(resource)] = (resource, start, end)
    return known[1], known[2]


def _intent(ctx: Context, resource: Any) -> str | None:
    for ext in getattr(resource, "extension", None) or ():
        url = (getattr(ext, "url", None) or "").lower()
        if "treatment-intent" in url or "treatmentintent" in url:
            hit = ctx.match("treatment-intent", getattr(ext, "valueCodeableConcept", None))
            if hit is not None:
                return hit.value
    return None


def _metastatic_reason(ctx: Context, resource: Any, secondary_refs: frozenset[str]) -> str | None:
    for cc in getattr(resource, "reasonCode", None) or ():
        if ctx.match("secondary-cancer", cc) is not None:
            return "reason is a secondary cancer"
    for reference in getattr(resource, "reasonReference", None) or ():
        rid = reference_id(reference)
        if rid and rid in secondary_refs:
            return f"reason is {rid}"
    if _intent(ctx, resource) == "palliative":
        return "palliative intent"
    return None


def _current(resource: Any, kind: str, end: str | None, start: str | None, ctx: Context) -> bool:
    status = (getattr(resource, "status", None) or "").lower()
    end_d = to_date(end)
    if kind == "MedicationAdministration":
        when = to_date(end) or to_date(start)
        return when is not None and ctx.today - when <= _ADMINISTRATION_CURRENT
    if status not in _CURRENT_STATUSES:
        return False
    return end_d is None or end_d >= ctx.today


def collect_uses(
    resources: Sequence[Any], ctx: Context, secondary_refs: frozenset[str]
) -> tuple[list[MedUse], int]:
    uses: list[MedUse] = []
    received = 0
    unresolved: list[Evidence] = []
    for resource in resources:
        kind = record_kind(resource)
        if kind not in _MED_TYPES:
            continue
        if not _usable(resource, kind):
            continue
        received += 1
        drugs, how, unresolvable = _identify(ctx, resource)
        start, end = dates_of(ctx, resource, kind)
        if unresolvable:
            unresolved.append(evidence(resource, start, f"medicine named only by {how}"))
            continue
        if not drugs:
            continue
        classes = frozenset(c for d in drugs for c in d.classes)
        uses.append(
            MedUse(
                drugs=drugs,
                classes=classes,
                start=start,
                current=_current(resource, kind, end, start, ctx),
                metastatic_reason=_metastatic_reason(ctx, resource, secondary_refs),
                evidence=evidence(resource, start, f"{how} ({', '.join(d.name for d in drugs)})"),
            )
        )
    if unresolved:
        ctx.issue(
            "prior_therapies",
            "unreadable",
            f"{len(unresolved)} medication record(s) name their medicine only by a reference that was "
            "not sent; they could not be classified.",
            *unresolved[:5],
        )
    return uses, received


def _regimens(uses: Sequence[MedUse], ctx: Context) -> list[list[MedUse]]:
    counted = [
        u
        for u in uses
        if any(ctx.terminology.classes[c].counts_as_line for c in u.classes if c in ctx.terminology.classes)
    ]
    undated = [u for u in counted if u.start_date is None]
    if undated:
        ctx.issue(
            "metastatic_lines",
            "missing",
            f"{len(undated)} metastatic-setting medicine record(s) have no start date and were not "
            "placed in a line.",
            *(u.evidence for u in undated[:5]),
        )
    dated = sorted([u for u in counted if u.start_date is not None], key=lambda u: u.start_key)
    # Medicines starting within the window of each other start together; a group holding only
    # medicines of the current regimen continues it (refills, cycles), any new medicine starts the
    # next regimen, together with everything that started beside it.
    groups: list[list[MedUse]] = []
    group_start = None
    for use in dated:
        start = use.start_date
        assert start is not None  # noqa: S101 (filtered above)
        if groups and group_start is not None and start - group_start <= _REGIMEN_WINDOW:
            groups[-1].append(use)
        else:
            groups.append([use])
            group_start = start
    regimens: list[list[MedUse]] = []
    for group in groups:
        names = {d.name for u in group for d in u.drugs}
        current = {d.name for u in regimens[-1] for d in u.drugs} if regimens else set()
        if regimens and names <= current:
            regimens[-1].extend(group)
        else:
            regimens.append(list(group))
    return regimens


def derive_medications(
    resources: Sequence[Any],
    ctx: Context,
    *,
    metastatic: bool,
    metastatic_since: str | None,
    secondary_refs: frozenset[str],
) -> MedicationFacts:
    uses, received = collect_uses(resources, ctx, secondary_refs)
    # by start, sorted once (stable: same starts in the order received), for the evidence of both
    # therapy facts and for the metastatic uses (_regimens sorts them the same way)
    by_start = sorted(uses, key=lambda u: u.start_key)
    prior = frozenset(c for u in uses for c in u.classes)
    prior_ev = _one_per_drug(by_start)
    since_key = date_key(metastatic_since) if metastatic_since else None
    met_uses: list[MedUse] = []
    for use in by_start:
        by_date = (
            metastatic and since_key is not None and use.start is not None and use.start_key >= since_key
        )
        if by_date or use.metastatic_reason:
            met_uses.append(use)
    met_classes = frozenset(c for u in met_uses for c in u.classes)
    regimens = _regimens(met_uses, ctx)

    basis = (
        f"metastatic since {metastatic_since}" if metastatic_since else "no dated metastatic diagnosis"
    ) + "; drugs started within 28 days form one regimen"
    met_note = basis
    ofs_now = [u for u in uses if u.current and "ovarian_suppression" in u.classes]
    others = [i for i in ctx.issues if i.topic == "medication_history" and i.kind == "ignored"]
    history: Fact[YesNoUnknown]
    ofs: Fact[YesNoUnknown]
    if received:
        history = Fact("yes", prior_ev[:5] if prior_ev else ())
        ofs = Fact("yes", tuple(u.evidence for u in ofs_now)) if ofs_now else _OFS_NO
    elif others:
        history = Fact(
            "yes", others[0].evidence[:5], "Medication records were received; none is a cancer medicine."
        )
        ofs = _OFS_NO
    else:
        history = Fact("unknown", (), "No medication records were received (none given, or not sent).")
        ofs = Fact("unknown", (), "No medication records were received.")
    # each regimen as its start and medicines, for the notes of all four line counts
    shown = [
        f"{(r[0].start or 'undated')}: " + " + ".join(dict.fromkeys(d.name for u in r for d in u.drugs))
        for r in regimens
    ]
    lines = _count(regimens, shown, None)
    return MedicationFacts(
        prior_therapies=Fact(prior, prior_ev),
        metastatic_therapies=Fact(met_classes, _one_per_drug(met_uses), met_note if met_uses else None),
        metastatic_lines=Fact(lines.value, lines.evidence, lines.note),
        metastatic_chemotherapy_lines=_count(regimens, shown, "chemotherapy"),
        metastatic_her2_lines=_count(regimens, shown, "her2_directed"),
        metastatic_endocrine_lines=_count(regimens, shown, "endocrine_therapy"),
        medication_history=history,
        ovarian_suppression_current=ofs,
        current=tuple(u for u in uses if u.current),
    )


def _count(regimens: Sequence[Sequence[MedUse]], shown: Sequence[str], cls: str | None) -> Fact[int]:
    """The regimens (all, or those with a medicine of class ``cls``); ``shown`` are their notes."""
    chosen = [i for i, r in enumerate(regimens) if cls is None or any(cls in u.classes for u in r)]
    if not chosen:
        return _NO_LINES
    return Fact(
        len(chosen), tuple(regimens[i][0].evidence for i in chosen), "; ".join([shown[i] for i in chosen])
    )


def _one_per_drug(by_start: Sequence[MedUse]) -> tuple[Evidence, ...]:
    """The evidence of the first use of each medicine (or combination), of uses sorted by start."""
    seen: set[str] = set()
    out: list[Evidence] = []
    for use in by_start:
        if use.names not in seen:
            seen.add(use.names)
            out.append(use.evidence)
    return tuple(out[:12])
