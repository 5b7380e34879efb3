"""How profile values read to a clinician: "HR-positive, HER2-negative", never "hr_positive_her2_negative".

One table of phrases per field and value (``PHRASES``), therapy sets named by their most specific
drugs ("letrozole + palbociclib", from cards/codes/medications.yaml ``classes``), and a fallback that
still reads as words (the field's label and the value without underscores) for a field added later.
Used wherever a person reads the profile: the cards, ``cds-mbc demo`` and the feedback report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from cds.fhir.codes import Terminology
from cds.pathway.rules import Rule
from cds.profile.model import FIELDS, THERAPY_SETS, Fact, PatientProfile

_GENE = {
    "pik3ca_status": "PIK3CA",
    "akt1_status": "AKT1",
    "esr1_status": "ESR1",
    "pten_status": "PTEN",
}
_RECEPTOR = {"er_status": "ER", "pr_status": "PR"}

#: field -> value -> the phrase a clinician writes.
PHRASES: Final[dict[str, dict[str, str]]] = {
    "sex": {"female": "female", "male": "male", "other": "sex other", "unknown": "sex not recorded"},
    "breast_cancer": {
        "yes": "breast cancer",
        "no": "no breast cancer",
        "unknown": "no confirmed breast cancer recorded",
    },
    "metastatic": {
        "yes": "metastatic (stage 4)",
        "no": "not metastatic",
        "unknown": "metastatic status not known",
    },
    "visceral_metastases": {
        "yes": "visceral metastases",
        "no": "no visceral metastases",
        "unknown": "visceral metastases not known",
    },
    "bone_only_disease": {"yes": "bone-only disease", "no": "not bone-only", "unknown": "extent not known"},
    "hormone_receptor_status": {
        "positive": "HR-positive",
        "negative": "HR-negative",
        "unknown": "hormone receptor status not known",
        "conflicting": "hormone receptor results conflict",
    },
    "her2_status": {
        "positive": "HER2-positive",
        "negative": "HER2-negative",
        "equivocal": "HER2 equivocal",
        "unknown": "HER2 status not known",
        "conflicting": "HER2 results conflict",
    },
    "her2_ish": {
        "amplified": "HER2 ISH amplified",
        "not_amplified": "HER2 ISH not amplified",
        "equivocal": "HER2 ISH equivocal",
        "unknown": "no HER2 ISH result",
    },
    "her2_low": {"yes": "HER2-low", "no": "not HER2-low", "unknown": "HER2-low not known"},
    "her2_ultralow": {
        "yes": "HER2-ultralow (IHC 0 with membrane staining)",
        "no": "not HER2-ultralow",
        "unknown": "HER2-ultralow not known",
    },
    "subtype": {
        "hr_positive_her2_negative": "HR-positive, HER2-negative",
        "hr_positive_her2_positive": "HR-positive, HER2-positive",
        "hr_negative_her2_positive": "HR-negative, HER2-positive",
        "triple_negative": "triple-negative",
        "unknown": "subtype not known",
    },
    "germline_brca": {
        "pathogenic": "germline BRCA1/2 pathogenic variant",
        "not_detected": "no germline BRCA1/2 pathogenic variant",
        "unknown": "no germline BRCA1/2 result",
    },
    "germline_origin_stated": {
        "yes": "germline origin stated on the result",
        "no": "germline origin not stated on the result",
        "unknown": "germline origin not known",
    },
    "pd_l1": {"positive": "PD-L1 positive", "negative": "PD-L1 negative", "unknown": "no PD-L1 result"},
    "pd_l1_assay": {
        "22c3_cps": "PD-L1 22C3 combined positive score",
        "sp142_ic": "PD-L1 SP142 immune-cell score (not a 22C3 CPS)",
        "tps": "PD-L1 tumour proportion score (not a 22C3 CPS)",
        "other": "PD-L1 by another assay (not a 22C3 CPS)",
        "unknown": "no PD-L1 assay recorded",
    },
    "msi_status": {
        "high": "MSI-H or dMMR",
        "stable_or_low": "not MSI-H or dMMR (MSS, MSI-L or MMR proficient)",
        "unknown": "no MSI or MMR result",
    },
    "tmb_status": {
        "high": "TMB-high (10 mutations/megabase or more)",
        "low": "TMB below 10 mutations/megabase",
        "unknown": "no TMB result",
    },
    "pd_l1_cps_recorded": {
        "yes": "PD-L1 22C3 CPS recorded",
        "no": "no PD-L1 22C3 CPS recorded",
        "unknown": "no PD-L1 22C3 CPS recorded",
    },
    "menopausal_status": {
        "premenopausal": "premenopausal",
        "postmenopausal": "postmenopausal",
        "indeterminate": "menopausal status indeterminate",
        "unknown": "menopausal status not known",
    },
    "ovarian_suppression_current": {
        "yes": "on ovarian suppression",
        "no": "not on ovarian suppression",
        "unknown": "ovarian suppression not known",
    },
    "endocrine_resistance": {
        "primary": "primary endocrine resistance",
        "secondary": "secondary endocrine resistance",
        "sensitive": "endocrine-sensitive",
        "unknown": "endocrine sensitivity not known",
    },
    "adjuvant_endocrine_resistance": {
        "primary": "relapse in the first 2 years of adjuvant endocrine therapy",
        "secondary": "relapse on adjuvant endocrine therapy after 2 years or within 12 months of it",
        "sensitive": "relapse more than 12 months after adjuvant endocrine therapy",
        "unknown": "timing of relapse after adjuvant endocrine therapy not known",
    },
    "medication_history": {
        "yes": "medication history available",
        "no": "no medication history",
        "unknown": "medication history not available",
    },
    "esr1_tested_since_progression": {
        "yes": "ESR1 tested at or since the last progression",
        "no": "ESR1 last tested before the last progression",
        "unknown": "no dated ESR1 result since a progression",
    },
    "last_line_stopped_unexplained": {
        "yes": "last line stopped with no reason recorded as progression or side effects",
        "no": "no line stopped without a reason",
        "unknown": "why the last line stopped not known",
    },
    "last_line_ended_without_progression": {
        "yes": "last line ended with no progression recorded, nothing in use now",
        "no": "no line ended without a progression while nothing is in use",
        "unknown": "whether the last line ended without a progression not known",
    },
    "medicines_unidentified": {
        "yes": "some medication records could not be identified",
        "no": "every medication record identified",
        "unknown": "medication records not all identified",
    },
    "data_completeness": {"complete": "all data read", "incomplete": "some data could not be read"},
    "deceased": {"yes": "deceased", "no": "alive", "unknown": "not recorded as deceased"},
    "other_primary_cancer": {
        "yes": "another active primary cancer",
        "no": "no other primary cancer",
        "unknown": "no other primary cancer recorded",
    },
    "on_therapy": {
        "yes": "on therapy for metastatic disease",
        "no": "not on therapy for metastatic disease",
        "unknown": "current therapy not known",
    },
    "interstitial_lung_disease": {
        "yes": "interstitial lung disease or pneumonitis",
        "unknown": "no interstitial lung disease recorded",
    },
    "hyperglycaemia_risk": {
        "yes": "type 1 or insulin-treated diabetes, or HbA1c 8% or more",
        "no": "HbA1c below 8%, no type 1 or insulin-treated diabetes",
        "unknown": "no recent HbA1c",
    },
    "diabetes": {
        "yes": "diabetes recorded or on a glucose-lowering medicine",
        "unknown": "no diabetes recorded",
    },
    "diabetes_treated": {
        "yes": "diabetes on anti-hyperglycaemic treatment",
        "unknown": "no diabetes treatment recorded",
    },
    "cardiac_dysfunction": {
        "yes": "LVEF below 50% or heart failure",
        "no": "LVEF 50% or more",
        "unknown": "no LVEF recorded",
    },
    "long_qt": {"yes": "long QT or QTc prolongation", "unknown": "no long QT recorded"},
}
for _field, _name in _GENE.items():
    PHRASES[_field] = {
        "altered": f"{_name} mutation" if _field != "pten_status" else "PTEN alteration or loss",
        "not_detected": f"no {_name} alteration detected",
        "unknown": f"no {_name} result",
    }
for _field, _name in _RECEPTOR.items():
    PHRASES[_field] = {
        "positive": f"{_name}-positive",
        "low_positive": f"{_name}-low positive (1-10%)",
        "negative": f"{_name}-negative",
        "unknown": f"{_name} not known",
        "conflicting": f"{_name} results conflict",
    }

_SITES = {"nodes": "lymph nodes"}
_LINES = {
    "metastatic_lines": "line",
    "completed_metastatic_lines": "completed line",
    "metastatic_chemotherapy_lines": "chemotherapy line",
    "metastatic_her2_lines": "HER2-directed line",
    "metastatic_endocrine_lines": "endocrine line",
}
_THERAPY_SET_WORDS = {
    "prior_therapies": ("prior therapy: {}", "no prior cancer therapy recorded"),
    "metastatic_therapies": (
        "given for metastatic disease: {}",
        "no therapy for metastatic disease recorded",
    ),
    "current_therapies": ("on {}", "no current therapy recorded"),
    "current_non_line_therapies": ("also on {} (not a line of therapy)", "nothing in use beside the line"),
    "progressed_on": ("progressed on {}", "no progression recorded"),
    "stopped_for_toxicity": ("stopped for side effects: {}", "nothing stopped for side effects"),
    "early_relapse_after": ("relapse during or soon after (neo)adjuvant {}", "no early relapse recorded"),
    "relapse_within_year_after": (
        "relapse during or within 12 months of (neo)adjuvant {}",
        "no relapse within 12 months of (neo)adjuvant anti-HER2 therapy",
    ),
    "relapse_timing_unknown_after": (
        "relapse timing not known after (neo)adjuvant {}: no end date recorded",
        "every (neo)adjuvant therapy dated",
    ),
    "last_line_unexplained_therapies": (
        "ended with no reason recorded as progression or side effects: {}",
        "no line ended without a reason recorded",
    ),
    "stopped_in_current_line": (
        "stopped while the rest of the line goes on: {}",
        "nothing of the current line stopped",
    ),
}


def _sentence_case(display: str) -> str:
    """ "Letrozole" -> "letrozole"; "CDK4/6 inhibitor", "HER2-directed therapy" and "GnRH agonist" keep
    their capitals."""
    first = display.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:].islower():
        return display[0].lower() + display[1:]
    return display


@dataclass(frozen=True, slots=True)
class DrugNames:
    """Drug classes and agents by their display names, and which names a more specific one covers."""

    display: Mapping[str, str]  # class or agent -> display, in medications.yaml order
    broader: Mapping[str, frozenset[str]]  # class or agent -> the classes every drug of it belongs to
    order: Mapping[str, int]  # class or agent -> its place in medications.yaml

    @classmethod
    def of(cls, terminology: Terminology) -> DrugNames:
        display = {name: _sentence_case(c.display) for name, c in terminology.classes.items()}
        for drug in terminology.drugs:
            display.setdefault(drug.name, drug.name)
        broader: dict[str, frozenset[str]] = {}
        for name in display:
            members = [
                set(d.classes) | {d.name} for d in terminology.drugs if name in d.classes or name == d.name
            ]
            if members:
                broader[name] = frozenset(set.intersection(*members) - {name})
        return cls(display, broader, {name: i for i, name in enumerate(display)})

    def names(self, items: Iterable[str]) -> list[str]:
        """The most specific names of a therapy set, in medications.yaml order: {aromatase_inhibitor,
        letrozole, cdk4_6_inhibitor, palbociclib} -> [letrozole, palbociclib]."""
        present = set(items)
        covered = {c for item in present for c in self.broader.get(item, ())}
        order = self.order
        kept = sorted(present - covered, key=lambda n: (order.get(n, len(order)), n))
        return [self.display.get(n, n.replace("_", " ")) for n in kept]

    def regimen(self, items: Iterable[str]) -> str:
        """Agents given together: "letrozole + palbociclib"."""
        return " + ".join(self.names(items))

    def listing(self, items: Iterable[str]) -> str:
        """Classes or agents, not necessarily together: "aromatase inhibitor, palbociclib"."""
        return ", ".join(self.names(items))


def option_line(rule: Rule, profile: PatientProfile | None = None) -> str:
    """The option's line, then what it is given with for this patient (``Rule.suppression``): nothing
    for a postmenopausal woman, ovarian suppression for a woman who is not or may not be postmenopausal,
    a GnRH analogue alongside an aromatase inhibitor for a man; both when the sex is not recorded or for
    no patient (docs/pathway.md)."""
    text = rule.option or rule.title
    if rule.suppression is None:
        return text
    gnrh = rule.suppression == "ovarian_and_gnrh"
    sex = profile.sex.value if profile is not None else "unknown"
    if (
        profile is not None and sex == "male"
    ):  # ASCO male breast cancer 2020: GnRH with an AI, not fulvestrant
        return f"{text}; with a GnRH analogue alongside an aromatase inhibitor" if gnrh else text
    if profile is not None and sex == "female":
        menopause = profile.menopausal_status.value
        if menopause == "postmenopausal":
            return text
        if menopause == "premenopausal" or profile.ovarian_suppression_current.value == "yes":
            return f"{text}; with ovarian suppression"
        return f"{text}; with ovarian suppression unless postmenopause is confirmed"
    return f"{text}; OFS unless postmenopausal" + (", GnRH analogue with an AI in men" if gnrh else "")


def _words(value: object) -> str:
    return str(value).replace("_", " ")


def phrase(name: str, value: object, drugs: DrugNames) -> str:
    """A profile field's value as a clinician writes it."""
    table = PHRASES.get(name)
    if table is not None and isinstance(value, str) and value in table:
        return table[value]
    if name in THERAPY_SETS and isinstance(value, frozenset):
        some, none = _THERAPY_SET_WORDS.get(name, (f"{FIELDS[name].label}: {{}}", "none recorded"))
        if not value:
            return none
        return some.format(drugs.regimen(value) if name == "current_therapies" else drugs.listing(value))
    if name == "discordant_markers" and isinstance(value, frozenset):
        if not value:
            return "no discordant receptor results"
        names = {"er": "ER", "pr": "PR", "her2": "HER2"}
        return "results that disagree between biopsies or over time: " + ", ".join(
            names.get(m, m) for m in sorted(value)
        )
    if name == "metastatic_sites" and isinstance(value, frozenset):
        if not value:
            return "no metastatic site recorded"
        return "metastases in " + ", ".join(_SITES.get(s, s) for s in sorted(value))
    if name == "metastases_new_on_last_line" and isinstance(value, frozenset):
        if not value:
            return "no new metastatic site on the last line"
        return "new metastases on the last line: " + ", ".join(_SITES.get(s, s) for s in sorted(value))
    if name in _LINES and isinstance(value, int):
        word = _LINES[name]
        return f"{value} {word}{'' if value == 1 else 's'} for metastatic disease"
    if name == "early_systemic_therapies" and isinstance(value, int):
        if not value:
            return "no (neo)adjuvant systemic therapy recorded"
        return f"{value} systemic {'therapy' if value == 1 else 'therapies'} for early breast cancer"
    if name == "her2_ihc" and isinstance(value, str):
        return "no HER2 IHC score" if value == "unknown" else f"HER2 IHC {value}"
    if name == "pd_l1_cps":
        return "no PD-L1 22C3 CPS" if value is None else f"PD-L1 22C3 CPS {value}"
    if name == "age":
        return "age not recorded" if value is None else f"age {value}"
    if name == "performance_status":
        # None: none recorded, or the latest is undated or more than a year old (cds.profile.performance)
        return (
            "no ECOG performance status of the last year"
            if value is None
            else f"ECOG performance status {value}"
        )
    label = FIELDS[name].label if name in FIELDS else _words(name)
    if isinstance(value, frozenset):
        return f"{label}: {', '.join(sorted(_words(v) for v in value)) or 'none recorded'}"
    return f"{label}: {'unknown' if value is None else _words(value)}"


def fact_phrase(name: str, fact: Fact[object], drugs: DrugNames) -> str:
    return phrase(name, fact.value, drugs)


# --- the whole profile, for `cds-mbc demo --verbose` -------------------------------------------------

_PROFILE_LINES: Final = (
    ("Disease", ("breast_cancer", "metastatic", "metastatic_sites", "visceral_metastases")),
    (
        "Subtype",
        ("subtype", "er_status", "pr_status", "her2_status", "her2_ihc", "her2_low", "her2_ultralow"),
    ),
    ("Patient", ("sex", "age", "performance_status", "menopausal_status", "ovarian_suppression_current")),
    (
        "Journey",
        (
            "current_therapies",
            "progressed_on",
            "stopped_for_toxicity",
            "completed_metastatic_lines",
            "endocrine_resistance",
            "early_relapse_after",
            "early_systemic_therapies",
        ),
    ),
    (
        "Biomarkers",
        (
            "germline_brca",
            "pik3ca_status",
            "esr1_status",
            "akt1_status",
            "pten_status",
            "pd_l1_cps",
            "pd_l1",
            "msi_status",
            "tmb_status",
        ),
    ),
    (
        "Safety",
        (
            "interstitial_lung_disease",
            "hyperglycaemia_risk",
            "diabetes",
            "diabetes_treated",
            "cardiac_dysfunction",
            "long_qt",
        ),
    ),
)


#: A man's profile line: no menopausal status, and ovarian suppression's class is a GnRH analogue for him.
_IN_A_MAN: Final[Mapping[str, Mapping[str, str] | None]] = {
    "menopausal_status": None,
    "ovarian_suppression_current": {
        "yes": "on a GnRH analogue",
        "no": "no GnRH analogue",
        "unknown": "GnRH analogue not known",
    },
}


def describe_profile(profile: PatientProfile, drugs: DrugNames) -> list[str]:
    """The profile in a clinician's words, a line per topic: "Subtype: HR-positive, HER2-negative; ..."."""
    male = profile.sex.value == "male"
    lines = []
    for heading, names in _PROFILE_LINES:
        words = []
        for name in names:
            value = getattr(profile, name).value
            if male and name in _IN_A_MAN:
                wording = _IN_A_MAN[name]
                if wording is not None:
                    words.append(wording[str(value)])
                continue
            words.append(phrase(name, value, drugs))
        lines.append(f"{heading}: {'; '.join(words)}")
    if profile.issues:
        lines.append(f"Data issues: {len(profile.issues)}")
    return lines
