"""Records that point at metastatic disease without establishing it: lymph-node disease that may be
regional, and medicines given for a secondary cancer that no Condition, stage or M category records.

Each makes ``metastatic`` "unknown" (never "yes") with a data issue that says why and what to record, so a
stage II patient with a later axillary-node record, or a remission primary with palbociclib ordered for a
brain metastasis, gets the "not confirmed as metastatic" card rather than stage 4 options or silence.
Called from cds.profile.conditions, which weighs every other piece of evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cds.fhir import models
from cds.profile.common import Context, MedicationRecord, evidence
from cds.profile.medications import medicine_name, record_dates, secondary_cancer_reason
from cds.profile.model import Evidence, Fact, YesNoUnknown


def distant_nodes(ctx: Context, cond: models.Condition) -> bool:
    """A nodal metastasis named as distant in breast cancer (code list ``distant-lymph-nodes``: intra-
    abdominal, inguinal, pelvic, mediastinal, contralateral ... nodes), by code, text or bodySite."""
    return any(ctx.match("distant-lymph-nodes", cc) is not None for cc in (cond.code, *(cond.bodySite or ())))


def nodal_unknown(
    ctx: Context, newest: Evidence, before: Fact[YesNoUnknown], count: int
) -> Fact[YesNoUnknown]:
    """Metastatic status "unknown" when lymph-node disease that may be regional is the only (or the newest)
    evidence, with the data issue that says why and what to record."""
    shown = f"{newest.reference}, {newest.date}" if newest.date else newest.reference
    more = f" (and {count - 1} more)" if count > 1 else ""
    if before.value == "no":
        last = before.evidence[0]
        after = f", after a non-metastatic stage or M0 ({last.reference}, {last.date or 'undated'})"
    else:
        after = ""
    why = (
        f"Lymph-node disease is recorded ({shown}){more}{after}, and no distant metastasis, stage IV or "
        "M1: axillary, internal mammary and supraclavicular nodes are regional disease (N category), not "
        "stage 4. Record the M category or the stage group (or the distant site) to say whether it is "
        "metastatic."
    )
    ctx.issue("metastatic", "missing", why, newest, *before.evidence[:1])
    return Fact("unknown", (newest, *before.evidence[:1]), why)


#: Medication record statuses that mean given or taken now.
CURRENT_MEDICATION: Final = frozenset({"active", "on-hold", "in-progress"})


def treated_for_secondary(ctx: Context, medications: Sequence[MedicationRecord]) -> list[Evidence]:
    """Current medication records whose ``reasonCode`` is a secondary cancer (PACIO: palbociclib ordered
    for 94225005 brain metastasis, the only record of it): evidence, not proof, of metastatic disease."""
    found: list[Evidence] = []
    for med in medications:
        if med.status.lower() not in CURRENT_MEDICATION:
            continue
        cc = secondary_cancer_reason(ctx, med)
        if cc is None:
            continue
        when, _ = record_dates(med)
        reference = med.medicationReference
        medicine = (
            medicine_name(ctx, med.medicationCodeableConcept)
            if med.medicationCodeableConcept is not None
            else (reference.display if reference is not None else None) or "a medicine"
        )
        found.append(evidence(med, when, f"{medicine} ({med.status}) for: {ctx.label(cc)}"))
    return found


def treated_unknown(ctx: Context, treated: list[Evidence], before: Fact[YesNoUnknown]) -> Fact[YesNoUnknown]:
    """Metastatic status "unknown" when a current medication names a secondary cancer as its reason but
    nothing else establishes metastatic disease, with the data issue naming the medication record."""
    first = treated[0]
    shown = f"{first.reference} ({first.date})" if first.date else first.reference
    more = f" (and {len(treated) - 1} more)" if len(treated) > 1 else ""
    if before.value == "no":
        last = before.evidence[0]
        when = last.date or "undated"
        said = f"; the latest stage or M category says not metastatic ({last.reference}, {when})"
    else:
        said = ""
    why = (
        f"{shown}{more} is a current medication given for a secondary cancer ({first.text}), but no current "
        f"metastasis Condition, stage IV or M1 is recorded{said}. Metastatic status not known: record the "
        "metastasis (a Condition) or the stage group / M category."
    )
    ctx.issue(
        "metastatic", "conflicting" if before.value == "no" else "missing", why, first, *before.evidence[:1]
    )
    return Fact("unknown", (*treated[:2], *before.evidence[:2]), why)
