"""The typed patient profile the pathway reasons over.

Every fact carries the resources (and dates) it came from. Field names here are the vocabulary of the
knowledge base: a rule's conditions name these fields and these values, nothing else. ``FIELDS`` is
the schema the rule loader checks rule files against.

Compiled (mypyc), like the topics that build the profile: a call builds a hundred or so evidence
records and facts and one profile of some forty fields. Interpreted, each was an ``__init__`` in
Python setting each field through a Python call. Compiled, ``Evidence``, ``Fact`` and ``DataIssue`` are
plain native classes and ``PatientProfile`` a dataclass whose ``__init__`` is written out (the one
dataclasses writes would stay interpreted): built with plain stores, read without a lookup by name.
They behave as the frozen dataclasses they were: the same constructors and defaults, equality, hash
and ``repr``; ``dataclasses.replace`` works on the profile, which stays a frozen dataclass. The records'
attributes are ``Final``: mypy refuses to rebind them, and compiled they have no setter (a plain
class with ``Generic`` cannot guard ``__setattr__`` under mypyc); the source build does not check it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Generic, Literal, TypeVar

T = TypeVar("T")

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
GeneStatus = Literal["altered", "not_detected", "unknown"]
EndocrineResistance = Literal["primary", "secondary", "sensitive", "unknown"]
MenopausalStatus = Literal["premenopausal", "postmenopausal", "indeterminate", "unknown"]
Sex = Literal["female", "male", "other", "unknown"]
DataCompleteness = Literal["complete", "incomplete"]

METASTATIC_SITES = ("bone", "liver", "lung", "brain", "nodes", "other")
VISCERAL_SITES = frozenset({"liver", "lung", "brain"})


class Evidence:
    """One resource that supports a fact: ``Observation/er-1``, its date, and what it said."""

    __slots__ = ("date", "reference", "text")

    def __init__(self, reference: str, date: str | None, text: str) -> None:
        self.reference: Final = reference
        self.date: Final = date
        self.text: Final = text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evidence) or type(other) is not type(self):
            return NotImplemented
        return (self.reference, self.date, self.text) == (other.reference, other.date, other.text)

    def __hash__(self) -> int:
        return hash((self.reference, self.date, self.text))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(reference={self.reference!r}, date={self.date!r}, text={self.text!r})"
        )


class Fact(Generic[T]):
    __slots__ = ("evidence", "note", "value")

    def __init__(self, value: T, evidence: tuple[Evidence, ...] = (), note: str | None = None) -> None:
        self.value: Final = value
        self.evidence: Final = evidence
        self.note: Final = note  # why (menopause reason), or what conflicted

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fact) or type(other) is not type(self):
            return NotImplemented
        return (self.value, self.evidence, self.note) == (other.value, other.evidence, other.note)

    def __hash__(self) -> int:
        return hash((self.value, self.evidence, self.note))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(value={self.value!r}, evidence={self.evidence!r}, note={self.note!r})"
        )


class DataIssue:
    """Something the service could not read or that disagreed; shown to the clinician, never hidden."""

    __slots__ = ("evidence", "kind", "message", "topic")

    def __init__(
        self,
        topic: str,
        kind: Literal["missing", "conflicting", "unreadable", "truncated", "ignored"],
        message: str,
        evidence: tuple[Evidence, ...] = (),
    ) -> None:
        self.topic: Final = topic  # a profile field name, or "data" for general reading problems
        self.kind: Final = kind
        self.message: Final = message
        self.evidence: Final = evidence

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataIssue) or type(other) is not type(self):
            return NotImplemented
        return (self.topic, self.kind, self.message, self.evidence) == (
            other.topic,
            other.kind,
            other.message,
            other.evidence,
        )

    def __hash__(self) -> int:
        return hash((self.topic, self.kind, self.message, self.evidence))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(topic={self.topic!r}, kind={self.kind!r}, "
            f"message={self.message!r}, evidence={self.evidence!r})"
        )


# The defaults of the profile's facts: unknown, without evidence (immutable, so shared).
_UNKNOWN: Final[Fact[Any]] = Fact("unknown")
_NO_VALUE: Final[Fact[Any]] = Fact(None)
_NO_SET: Final[Fact[Any]] = Fact(frozenset())
_NO_LINES: Final[Fact[Any]] = Fact(0)
_NO: Final[Fact[Any]] = Fact("no")
_COMPLETE: Final[Fact[Any]] = Fact("complete")


@dataclass(frozen=True, init=False)
class PatientProfile:
    patient_id: str
    age: Fact[int | None]
    sex: Fact[Sex]
    breast_cancer: Fact[YesNoUnknown]
    metastatic: Fact[YesNoUnknown]
    metastatic_sites: Fact[frozenset[str]]
    visceral_metastases: Fact[YesNoUnknown]
    bone_only_disease: Fact[YesNoUnknown]
    er_status: Fact[ReceptorStatus]
    pr_status: Fact[ReceptorStatus]
    hormone_receptor_status: Fact[HormoneReceptorStatus]
    her2_status: Fact[Her2Status]
    her2_ihc: Fact[Her2Ihc]
    her2_ish: Fact[Her2Ish]
    her2_low: Fact[YesNoUnknown]
    subtype: Fact[Subtype]
    germline_brca: Fact[GermlineStatus]
    pd_l1: Fact[BiomarkerStatus]
    menopausal_status: Fact[MenopausalStatus]
    pik3ca_status: Fact[GeneStatus]
    akt1_status: Fact[GeneStatus]
    pten_status: Fact[GeneStatus]
    esr1_status: Fact[GeneStatus]
    pd_l1_cps: Fact[int | None]
    her2_ultralow: Fact[YesNoUnknown]
    endocrine_resistance: Fact[EndocrineResistance]
    ovarian_suppression_current: Fact[YesNoUnknown]
    prior_therapies: Fact[frozenset[str]]
    metastatic_therapies: Fact[frozenset[str]]
    metastatic_lines: Fact[int]
    metastatic_chemotherapy_lines: Fact[int]
    metastatic_her2_lines: Fact[int]
    metastatic_endocrine_lines: Fact[int]
    medication_history: Fact[YesNoUnknown]
    data_completeness: Fact[DataCompleteness]
    issues: tuple[DataIssue, ...]

    def __init__(
        self,
        patient_id: str,
        age: Fact[int | None] = _NO_VALUE,
        sex: Fact[Sex] = _UNKNOWN,
        breast_cancer: Fact[YesNoUnknown] = _UNKNOWN,
        metastatic: Fact[YesNoUnknown] = _UNKNOWN,
        metastatic_sites: Fact[frozenset[str]] = _NO_SET,
        visceral_metastases: Fact[YesNoUnknown] = _UNKNOWN,
        bone_only_disease: Fact[YesNoUnknown] = _UNKNOWN,
        er_status: Fact[ReceptorStatus] = _UNKNOWN,
        pr_status: Fact[ReceptorStatus] = _UNKNOWN,
        hormone_receptor_status: Fact[HormoneReceptorStatus] = _UNKNOWN,
        her2_status: Fact[Her2Status] = _UNKNOWN,
        her2_ihc: Fact[Her2Ihc] = _UNKNOWN,
        her2_ish: Fact[Her2Ish] = _UNKNOWN,
        her2_low: Fact[YesNoUnknown] = _UNKNOWN,
        subtype: Fact[Subtype] = _UNKNOWN,
        germline_brca: Fact[GermlineStatus] = _UNKNOWN,
        pd_l1: Fact[BiomarkerStatus] = _UNKNOWN,
        menopausal_status: Fact[MenopausalStatus] = _UNKNOWN,
        pik3ca_status: Fact[GeneStatus] = _UNKNOWN,
        akt1_status: Fact[GeneStatus] = _UNKNOWN,
        pten_status: Fact[GeneStatus] = _UNKNOWN,
        esr1_status: Fact[GeneStatus] = _UNKNOWN,
        pd_l1_cps: Fact[int | None] = _NO_VALUE,
        her2_ultralow: Fact[YesNoUnknown] = _UNKNOWN,
        endocrine_resistance: Fact[EndocrineResistance] = _UNKNOWN,
        ovarian_suppression_current: Fact[YesNoUnknown] = _NO,
        prior_therapies: Fact[frozenset[str]] = _NO_SET,
        metastatic_therapies: Fact[frozenset[str]] = _NO_SET,
        metastatic_lines: Fact[int] = _NO_LINES,
        metastatic_chemotherapy_lines: Fact[int] = _NO_LINES,
        metastatic_her2_lines: Fact[int] = _NO_LINES,
        metastatic_endocrine_lines: Fact[int] = _NO_LINES,
        medication_history: Fact[YesNoUnknown] = _UNKNOWN,
        data_completeness: Fact[DataCompleteness] = _COMPLETE,
        issues: tuple[DataIssue, ...] = (),
    ) -> None:
        # object.__setattr__, the way round the frozen __setattr__ (compiled, a plain store)
        object.__setattr__(self, "patient_id", patient_id)
        object.__setattr__(self, "age", age)
        object.__setattr__(self, "sex", sex)
        object.__setattr__(self, "breast_cancer", breast_cancer)
        object.__setattr__(self, "metastatic", metastatic)
        object.__setattr__(self, "metastatic_sites", metastatic_sites)
        object.__setattr__(self, "visceral_metastases", visceral_metastases)
        object.__setattr__(self, "bone_only_disease", bone_only_disease)
        object.__setattr__(self, "er_status", er_status)
        object.__setattr__(self, "pr_status", pr_status)
        object.__setattr__(self, "hormone_receptor_status", hormone_receptor_status)
        object.__setattr__(self, "her2_status", her2_status)
        object.__setattr__(self, "her2_ihc", her2_ihc)
        object.__setattr__(self, "her2_ish", her2_ish)
        object.__setattr__(self, "her2_low", her2_low)
        object.__setattr__(self, "subtype", subtype)
        object.__setattr__(self, "germline_brca", germline_brca)
        object.__setattr__(self, "pd_l1", pd_l1)
        object.__setattr__(self, "menopausal_status", menopausal_status)
        object.__setattr__(self, "pik3ca_status", pik3ca_status)
        object.__setattr__(self, "akt1_status", akt1_status)
        object.__setattr__(self, "pten_status", pten_status)
        object.__setattr__(self, "esr1_status", esr1_status)
        object.__setattr__(self, "pd_l1_cps", pd_l1_cps)
        object.__setattr__(self, "her2_ultralow", her2_ultralow)
        object.__setattr__(self, "endocrine_resistance", endocrine_resistance)
        object.__setattr__(self, "ovarian_suppression_current", ovarian_suppression_current)
        object.__setattr__(self, "prior_therapies", prior_therapies)
        object.__setattr__(self, "metastatic_therapies", metastatic_therapies)
        object.__setattr__(self, "metastatic_lines", metastatic_lines)
        object.__setattr__(self, "metastatic_chemotherapy_lines", metastatic_chemotherapy_lines)
        object.__setattr__(self, "metastatic_her2_lines", metastatic_her2_lines)
        object.__setattr__(self, "metastatic_endocrine_lines", metastatic_endocrine_lines)
        object.__setattr__(self, "medication_history", medication_history)
        object.__setattr__(self, "data_completeness", data_completeness)
        object.__setattr__(self, "issues", issues)

    def fact(self, name: str) -> Fact[object]:
        if name not in FIELDS:
            raise KeyError(name)
        value: Fact[object] = getattr(self, name)
        return value

    def facts(self) -> Mapping[str, Fact[object]]:
        return {name: getattr(self, name) for name in FIELDS}


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

FIELDS: dict[str, FieldSpec] = {
    "age": FieldSpec("int", label="Age (years)"),
    "sex": FieldSpec("enum", frozenset({"female", "male", "other", "unknown"}), "Sex"),
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
    "pd_l1_cps": FieldSpec("int", label="PD-L1 combined positive score (22C3 CPS)"),
    "her2_ultralow": FieldSpec("enum", _YNU, "HER2-ultralow (IHC 0 with membrane staining)"),
    "endocrine_resistance": FieldSpec(
        "enum",
        frozenset({"primary", "secondary", "sensitive", "unknown"}),
        "Endocrine resistance (ESO-ESMO ABC5, from adjuvant endocrine therapy dates)",
    ),
    "prior_therapies": FieldSpec("set", label="Prior cancer therapy (any setting)"),
    "metastatic_therapies": FieldSpec("set", label="Therapy given for metastatic disease"),
    "metastatic_lines": FieldSpec("int", label="Lines of therapy for metastatic disease"),
    "metastatic_chemotherapy_lines": FieldSpec("int", label="Chemotherapy lines for metastatic disease"),
    "metastatic_her2_lines": FieldSpec("int", label="HER2-directed lines for metastatic disease"),
    "metastatic_endocrine_lines": FieldSpec("int", label="Endocrine lines for metastatic disease"),
    "medication_history": FieldSpec("enum", _YNU, "Medication history available"),
    "data_completeness": FieldSpec(
        "enum", frozenset({"complete", "incomplete"}), "Patient data read completely"
    ),
}

# Every FIELDS entry must be a PatientProfile attribute (checked at import: a typo fails fast).
_ATTRS = {f.name for f in fields(PatientProfile)}
assert set(FIELDS) <= _ATTRS, set(FIELDS) - _ATTRS  # noqa: S101
