"""The typed patient profile the pathway reasons over.

Every fact carries the resources (and dates) it came from. Field names here are the vocabulary of the
knowledge base: a rule's conditions name these fields and these values, nothing else. ``FIELDS`` is
the schema the rule loader checks rule files against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final, Literal

from cds.evidence import DataIssue, Evidence, Fact

__all__ = ["DataIssue", "Evidence", "Fact", "PatientProfile"]

YesNoUnknown = Literal["yes", "no", "unknown"]
ReceptorStatus = Literal["positive", "low_positive", "negative", "unknown", "conflicting"]
HormoneReceptorStatus = Literal["positive", "negative", "unknown", "conflicting"]
Her2Status = Literal["positive", "negative", "equivocal", "unknown", "conflicting"]
Her2Ihc = Literal["0", "1+", "2+", "3+", "unknown"]
Her2Ish = Literal["amplified", "not_amplified", "equivocal", "unknown"]
Subtype = Literal[
    "hr_positive_her2_negative",
    "hr_positive_her2_positive",
    "hr_negative_her2_positive",
    "triple_negative",
    "unknown",
]
GermlineStatus = Literal["pathogenic", "not_detected", "unknown"]
BiomarkerStatus = Literal["positive", "negative", "unknown"]
PdL1Assay = Literal["22c3_cps", "sp142_ic", "tps", "other", "unknown"]
GeneStatus = Literal["altered", "not_detected", "unknown"]
MsiStatus = Literal["high", "stable_or_low", "unknown"]  # high: MSI-H or dMMR
TmbStatus = Literal["high", "low", "unknown"]  # high: 10 mutations/megabase or more
EndocrineResistance = Literal["primary", "secondary", "sensitive", "unknown"]
MenopausalStatus = Literal["premenopausal", "postmenopausal", "indeterminate", "unknown"]
Sex = Literal["female", "male", "other", "unknown"]
DataCompleteness = Literal["complete", "incomplete"]
YesUnknown = Literal["yes", "unknown"]  # a safety finding: recorded, or not recorded (never "no")

METASTATIC_SITES = ("bone", "liver", "lung", "brain", "nodes", "other")
VISCERAL_SITES = frozenset({"liver", "lung", "brain"})


# The defaults of the profile's facts: unknown, without evidence (immutable, so shared).
_UNKNOWN: Final[Fact[Any]] = Fact("unknown")
_NO_VALUE: Final[Fact[Any]] = Fact(None)
_NO_SET: Final[Fact[Any]] = Fact(frozenset())
_NO_LINES: Final[Fact[Any]] = Fact(0)
_NO: Final[Fact[Any]] = Fact("no")
_COMPLETE: Final[Fact[Any]] = Fact("complete")


@dataclass(frozen=True)
class PatientProfile:
    patient_id: str
    age: Fact[int | None] = _NO_VALUE
    sex: Fact[Sex] = _UNKNOWN
    performance_status: Fact[int | None] = _NO_VALUE  # the latest ECOG score (0-5); None: not recorded
    breast_cancer: Fact[YesNoUnknown] = _UNKNOWN
    metastatic: Fact[YesNoUnknown] = _UNKNOWN
    metastatic_sites: Fact[frozenset[str]] = _NO_SET
    visceral_metastases: Fact[YesNoUnknown] = _UNKNOWN
    bone_only_disease: Fact[YesNoUnknown] = _UNKNOWN
    er_status: Fact[ReceptorStatus] = _UNKNOWN
    pr_status: Fact[ReceptorStatus] = _UNKNOWN
    hormone_receptor_status: Fact[HormoneReceptorStatus] = _UNKNOWN
    her2_status: Fact[Her2Status] = _UNKNOWN
    her2_ihc: Fact[Her2Ihc] = _UNKNOWN
    her2_ish: Fact[Her2Ish] = _UNKNOWN
    her2_low: Fact[YesNoUnknown] = _UNKNOWN
    subtype: Fact[Subtype] = _UNKNOWN
    germline_brca: Fact[GermlineStatus] = _UNKNOWN
    germline_origin_stated: Fact[YesNoUnknown] = _UNKNOWN
    pd_l1: Fact[BiomarkerStatus] = _UNKNOWN
    menopausal_status: Fact[MenopausalStatus] = _UNKNOWN
    pik3ca_status: Fact[GeneStatus] = _UNKNOWN
    akt1_status: Fact[GeneStatus] = _UNKNOWN
    pten_status: Fact[GeneStatus] = _UNKNOWN
    esr1_status: Fact[GeneStatus] = _UNKNOWN
    esr1_tested_since_progression: Fact[YesNoUnknown] = _UNKNOWN
    pd_l1_cps: Fact[int | None] = _NO_VALUE
    her2_ultralow: Fact[YesNoUnknown] = _UNKNOWN
    discordant_markers: Fact[frozenset[str]] = _NO_SET
    pd_l1_assay: Fact[PdL1Assay] = _UNKNOWN
    msi_status: Fact[MsiStatus] = _UNKNOWN
    tmb_status: Fact[TmbStatus] = _UNKNOWN
    endocrine_resistance: Fact[EndocrineResistance] = _UNKNOWN
    adjuvant_endocrine_resistance: Fact[EndocrineResistance] = _UNKNOWN
    ovarian_suppression_current: Fact[YesNoUnknown] = _NO
    prior_therapies: Fact[frozenset[str]] = _NO_SET
    metastatic_therapies: Fact[frozenset[str]] = _NO_SET
    metastatic_lines: Fact[int] = _NO_LINES
    metastatic_chemotherapy_lines: Fact[int] = _NO_LINES
    metastatic_her2_lines: Fact[int] = _NO_LINES
    metastatic_endocrine_lines: Fact[int] = _NO_LINES
    medication_history: Fact[YesNoUnknown] = _UNKNOWN
    medicines_unidentified: Fact[YesNoUnknown] = _NO
    data_completeness: Fact[DataCompleteness] = _COMPLETE
    # --- the treatment journey (cds/profile/journey.py) ---
    deceased: Fact[YesNoUnknown] = _UNKNOWN
    other_primary_cancer: Fact[YesNoUnknown] = _UNKNOWN
    on_therapy: Fact[YesNoUnknown] = _UNKNOWN
    current_therapies: Fact[frozenset[str]] = _NO_SET
    current_non_line_therapies: Fact[frozenset[str]] = _NO_SET
    progressed_on: Fact[frozenset[str]] = _NO_SET
    stopped_for_toxicity: Fact[frozenset[str]] = _NO_SET
    completed_metastatic_lines: Fact[int] = _NO_LINES
    early_relapse_after: Fact[frozenset[str]] = _NO_SET
    relapse_timing_unknown_after: Fact[frozenset[str]] = _NO_SET
    metastases_new_on_last_line: Fact[frozenset[str]] = _NO_SET
    relapse_within_year_after: Fact[frozenset[str]] = _NO_SET
    early_systemic_therapies: Fact[int] = _NO_LINES
    last_line_stopped_unexplained: Fact[YesNoUnknown] = _UNKNOWN
    # nothing in use now and the last completed line ended with no progression recorded (a course
    # completed): the next line is for when treatment is needed, not a switch now
    last_line_ended_without_progression: Fact[YesNoUnknown] = _UNKNOWN
    # the drugs of that line (note: how and when they ended, "stopped 2025-09-15"; the options' caution)
    last_line_unexplained_therapies: Fact[frozenset[str]] = _NO_SET
    stopped_in_current_line: Fact[frozenset[str]] = _NO_SET
    # --- safety findings (cds/profile/safety.py) ---
    interstitial_lung_disease: Fact[YesUnknown] = _UNKNOWN
    hyperglycaemia_risk: Fact[YesNoUnknown] = _UNKNOWN
    diabetes: Fact[YesUnknown] = _UNKNOWN
    diabetes_treated: Fact[YesUnknown] = _UNKNOWN
    cardiac_dysfunction: Fact[YesNoUnknown] = _UNKNOWN
    long_qt: Fact[YesUnknown] = _UNKNOWN
    # --- asked for by the pathway rules (derived in cds/profile) ---
    pd_l1_cps_recorded: Fact[YesNoUnknown] = _NO
    issues: tuple[DataIssue, ...] = ()
    # not a rule field: what endocrine_resistance becomes if the disease progresses today on the current
    # line, when that line is the first endocrine line for metastatic disease (used by at_progression)
    resistance_at_progression: Fact[EndocrineResistance] | None = None

    def fact(self, name: str) -> Fact[object]:
        if name not in FIELDS:
            raise KeyError(name)
        value: Fact[object] = getattr(self, name)
        return value

    def facts(self) -> Mapping[str, Fact[object]]:
        return {name: getattr(self, name) for name in FIELDS}

    def at_progression(self) -> PatientProfile:
        """The journey as it would stand if the disease progressed on the current therapy.

        The current line joins ``progressed_on``, it is completed, and no line is current: the pathway
        weighs the next line on this profile (the "at progression" card). Medicines in use that are not a
        line (``current_non_line_therapies``: a bone-modifying agent, ovarian suppression) stay current:
        they go on beside the next line, and the disease does not progress "on" denosumab. When the current
        line is the first endocrine line for metastatic disease, a progression on it now also decides the
        endocrine resistance (ABC 5: within its first 6 months primary, later secondary).
        """
        current = self.current_therapies
        beside = current.value & self.current_non_line_therapies.value
        halted = self.stopped_in_current_line  # had in this line: the progression comes after it too
        line = current.value - beside | halted.value
        beside_ev = set(self.current_non_line_therapies.evidence)
        line_ev = tuple(e for e in current.evidence if e not in beside_ev) + halted.evidence
        why = "if the disease progresses on the current therapy"
        return replace(
            self,
            on_therapy=Fact("no", current.evidence, why),
            current_therapies=Fact(beside, self.current_non_line_therapies.evidence if beside else (), why),
            progressed_on=Fact(
                self.progressed_on.value | line,
                self.progressed_on.evidence + line_ev,
                why,
            ),
            completed_metastatic_lines=Fact(
                self.completed_metastatic_lines.value + 1, self.completed_metastatic_lines.evidence, why
            ),
            endocrine_resistance=self.resistance_at_progression or self.endocrine_resistance,
            resistance_at_progression=None,
            # an ESR1 result on record comes before a progression on the current therapy
            esr1_tested_since_progression=_before_progression(self.esr1_tested_since_progression, why),
            stopped_in_current_line=_NO_SET,
        )


def _before_progression(tested: Fact[YesNoUnknown], why: str) -> Fact[YesNoUnknown]:
    return Fact("no", tested.evidence, why) if tested.value == "yes" else tested


# --- the schema rules are checked against -------------------------------------------------------

FieldKind = Literal["enum", "set", "int"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    kind: FieldKind
    values: frozenset[str] = frozenset()  # allowed values (enum) or members (set); empty = open
    label: str = ""  # how the field reads to a clinician in a card's "why" list


_YNU = frozenset({"yes", "no", "unknown"})
_RECEPTOR = frozenset({"positive", "low_positive", "negative", "unknown", "conflicting"})
_GENE = frozenset({"altered", "not_detected", "unknown"})
_RESISTANCE = frozenset({"primary", "secondary", "sensitive", "unknown"})

FIELDS: dict[str, FieldSpec] = {
    "age": FieldSpec("int", label="Age (years)"),
    "sex": FieldSpec("enum", frozenset({"female", "male", "other", "unknown"}), "Sex"),
    "performance_status": FieldSpec("int", label="ECOG performance status"),
    "breast_cancer": FieldSpec("enum", _YNU, "Breast cancer"),
    "metastatic": FieldSpec("enum", _YNU, "Metastatic (stage 4) disease"),
    "metastatic_sites": FieldSpec("set", frozenset(METASTATIC_SITES), "Metastatic sites"),
    "visceral_metastases": FieldSpec("enum", _YNU, "Visceral metastases"),
    "bone_only_disease": FieldSpec("enum", _YNU, "Bone-only disease"),
    "er_status": FieldSpec("enum", _RECEPTOR, "Estrogen receptor (ER)"),
    "pr_status": FieldSpec("enum", _RECEPTOR, "Progesterone receptor (PR)"),
    "hormone_receptor_status": FieldSpec(
        "enum", frozenset({"positive", "negative", "unknown", "conflicting"}), "Hormone receptor status"
    ),
    "her2_status": FieldSpec(
        "enum", frozenset({"positive", "negative", "equivocal", "unknown", "conflicting"}), "HER2 status"
    ),
    "her2_ihc": FieldSpec("enum", frozenset({"0", "1+", "2+", "3+", "unknown"}), "HER2 IHC score"),
    "her2_ish": FieldSpec(
        "enum", frozenset({"amplified", "not_amplified", "equivocal", "unknown"}), "HER2 ISH"
    ),
    "her2_low": FieldSpec("enum", _YNU, "HER2-low"),
    "subtype": FieldSpec(
        "enum",
        frozenset(
            {
                "hr_positive_her2_negative",
                "hr_positive_her2_positive",
                "hr_negative_her2_positive",
                "triple_negative",
                "unknown",
            }
        ),
        "Subtype",
    ),
    "germline_brca": FieldSpec(
        "enum", frozenset({"pathogenic", "not_detected", "unknown"}), "Germline BRCA1/2"
    ),
    "germline_origin_stated": FieldSpec(
        "enum", _YNU, "The pathogenic BRCA1/2 result states its germline origin (a germline report)"
    ),
    "pd_l1": FieldSpec("enum", frozenset({"positive", "negative", "unknown"}), "PD-L1"),
    "menopausal_status": FieldSpec(
        "enum",
        frozenset({"premenopausal", "postmenopausal", "indeterminate", "unknown"}),
        "Menopausal status",
    ),
    "ovarian_suppression_current": FieldSpec("enum", _YNU, "On ovarian suppression now"),
    "pik3ca_status": FieldSpec("enum", _GENE, "PIK3CA (activating mutation)"),
    "akt1_status": FieldSpec("enum", _GENE, "AKT1 (activating mutation)"),
    "pten_status": FieldSpec("enum", _GENE, "PTEN (inactivating alteration or loss)"),
    "esr1_status": FieldSpec("enum", _GENE, "ESR1 mutation"),
    "esr1_tested_since_progression": FieldSpec(
        "enum", _YNU, "An ESR1 result dated on or after the last progression (or early relapse)"
    ),
    "pd_l1_cps": FieldSpec("int", label="PD-L1 combined positive score (22C3 CPS)"),
    "her2_ultralow": FieldSpec("enum", _YNU, "HER2-ultralow (IHC 0 with membrane staining)"),
    "discordant_markers": FieldSpec(
        "set", frozenset({"er", "pr", "her2"}), "Receptor results that disagree between biopsies or over time"
    ),
    "pd_l1_assay": FieldSpec(
        "enum", frozenset({"22c3_cps", "sp142_ic", "tps", "other", "unknown"}), "PD-L1 assay and score type"
    ),
    "msi_status": FieldSpec(
        "enum",
        frozenset({"high", "stable_or_low", "unknown"}),
        "Microsatellite instability-high (MSI-H) or mismatch repair deficient (dMMR)",
    ),
    "tmb_status": FieldSpec(
        "enum",
        frozenset({"high", "low", "unknown"}),
        "Tumour mutational burden (high: 10 mutations/megabase or more)",
    ),
    "endocrine_resistance": FieldSpec(
        "enum",
        _RESISTANCE,
        "Endocrine resistance (ESO-ESMO ABC5: adjuvant and first metastatic endocrine therapy)",
    ),
    "adjuvant_endocrine_resistance": FieldSpec(
        "enum",
        _RESISTANCE,
        "Endocrine resistance from the adjuvant endocrine therapy alone (ABC5: relapse timing)",
    ),
    "prior_therapies": FieldSpec("set", label="Prior cancer therapy (any setting)"),
    "metastatic_therapies": FieldSpec("set", label="Therapy given for metastatic disease"),
    "metastatic_lines": FieldSpec("int", label="Lines of therapy for metastatic disease"),
    "metastatic_chemotherapy_lines": FieldSpec("int", label="Chemotherapy lines for metastatic disease"),
    "metastatic_her2_lines": FieldSpec("int", label="HER2-directed lines for metastatic disease"),
    "metastatic_endocrine_lines": FieldSpec("int", label="Endocrine lines for metastatic disease"),
    "medication_history": FieldSpec("enum", _YNU, "Medication history available"),
    "medicines_unidentified": FieldSpec(
        "enum", _YNU, "Medication records naming their medicine only by a code or reference not read"
    ),
    "data_completeness": FieldSpec(
        "enum", frozenset({"complete", "incomplete"}), "Patient data read completely"
    ),
    "deceased": FieldSpec("enum", _YNU, "Deceased"),
    "other_primary_cancer": FieldSpec("enum", _YNU, "Another active primary cancer"),
    "on_therapy": FieldSpec("enum", _YNU, "On therapy for metastatic disease now"),
    "current_therapies": FieldSpec("set", label="Current therapy"),
    "current_non_line_therapies": FieldSpec(
        "set", label="In use now beside the line: a bone-modifying agent or ovarian suppression"
    ),
    "progressed_on": FieldSpec("set", label="Disease progressed on"),
    "stopped_for_toxicity": FieldSpec("set", label="Stopped for side effects"),
    "completed_metastatic_lines": FieldSpec(
        "int",
        label="Completed lines for metastatic disease (progressed, or ended other than for side effects)",
    ),
    "early_relapse_after": FieldSpec(
        "set", label="Relapse during or soon after (neo)adjuvant therapy (6 months; 12 for endocrine)"
    ),
    "relapse_timing_unknown_after": FieldSpec(
        "set",
        label="(Neo)adjuvant therapy before the relapse that ended on a day not recorded: whether the "
        "relapse came during or soon after it is not known",
    ),
    "early_systemic_therapies": FieldSpec(
        "int", label="Systemic therapies for early breast cancer ((neo)adjuvant regimens)"
    ),
    "last_line_stopped_unexplained": FieldSpec(
        "enum",
        _YNU,
        "The last line for metastatic disease was stopped (or, given until progression, recorded as "
        "completed) with no reason or progression recorded, and nothing followed it",
    ),
    "last_line_ended_without_progression": FieldSpec(
        "enum",
        _YNU,
        "Nothing in use now, and the last line for metastatic disease ended (a course completed, or a stop) "
        "with no progression recorded",
    ),
    "last_line_unexplained_therapies": FieldSpec(
        "set",
        label="Drugs of the last line for metastatic disease that ended with no reason or progression "
        "recorded, nothing after it",
    ),
    "relapse_within_year_after": FieldSpec(
        "set", label="Relapse during or within 12 months of (neo)adjuvant anti-HER2 therapy (ASCO HER2+ 2022)"
    ),
    "metastases_new_on_last_line": FieldSpec(
        "set",
        frozenset(METASTATIC_SITES),
        "Metastatic sites first recorded while the last line for metastatic disease ran (by its progression)",
    ),
    "stopped_in_current_line": FieldSpec(
        "set",
        label="Medicines of the current line stopped while the rest of it goes on (not for side effects)",
    ),
    "interstitial_lung_disease": FieldSpec(
        "enum", frozenset({"yes", "unknown"}), "Interstitial lung disease or pneumonitis"
    ),
    "hyperglycaemia_risk": FieldSpec(
        "enum", _YNU, "Type 1, insulin-treated or uncontrolled diabetes (HbA1c 8% or more)"
    ),
    "diabetes": FieldSpec(
        "enum",
        frozenset({"yes", "unknown"}),
        "Diabetes or a glucose-lowering medicine recorded (a current diabetes record or medicine)",
    ),
    "diabetes_treated": FieldSpec(
        "enum",
        frozenset({"yes", "unknown"}),
        "Diabetes needing anti-hyperglycaemic treatment (insulin or a diabetes-only medicine, or a diabetes "
        "record with any glucose-lowering medicine)",
    ),
    "cardiac_dysfunction": FieldSpec("enum", _YNU, "LVEF below 50% or heart failure"),
    "long_qt": FieldSpec("enum", frozenset({"yes", "unknown"}), "Long QT or QTc prolongation"),
    "pd_l1_cps_recorded": FieldSpec(
        "enum",
        _YNU,
        "PD-L1 22C3 result that settles CPS 10 or more: a CPS number, or a 22C3 result reported negative",
    ),
}

#: Set fields whose members are drug classes or agents (cards/codes/medications.yaml).
THERAPY_SETS = frozenset(
    {
        "prior_therapies",
        "metastatic_therapies",
        "current_therapies",
        "current_non_line_therapies",
        "progressed_on",
        "stopped_for_toxicity",
        "early_relapse_after",
        "last_line_unexplained_therapies",
        "stopped_in_current_line",
        "relapse_timing_unknown_after",
        "relapse_within_year_after",
    }
)

# Every FIELDS entry must be a PatientProfile attribute (checked at import: a typo fails fast).
_ATTRS = {f.name for f in fields(PatientProfile)}
assert set(FIELDS) <= _ATTRS, set(FIELDS) - _ATTRS  # noqa: S101
