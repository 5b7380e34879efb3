"""The cheap pre-filter: may a resource inform the profile? Asked of every resource of a chart, before
any content check (cds.fhir.select), so it is a few set lookups per coding: codes of the code lists,
ICD-10 three-character categories, and whole-word keywords in texts and displays. No regex, no walk
over the whole resource. Most of a chart (vitals, unrelated labs) stops here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cds.fhir.models import (
    CodeableConcept,
    Condition,
    MedicationAdministration,
    MedicationRequest,
    MedicationStatement,
    Observation,
    Procedure,
    Resource,
)
from cds.fhir.vocabulary import CodeListData, Drug, tokens

#: ICD-10 three-character categories the filter accepts whole (breast, secondaries, receptor status,
#: genetic susceptibility, personal history of cancer, acquired absence of ovaries), besides those of
#: the code lists' ICD-10 codes and prefixes (diabetes, heart failure, other primary cancers...).
_ICD_CATEGORIES = frozenset({"C50", "C77", "C78", "C79", "C7B", "Z17", "Z15", "Z85", "Z90"})
_TEXT_CACHE_MAX = 50_000
_NOT_A_RECORD = frozenset({"entered-in-error", "cancelled", "draft", "not-done", "not-taken"})
_MEDICATION_RECORDS = (MedicationRequest, MedicationStatement, MedicationAdministration)
_GENERIC_WORDS = frozenset(
    {"acid", "protein", "bound", "liposomal", "pegylated", "fam", "ado", "albumin", "hylecta"}
)


@dataclass(frozen=True, slots=True)
class RawFilter:
    """One vocabulary of the filter: codes, ICD-10 three-character categories (``icd_categories``),
    keywords and multi-word phrases (all words must appear) for texts and displays. Charts repeat the
    same displays thousands of times ("Body height"): each text's answer is remembered (bounded)."""

    codes: frozenset[str]
    keywords: frozenset[str] = frozenset()
    phrases: tuple[frozenset[str], ...] = ()
    icd_categories: frozenset[str] = frozenset()  # ICD-10 three-character categories taken whole
    _texts: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def concept(self, cc: CodeableConcept | None) -> bool:
        """True when a CodeableConcept has one of the codes, or a keyword in a display or its text."""
        if cc is None:
            return False
        for c in cc.coding or ():
            if self.coded(c.code) or self.words(c.display):
                return True
        return self.words(cc.text)

    def coded(self, code: str | None) -> bool:
        """True when a code is one of the codes (or its ICD-10 category is one of the categories)."""
        return code is not None and (
            code in self.codes or (bool(self.icd_categories) and code[:3].upper() in self.icd_categories)
        )

    def words(self, text: str | None) -> bool:
        """True when a text has one of the keywords or all the words of a phrase."""
        if not self.keywords or not text:
            return False
        hit = self._texts.get(text)
        if hit is None:
            found = tokens(text)
            hit = not self.keywords.isdisjoint(found) or any(p <= found for p in self.phrases)
            if len(self._texts) < _TEXT_CACHE_MAX and len(text) <= 200:
                self._texts[text] = hit
        return hit


@dataclass(frozen=True, slots=True)
class Prefilter:
    clinical: RawFilter  # codes and keywords of the code lists (a finding may also be a test's code)
    findings: RawFilter  # finding codes, as Observation values
    medicines: RawFilter  # RxNorm and ATC codes and names of the medicines

    @classmethod
    def build(cls, lists: Iterable[CodeListData], drugs: Iterable[Drug]) -> Prefilter:
        relevant: set[str] = set()
        keywords: set[str] = set()
        pairs: set[frozenset[str]] = set()
        findings: set[str] = set()
        icd_categories: set[str] = set(_ICD_CATEGORIES)
        medicine_codes: set[str] = set()
        medicine_names: set[str] = set()
        for code_list in lists:
            if code_list.role == "value":
                continue
            if code_list.role == "medicine":
                medicine_codes.update(code for (_, code) in code_list.codes)
                medicine_names.update(k for k in code_list.keywords if " " not in k)
                continue
            icd_categories.update(code[:3].upper() for (system, code) in code_list.codes if system == "icd10")
            icd_categories.update(prefix[:3].upper() for prefix, _ in code_list.prefixes.get("icd10", ()))
            target = findings if code_list.role == "finding" else relevant
            target.update(code for (_, code) in code_list.codes)
            target.update(code_list.any_codes)
            for keyword in code_list.keywords:
                if " " in keyword:
                    pairs.add(frozenset(keyword.split()))
                else:
                    keywords.add(keyword)
        relevant |= findings  # a finding may also be the Observation/Condition code
        codes: set[str] = set(medicine_codes)
        names: set[str] = set(medicine_names)
        for drug in drugs:
            codes.update(code for _, code in drug.codes)
            for syn in drug.synonyms:
                # whole synonyms, and parts of compounds only when distinctive ("5" of "5-fu" is not)
                names.update(t for t in tokens(syn) if t == syn or (len(t) >= 4 and not t.isdigit()))
        return cls(
            clinical=RawFilter(
                frozenset(relevant),
                frozenset(keywords),
                tuple(pairs),
                icd_categories=frozenset(icd_categories),
            ),
            findings=RawFilter(frozenset(findings)),
            medicines=RawFilter(frozenset(codes), frozenset(names - _GENERIC_WORDS)),
        )

    def is_relevant(self, model: Resource) -> bool:
        """True when a resource (its read model) may inform the profile."""
        if type(model) is Observation:
            value = model.valueCodeableConcept
            return self.clinical.concept(model.code) or (value is not None and self.findings.concept(value))
        if type(model) is Condition or type(model) is Procedure:
            return self.clinical.concept(model.code)
        if not isinstance(model, _MEDICATION_RECORDS):
            return False
        if model.medicationCodeableConcept is not None:
            return self.medicines.concept(model.medicationCodeableConcept)
        reference = model.medicationReference
        if reference is not None:
            for med in model.contained or ():
                if self.medicines.concept(med.code):
                    return True
            return self.medicines.words(reference.display)
        return False

    def is_medication_record(self, model: Resource) -> bool:
        """True for a MedicationRequest/Statement/Administration that records a medicine (any medicine),
        i.e. not entered-in-error / cancelled / not-done. Lets the selector tell the profile that
        medication data was sent even when none of it is a cancer medicine (``medication_history``)."""
        return isinstance(model, _MEDICATION_RECORDS) and model.status not in _NOT_A_RECORD
