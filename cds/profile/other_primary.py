"""Primary malignancies other than breast cancer (code list ``other-primary-cancer``): active,
unconfirmed or inactive (resolved, in remission, ICD-10-CM C90-C95 "in remission"). An active one
means metastases cannot be attributed to the breast cancer with certainty (cds.profile.conditions)."""

from __future__ import annotations

from typing import Final

from cds.fhir import models
from cds.fhir.codes import norm_code, system_key
from cds.profile.common import UNCONFIRMED, Context, evidence, ref, status_code
from cds.profile.dates import date_key
from cds.profile.model import Evidence, Fact, YesNoUnknown

_UNKNOWN: Final[Fact[YesNoUnknown]] = Fact("unknown")
# verificationStatus values that leave a diagnosis unconfirmed (FHIR condition-ver-status)


class OtherPrimaries:
    """Primary malignancies other than breast cancer, sorted by whether they count now."""

    __slots__ = ("active", "brain", "inactive", "unconfirmed")

    def __init__(self) -> None:
        self.active: list[Evidence] = []
        self.unconfirmed: list[Evidence] = []
        self.inactive: list[Evidence] = []
        self.brain: list[Evidence] = []  # active ones coded as a primary brain malignancy (C71)

    def brain_hint(self) -> str:
        """A sentence for the other-primary issue when an active other primary is coded as a primary
        malignancy of the brain: radiotherapy departments' brain-metastasis courses have carried C71.9
        (HL7 CodeX RTTD IG example), so say which code a brain metastasis has. Empty otherwise."""
        if not self.brain:
            return ""
        ev = self.brain[0]
        return (
            f" {ev.reference} is coded as a primary malignancy of the brain (ICD-10 C71); brain metastases "
            "are coded C79.31 (SNOMED 94225005 Secondary malignant neoplasm of brain). If the brain disease "
            "is a metastasis of the breast cancer, correct the code; if it is a primary brain tumour, it "
            "stands."
        )

    def named(self) -> str:
        return "; ".join(
            f"{e.text.split(': ', 1)[-1].rsplit(' (', 1)[0]}, {e.reference}" for e in self.active[:3]
        )

    def fact(self, examined: int) -> Fact[YesNoUnknown]:
        for found in (self.active, self.unconfirmed, self.inactive):  # the same whatever the chart's order
            found.sort(key=lambda e: (date_key(e.date), e.reference))
        if self.active:
            return Fact(
                "yes",
                tuple(self.active[:5]),
                "Another primary cancer is recorded as active: metastases may belong to it.",
            )
        if self.unconfirmed:
            return Fact(
                "unknown",
                tuple(self.unconfirmed[:5]),
                "Another primary cancer is recorded, but only as provisional / differential: confirm or "
                "refute it.",
            )
        if examined:
            note = "No other active primary cancer is recorded among the conditions."
            if self.inactive:
                note = "Other primary cancers are recorded only as resolved / inactive / in remission."
            return Fact("no", tuple(self.inactive[:3]), note)
        return _UNKNOWN


def add_other_primary(
    ctx: Context,
    cond: models.Condition,
    code: models.CodeableConcept | None,
    when: str | None,
    current: bool,
    out: OtherPrimaries,
) -> None:
    verification = status_code(cond.verificationStatus)
    remission = any(_icd_in_remission(system, c) for system, c, _ in ctx.codings(code))
    if not current or remission:
        out.inactive.append(evidence(cond, when, f"Other primary cancer (not active): {ctx.label(code)}"))
    elif verification in UNCONFIRMED:
        ctx.issue(
            "other_primary_cancer",
            "pending",
            f"Another primary cancer is recorded as {verification} ({ref(cond)}"
            f"{', ' + when if when else ''}): not confirmed.",
            evidence(cond, when, f"Unconfirmed ({verification}) primary cancer: {ctx.describe(code)}"),
        )
        out.unconfirmed.append(
            evidence(cond, when, f"Other primary cancer ({verification}): {ctx.label(code)}")
        )
    else:
        out.active.append(evidence(cond, when, f"Other primary cancer: {ctx.label(code)}"))
        if _brain_primary(ctx, code):
            out.brain.append(evidence(cond, when, f"Primary brain malignancy: {ctx.label(code)}"))


def _brain_primary(ctx: Context, code: models.CodeableConcept | None) -> bool:
    """True for ICD-10 C71.x, malignant neoplasm of the brain (a primary brain malignancy)."""
    return any(
        c and system_key(system) == "icd10" and norm_code("icd10", c).startswith("C71")
        for system, c, _ in ctx.codings(code)
    )


def _icd_in_remission(system: str | None, code: str | None) -> bool:
    """ICD-10-CM C90-C95 with a 6th character 1: myeloma / leukaemia "in remission" (C90.01, C91.11, ...)."""
    if not code or "icd" not in (system or "").lower():
        return False
    c = code.strip().upper().replace(".", "")
    return len(c) == 5 and c[:2] == "C9" and c[2] in "012345" and c[4] == "1"
