"""The typed patient profile the pathway reasons over.

Every fact (``Fact``, from cds.profile.facts) carries the resources (and dates) it came from. Field
names here are the vocabulary of the knowledge base: a rule's conditions name these fields and these
values, nothing else. ``FIELDS`` is the schema the rule loader checks rule files against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, TypeVar

# The records a profile is made of are compiled classes (cds/profile/facts.py); they are named here too.
from cds.profile.facts import DataIssue as DataIssue
from cds.profile.facts import Evidence as Evidence
from cds.profile.facts import Fact as Fact

T = TypeVar("T")
_C = TypeVar("_C", bound=type)

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


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _slot_init(cls: _C) -> _C:
    """Give a frozen, slotted dataclass a faster ``__init__`` with the same parameters and defaults.

    The one dataclasses writes sets each field through ``object.__setattr__`` (the way round the frozen
    ``__setattr__``); this one calls each slot's own setter, about a third less time per record. A
    call builds one profile, of some forty fields (this module is not compiled: ``PatientProfile``
    stays a plain dataclass, for ``dataclasses.replace``).
    """
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    params: list[str] = []
    body: list[str] = []
    annotations: dict[str, Any] = {}
    for f in fields(cls):
        if not f.init or f.kw_only is True:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain init fields are supported")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        annotations[f.name] = f.type
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            body.append(f"    if {f.name} is _FACTORY:\n        {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102 (source made above from the class's own fields)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {**annotations, "return": None}
    cls.__init__ = init  # type: ignore[misc]
    return cls


def _unknown(value: T) -> Fact[T]:
    return Fact(value)


@_slot_init
@dataclass(frozen=True, slots=True)
class PatientProfile:
    patient_id: str
    age: Fact[int | None] = field(default_factory=lambda: _unknown(None))
    sex: Fact[Sex] = field(default_factory=lambda: _unknown("unknown"))
    breast_cancer: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    metastatic: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    metastatic_sites: Fact[frozenset[str]] = field(default_factory=lambda: _unknown(frozenset()))
    visceral_metastases: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    bone_only_disease: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    er_status: Fact[ReceptorStatus] = field(default_factory=lambda: _unknown("unknown"))
    pr_status: Fact[ReceptorStatus] = field(default_factory=lambda: _unknown("unknown"))
    hormone_receptor_status: Fact[HormoneReceptorStatus] = field(default_factory=lambda: _unknown("unknown"))
    her2_status: Fact[Her2Status] = field(default_factory=lambda: _unknown("unknown"))
    her2_ihc: Fact[Her2Ihc] = field(default_factory=lambda: _unknown("unknown"))
    her2_ish: Fact[Her2Ish] = field(default_factory=lambda: _unknown("unknown"))
    her2_low: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    subtype: Fact[Subtype] = field(default_factory=lambda: _unknown("unknown"))
    germline_brca: Fact[GermlineStatus] = field(default_factory=lambda: _unknown("unknown"))
    pd_l1: Fact[BiomarkerStatus] = field(default_factory=lambda: _unknown("unknown"))
    menopausal_status: Fact[MenopausalStatus] = field(default_factory=lambda: _unknown("unknown"))
    pik3ca_status: Fact[GeneStatus] = field(default_factory=lambda: _unknown("unknown"))
    akt1_status: Fact[GeneStatus] = field(default_factory=lambda: _unknown("unknown"))
    pten_status: Fact[GeneStatus] = field(default_factory=lambda: _unknown("unknown"))
    esr1_status: Fact[GeneStatus] = field(default_factory=lambda: _unknown("unknown"))
    pd_l1_cps: Fact[int | None] = field(default_factory=lambda: _unknown(None))
    her2_ultralow: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    endocrine_resistance: Fact[EndocrineResistance] = field(default_factory=lambda: _unknown("unknown"))
    ovarian_suppression_current: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("no"))
    prior_therapies: Fact[frozenset[str]] = field(default_factory=lambda: _unknown(frozenset()))
    metastatic_therapies: Fact[frozenset[str]] = field(default_factory=lambda: _unknown(frozenset()))
    metastatic_lines: Fact[int] = field(default_factory=lambda: _unknown(0))
    metastatic_chemotherapy_lines: Fact[int] = field(default_factory=lambda: _unknown(0))
    metastatic_her2_lines: Fact[int] = field(default_factory=lambda: _unknown(0))
    metastatic_endocrine_lines: Fact[int] = field(default_factory=lambda: _unknown(0))
    medication_history: Fact[YesNoUnknown] = field(default_factory=lambda: _unknown("unknown"))
    data_completeness: Fact[DataCompleteness] = field(default_factory=lambda: _unknown("complete"))
    issues: tuple[DataIssue, ...] = ()

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
