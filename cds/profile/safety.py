"""Safety findings that rule therapy options out or need a warning (issue 18, item 5).

* ``interstitial_lung_disease`` (yes / unknown): a Condition of interstitial lung disease or pneumonitis,
  active **or historical** (drug-induced and radiation pneumonitis included; code list
  ``interstitial-lung-disease``), or a medicine stopped for one (its statusReason). The T-DXd and CDK4/6
  inhibitor labels warn on a history of ILD / pneumonitis, so a resolved one counts too. Never "no": a
  chart cannot prove its absence.
* ``hyperglycaemia_risk`` (yes / no / unknown): yes = a type 1 diabetes Condition, insulin-treated
  diabetes (a Condition such as Z79.4, or an active insulin MedicationRequest / MedicationStatement), or
  the latest HbA1c of 8.0% or more (63.9 mmol/mol; converted from IFCC mmol/mol: % = 0.0915 x mmol/mol +
  2.15). CAPItello-291 excluded type 1 diabetes, diabetes requiring insulin and HbA1c of 8.0% or more
  (Truqap US label 5.2; EU SmPC 4.4). no = the latest HbA1c is below 8.0%, from the last year, and none
  of the above. Else unknown.
* ``diabetes`` (yes / unknown): a current diabetes Condition of any type (code lists ``diabetes``,
  ``type-1-diabetes``, ``insulin-treated-diabetes``), or a current order or statement of a
  glucose-lowering medicine (``glucose-lowering-medicines``) or insulin: a caution on the PI3K/AKT/mTOR
  options (review 7, finding 2). Never "no": a chart cannot prove its absence. A resolved diabetes or a
  stopped medicine does not count.
* ``diabetes_treated`` (yes / unknown): diabetes on anti-hyperglycaemic treatment, the Itovebi US label's
  words (5.1: safety in type 1 diabetes or type 2 diabetes requiring ongoing anti-hyperglycaemic treatment
  not studied): insulin or a medicine given only for diabetes, or a diabetes record with any
  glucose-lowering medicine. A diabetes record alone (diet-controlled), or an SGLT2 inhibitor or GLP-1
  agonist alone (heart failure, kidney disease, weight), is not (review 8, F3).
* ``cardiac_dysfunction`` (yes / no / unknown): yes = an active heart failure / LV systolic dysfunction
  Condition, or the latest LVEF below 50%; no = the latest LVEF is 50% or more, from the last year, and
  no active heart failure. Else unknown.
* ``long_qt`` (yes / unknown): an active long QT / prolonged QT Condition, or the latest QTc of 450 ms or
  more (ribociclib US label: start only when QTcF is below 450 ms).

Latest = the most recent dated reading; readings of the same day: the one of most concern. A range
("55-60%") is read at its end of most concern. A reading older than a year can say "yes" (with its date)
but never "no". Components of a panel (an echocardiogram or ECG report) are read like Observations.
Reading the numbers (latest, range ends, recency) is cds.profile.measurements.

One module, about 500 lines: each safety finding is a short reader of its own, and keeping them
together keeps the "unknown is not negative" wording of all of them in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cds.fhir import models
from cds.fhir.codes import CodeList
from cds.profile.common import (
    UNCONFIRMED,
    Conditions,
    Context,
    MedicationRecord,
    Observations,
    condition_current,
    condition_date,
    evidence,
    status_code,
    stop_reasons,
)
from cds.profile.dates import date_key, fhir_date, period_end, period_start
from cds.profile.measurements import edge, latest_of_concern, measurements, number_in, recent
from cds.profile.model import Evidence, Fact, YesNoUnknown, YesUnknown
from cds.profile.values import Value

HBA1C_PERCENT: Final = 8.0  # CAPItello-291 exclusion; Truqap EU SmPC 4.4 ("HbA1C >8.0% (63.9 mmol/mol)")
LVEF_PERCENT: Final = 50.0  # HER2-directed therapy labels and trials: LVEF >= 50% at baseline
QTC_MS: Final = 450.0  # Kisqali (ribociclib) US label: initiate only with QTcF < 450 msec

_MR_ACTIVE: Final = ("active", "on-hold")
_MR_NOT_GIVEN: Final = ("plan", "proposal", "option")
_MS_ACTIVE: Final = ("active", "intended")


class SafetyFacts:
    __slots__ = (
        "cardiac_dysfunction",
        "diabetes",
        "diabetes_treated",
        "hyperglycaemia_risk",
        "interstitial_lung_disease",
        "long_qt",
    )

    def __init__(
        self,
        interstitial_lung_disease: Fact[YesUnknown],
        hyperglycaemia_risk: Fact[YesNoUnknown],
        diabetes: Fact[YesUnknown],
        diabetes_treated: Fact[YesUnknown],
        cardiac_dysfunction: Fact[YesNoUnknown],
        long_qt: Fact[YesUnknown],
    ) -> None:
        self.interstitial_lung_disease = interstitial_lung_disease
        self.hyperglycaemia_risk = hyperglycaemia_risk
        self.diabetes = diabetes
        self.diabetes_treated = diabetes_treated
        self.cardiac_dysfunction = cardiac_dysfunction
        self.long_qt = long_qt


# What a finding falls back to when it cannot be derived (the same every call, and immutable).
_UNKNOWN_YES: Final[Fact[YesUnknown]] = Fact("unknown")
_UNKNOWN_YES_NO: Final[Fact[YesNoUnknown]] = Fact("unknown")


def derive_safety(
    conditions: Conditions, observations: Observations, medications: Sequence[MedicationRecord], ctx: Context
) -> SafetyFacts:
    """The safety facts, each derived on its own: one that fails on odd data is reported and left
    unknown without taking the others with it."""
    return SafetyFacts(
        ctx.guarded("interstitial_lung_disease", _UNKNOWN_YES, derive_ild, conditions, medications, ctx),
        ctx.guarded(
            "hyperglycaemia_risk",
            _UNKNOWN_YES_NO,
            derive_hyperglycaemia,
            conditions,
            observations,
            medications,
            ctx,
        ),
        ctx.guarded("diabetes", _UNKNOWN_YES, derive_diabetes, conditions, medications, ctx),
        ctx.guarded("diabetes_treated", _UNKNOWN_YES, derive_diabetes_treated, conditions, medications, ctx),
        ctx.guarded("cardiac_dysfunction", _UNKNOWN_YES_NO, derive_cardiac, conditions, observations, ctx),
        ctx.guarded("long_qt", _UNKNOWN_YES, derive_long_qt, conditions, observations, ctx),
    )


# --- interstitial lung disease ---------------------------------------------------------------------

_ILD_KIND = {
    "ild": "interstitial lung disease",
    "drug_induced": "drug-induced interstitial lung disease / pneumonitis",
    "radiation": "radiation pneumonitis / fibrosis",
    "pneumonitis_unspecified": "pneumonitis, cause not stated (check whether it was non-infectious)",
}


def derive_ild(
    conditions: Conditions, medications: Sequence[MedicationRecord], ctx: Context
) -> Fact[YesUnknown]:
    found: list[Evidence] = []
    kinds: list[str] = []
    for cond in conditions.coded("interstitial-lung-disease"):
        hit = ctx.match("interstitial-lung-disease", cond.code)
        if hit is None:
            continue
        when = condition_date(cond)
        status = _status_words(cond)
        found.append(evidence(cond, when, f"{ctx.label(cond.code)}{status}"))
        kind = _ILD_KIND.get(hit.value or "ild", _ILD_KIND["ild"])
        if kind not in kinds:
            kinds.append(kind)
    for stopped in _stopped_for_ild(medications, ctx):
        found.append(stopped)
        if _ILD_KIND["drug_induced"] not in kinds:
            kinds.append(_ILD_KIND["drug_induced"])
    kinds.sort(key=list(_ILD_KIND.values()).index)
    found = _ordered(found)
    if not found:
        return Fact(
            "unknown",
            (),
            "No interstitial lung disease or pneumonitis is recorded (the record cannot prove its absence).",
        )
    return Fact(
        "yes",
        tuple(found[:5]),
        f"History of {'; '.join(kinds)}: a past episode counts as well as a current one.",
    )


def _stopped_for_ild(medications: Sequence[MedicationRecord], ctx: Context) -> list[Evidence]:
    """Medicines stopped for pneumonitis or interstitial lung disease (their statusReason): a
    drug-induced episode as much as a Condition of it is (T-DXd stopped for pneumonitis, with no
    Condition on the problem list, review 12)."""
    found: list[Evidence] = []
    for record in medications:
        for cc in stop_reasons(record):
            # a doubt counts: "pneumonitis cannot be excluded", "rule out pneumonitis" are suspected lung
            # disease, the finding the labels ask about (review 14); "ILD excluded on CT" does not (15)
            if ctx.affirmed("interstitial-lung-disease", cc, doubt_counts=True) is None:
                continue
            if isinstance(record, models.MedicationStatement):
                period = record.effectivePeriod
                when = period_end(period) or period_start(period) or fhir_date(record.effectiveDateTime)
            elif isinstance(record, models.MedicationRequest):
                when = fhir_date(record.authoredOn)
            else:
                when = None
            medicine = record.medicationCodeableConcept
            name = ctx.label(medicine) if medicine is not None else "a medicine"
            found.append(evidence(record, when, f"{name} stopped: {ctx.label(cc)}"))
            break
    return found


# --- diabetes and HbA1c ----------------------------------------------------------------------------


def derive_hyperglycaemia(
    conditions: Conditions, observations: Observations, medications: Sequence[MedicationRecord], ctx: Context
) -> Fact[YesNoUnknown]:
    reasons: list[str] = []
    found: list[Evidence] = []
    for cond in conditions.coded("type-1-diabetes", "insulin-treated-diabetes"):
        code = cond.code
        type1 = ctx.match("type-1-diabetes", code) is not None
        if not type1 and ctx.match("insulin-treated-diabetes", code) is None:
            continue
        if not condition_current(cond):
            continue  # a resolved record of diabetes says nothing about now
        found.append(evidence(cond, condition_date(cond), f"{ctx.label(code)}{_status_words(cond)}"))
        reason = "type 1 diabetes" if type1 else "insulin-treated diabetes"
        if reason not in reasons:
            reasons.append(reason)
    reasons.sort(key=("type 1 diabetes", "insulin-treated diabetes").index)
    found = _ordered(found)
    insulin = _ordered(_insulin_records(medications, ctx))
    if insulin:
        found.extend(insulin[:3])
        reasons.append("on insulin")
    latest = latest_of_concern(
        measurements(observations, "hba1c-tests", "hyperglycaemia_risk", "HbA1c", _hba1c, ctx), highest=True
    )
    if latest is not None and latest.value >= HBA1C_PERCENT:
        found.append(latest.evidence)
        reasons.append(
            f"latest HbA1c {latest.shown} ({latest.when or 'undated'}), {HBA1C_PERCENT:g}% or more"
        )
    if found:
        note = _sentence(reasons)
        if latest is not None and latest.value < HBA1C_PERCENT:
            note += f" Latest HbA1c {latest.shown} ({latest.when or 'undated'})."
            found.append(latest.evidence)
        return Fact("yes", tuple(found[:6]), note)
    if latest is None:
        return Fact(
            "unknown",
            (),
            "No HbA1c result was found, and no type 1 or insulin-treated diabetes is recorded.",
        )
    if not recent(latest.when, ctx):
        return Fact(
            "unknown",
            (latest.evidence,),
            f"The latest HbA1c ({latest.shown}, {latest.when or 'undated'}) is more than a year old.",
        )
    return Fact(
        "no",
        (latest.evidence,),
        f"Latest HbA1c {latest.shown} ({latest.when}), below {HBA1C_PERCENT:g}%; no type 1 or "
        "insulin-treated diabetes recorded.",
    )


def _insulin_records(medications: Sequence[MedicationRecord], ctx: Context) -> list[Evidence]:
    """Active insulin orders and statements. Administrations are not read: insulin given in hospital
    (a sliding scale, steroid-induced hyperglycaemia) does not make the patient insulin-treated."""
    return [ev for ev, _ in _medicine_records(medications, ctx, "insulin", "Insulin")]


def _glucose_lowering(
    medications: Sequence[MedicationRecord], ctx: Context
) -> list[tuple[Evidence, str | None]]:
    """Active glucose-lowering medicines other than insulin, each with its value in the list
    (``diabetes_only``, or ``other_uses``: SGLT2 inhibitors and GLP-1 agonists)."""
    return _medicine_records(medications, ctx, "glucose-lowering-medicines", "Glucose-lowering medicine")


def _medicine_records(
    medications: Sequence[MedicationRecord], ctx: Context, code_list: str, kind: str
) -> list[tuple[Evidence, str | None]]:
    """Active orders and statements of a medicine of ``code_list``, each as "<kind> (<status>): <name>",
    with the medicine's value in the list."""
    found: list[tuple[Evidence, str | None]] = []
    codes = ctx.codes(code_list)
    for record in medications:
        status = record.status.lower()
        if isinstance(record, models.MedicationRequest):
            intent = record.intent.lower()
            if status not in _MR_ACTIVE or intent in _MR_NOT_GIVEN:
                continue
            when = fhir_date(record.authoredOn)
        elif isinstance(record, models.MedicationStatement):
            if status not in _MS_ACTIVE:
                continue
            when = fhir_date(record.effectiveDateTime) or fhir_date(period_start(record.effectivePeriod))
        else:
            continue
        named = _medicine_name(record, code_list, codes, ctx)
        if named is not None:
            found.append((evidence(record, when, f"{kind} ({status}): {named[0]}"), named[1]))
    return found


def _medicine_name(
    record: MedicationRecord, code_list: str, codes: CodeList, ctx: Context
) -> tuple[str, str | None] | None:
    """The medicine's name and its value in ``code_list``, when the record names one of the list's."""
    cc = record.medicationCodeableConcept
    if cc is not None:
        hit = ctx.match(code_list, cc)
        return (ctx.label(cc), hit.value) if hit is not None else None
    reference = record.medicationReference
    if reference is None:
        return None
    target = reference.reference
    if target is not None and target.startswith("#"):
        for med in record.contained or ():
            code = med.code
            if med.id == target[1:] and (hit := ctx.match(code_list, code)) is not None:
                return ctx.label(code), hit.value
    display = reference.display
    if display is not None and (text_hit := codes.match_text(display)) is not None:
        return display, text_hit.value
    return None


# --- diabetes needing treatment ---------------------------------------------------------------------

_DIABETES_LISTS: Final = ("diabetes", "type-1-diabetes", "insulin-treated-diabetes")


def derive_diabetes(
    conditions: Conditions, medications: Sequence[MedicationRecord], ctx: Context
) -> Fact[YesUnknown]:
    """A current diabetes Condition of any type, or a current glucose-lowering medicine or insulin."""
    recorded = _current_diabetes(conditions, ctx)
    treated = _ordered(
        [ev for ev, _ in _glucose_lowering(medications, ctx)] + _insulin_records(medications, ctx)
    )
    if not recorded and not treated:
        return Fact(
            "unknown",
            (),
            "No diabetes and no glucose-lowering medicine is recorded (the record cannot prove their "
            "absence).",
        )
    parts: list[str] = []
    if recorded:
        parts.append("diabetes is recorded")
    if treated:
        names = ", ".join(dict.fromkeys(e.text.split(": ", 1)[-1] for e in treated[:3]))
        parts.append(f"on a glucose-lowering medicine ({names})")
    return Fact("yes", tuple(recorded[:3] + treated[:3]), _sentence(parts))


def _current_diabetes(conditions: Conditions, ctx: Context) -> list[Evidence]:
    """Current diabetes Conditions of any type, in a fixed order; a resolved record (gestational,
    steroid-induced) says nothing about now."""
    return _ordered(
        [
            evidence(cond, condition_date(cond), f"{ctx.label(cond.code)}{_status_words(cond)}")
            for cond in conditions.coded_in(_DIABETES_LISTS)
            if any(ctx.match(name, cond.code) is not None for name in _DIABETES_LISTS)
            and condition_current(cond)
        ]
    )


def derive_diabetes_treated(
    conditions: Conditions, medications: Sequence[MedicationRecord], ctx: Context
) -> Fact[YesUnknown]:
    """Diabetes needing anti-hyperglycaemic treatment (the Itovebi US label's words): insulin or a medicine
    given only for diabetes (metformin, a sulfonylurea, a DPP-4 inhibitor ...), or a current diabetes
    record with any glucose-lowering medicine. A diabetes record alone (diet-controlled) or an SGLT2
    inhibitor or GLP-1 agonist alone (also given for heart failure, kidney disease or weight) is not."""
    lowering = _glucose_lowering(medications, ctx)
    specific = _ordered(
        [ev for ev, value in lowering if value == "diabetes_only"] + _insulin_records(medications, ctx)
    )
    if specific:
        names = ", ".join(dict.fromkeys(e.text.split(": ", 1)[-1] for e in specific[:3]))
        return Fact("yes", tuple(specific[:3]), f"On a medicine given for diabetes ({names}).")
    recorded = _current_diabetes(conditions, ctx) if lowering else []
    if recorded:
        return Fact(
            "yes",
            tuple(recorded[:2] + _ordered([ev for ev, _ in lowering])[:2]),
            "Diabetes is recorded and a glucose-lowering medicine is in use.",
        )
    return Fact(
        "unknown",
        (),
        "No insulin or medicine given only for diabetes, and no diabetes record with a glucose-lowering "
        "medicine, is recorded.",
    )


def _hba1c(value: Value, kind: str | None) -> tuple[float, str] | None:
    """HbA1c in % (NGSP/DCCT) and how it reads; IFCC mmol/mol converted (% = 0.0915 x mmol/mol + 2.15)."""
    got = number_in(value, high=True)
    if got is None:
        return None
    number, unit, cmp = got
    ifcc = "mmol" in unit or (kind == "ifcc" and "%" not in unit) or (not unit and number >= 20)
    if ifcc:
        percent = round(0.0915 * number + 2.15, 1)
        shown = f"{cmp}{number:g} mmol/mol (= {percent:g}%)"
    elif unit in ("", "%") or unit.startswith("%"):
        percent, shown = number, f"{cmp}{number:g}%"
    else:
        return None
    return (edge(percent, cmp), shown) if 3.0 <= percent <= 25.0 else None


# --- heart ----------------------------------------------------------------------------------------


def derive_cardiac(conditions: Conditions, observations: Observations, ctx: Context) -> Fact[YesNoUnknown]:
    active: list[Evidence] = []
    past: list[Evidence] = []
    for cond in conditions.coded("heart-failure"):
        code = cond.code
        if ctx.match("heart-failure", code) is None:
            continue
        ev = evidence(cond, condition_date(cond), f"{ctx.label(code)}{_status_words(cond)}")
        (active if condition_current(cond) else past).append(ev)
    active, past = _ordered(active), _ordered(past)
    latest = latest_of_concern(
        measurements(observations, "lvef-tests", "cardiac_dysfunction", "LVEF", _lvef, ctx), highest=False
    )
    low = latest is not None and latest.value < LVEF_PERCENT
    if active or low:
        found = list(active)
        parts = ["heart failure or LV systolic dysfunction is recorded as active"] if active else []
        if latest is not None:
            found.append(latest.evidence)
            below = "below" if low else "not below"
            parts.append(
                f"latest LVEF {latest.shown} ({latest.when or 'undated'}), {below} {LVEF_PERCENT:g}%"
            )
            if low and not active and not recent(latest.when, ctx):
                parts.append("that reading is more than a year old: a current LVEF would settle it")
        return Fact("yes", tuple(found[:6]), _sentence(parts))
    if latest is None:
        note = "No LVEF result was found, and no active heart failure is recorded."
        if past:
            note = "Heart failure is recorded only as resolved / inactive, and no LVEF result was found."
        return Fact("unknown", tuple(past[:3]), note)
    if not recent(latest.when, ctx):
        return Fact(
            "unknown",
            (latest.evidence, *past[:2]),
            f"The latest LVEF ({latest.shown}, {latest.when or 'undated'}) is more than a year old.",
        )
    note = f"Latest LVEF {latest.shown} ({latest.when}), {LVEF_PERCENT:g}% or more; no active heart failure."
    if past:
        note += " Heart failure is recorded in the past (resolved / inactive)."
    return Fact("no", (latest.evidence, *past[:2]), note)


def _lvef(value: Value, kind: str | None) -> tuple[float, str] | None:
    got = number_in(value, high=False)
    if got is None:
        return None
    number, unit, cmp = got
    if unit in ("", "1", "{ratio}", "ratio") and number <= 1.0:
        number = round(number * 100, 1)  # sent as a fraction (0.45)
    elif unit not in ("", "%"):
        return None
    return (edge(number, cmp), f"{cmp}{number:g}%") if 5.0 <= number <= 95.0 else None


# --- QT --------------------------------------------------------------------------------------------


def derive_long_qt(conditions: Conditions, observations: Observations, ctx: Context) -> Fact[YesUnknown]:
    active: list[Evidence] = []
    for cond in conditions.coded("long-qt"):
        code = cond.code
        hit = ctx.match("long-qt", code)
        if hit is None or not condition_current(cond):
            continue
        if hit.value == "needs_qt_text" and "qt" not in _all_text(ctx, code):
            continue  # R94.31 "Abnormal ECG": long QT only when the record says so
        active.append(evidence(cond, condition_date(cond), f"{ctx.label(code)}{_status_words(cond)}"))
    active = _ordered(active)
    latest = latest_of_concern(
        measurements(observations, "qtc-tests", "long_qt", "QTc", _qtc, ctx), highest=True
    )
    long = latest is not None and latest.value >= QTC_MS
    if active or long:
        found = list(active)
        parts = ["long QT / prolonged QT is recorded"] if active else []
        if latest is not None:
            found.append(latest.evidence)
            parts.append(
                f"latest QTc {latest.shown} ({latest.when or 'undated'})"
                + (f", {QTC_MS:g} ms or more" if long else "")
            )
        return Fact("yes", tuple(found[:6]), _sentence(parts))
    if latest is not None:
        return Fact(
            "unknown",
            (latest.evidence,),
            f"Latest QTc {latest.shown} ({latest.when or 'undated'}), below {QTC_MS:g} ms; no long QT "
            "recorded (repeat the ECG before a QT-prolonging drug).",
        )
    return Fact("unknown", (), "No QTc result was found, and no long QT is recorded.")


def _qtc(value: Value, kind: str | None) -> tuple[float, str] | None:
    got = number_in(value, high=True)
    if got is None:
        return None
    number, unit, cmp = got
    if unit in ("s", "sec") or (unit == "" and number < 2.0):
        number = round(number * 1000)
    elif unit not in ("", "ms", "msec"):
        return None
    return (edge(number, cmp), f"{cmp}{number:g} ms") if 200.0 <= number <= 800.0 else None


def _status_words(cond: models.Condition) -> str:
    """ " (resolved)" / " (provisional)" for a Condition whose status a clinician should see."""
    words: list[str] = []
    clinical = status_code(cond.clinicalStatus)
    if clinical and clinical not in ("active", "recurrence", "relapse"):
        words.append(clinical)
    elif clinical is None and not condition_current(cond):
        words.append("abated")
    verification = status_code(cond.verificationStatus)
    if verification in UNCONFIRMED:
        words.append(verification or "")
    return f" ({', '.join(words)})" if words else ""


def _ordered(found: list[Evidence]) -> list[Evidence]:
    """Evidence in a fixed order (date, then reference): the same facts whatever order the chart came in."""
    return sorted(found, key=lambda e: (date_key(e.date), e.reference, e.text))


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _all_text(ctx: Context, cc: models.CodeableConcept | None) -> str:
    parts = [ctx.text(cc) or ""] + [display or "" for _, _, display in ctx.codings(cc)]
    return " ".join(parts).lower()
