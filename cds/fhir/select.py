"""Pick the resources the profile needs from the chart's read models, then check only those.

Most of a chart (vitals, unrelated labs) never informs the pathway, so a cheap pre-filter comes first
(cds.fhir.prefilter). Each resource it keeps has its content checked (cds.fhir.check); one that fails
is reported, never fatal. Resources of another patient are counted and reported, never read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from cds.evidence import DataIssue, Evidence
from cds.fhir.check import FormatError, check
from cds.fhir.codes import Terminology
from cds.fhir.issues import Issues
from cds.fhir.models import (
    MODELS,
    READ_TYPES,
    ChoiceError,
    CodeableConcept,
    MedicationAdministration,
    MedicationRequest,
    MedicationStatement,
    Resource,
)
from cds.fhir.request import read_error, reference, unreadable

PROFILE_TYPES = frozenset(MODELS)


@dataclass(frozen=True, slots=True)
class Selection:
    resources: tuple[Resource, ...]
    issues: tuple[DataIssue, ...]


class _Subject:
    """The call's patient, as subject references name it: the last reference found to name the
    patient is remembered, as a chart's resources mostly repeat the same one."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.known = ""

    def owns(self, resource: Resource) -> bool:
        """False only when the resource names a different patient (ids compared on the last segment)."""
        if type(resource) is MODELS["Patient"]:
            return resource.id is None or resource.id == self.patient_id
        subject = getattr(resource, "subject", None)
        ref = subject.reference if subject is not None else None
        if not ref or ref == self.known:
            return True
        if _names(ref, self.patient_id):
            self.known = ref
            return True
        return False


def _names(reference: str, patient_id: str) -> bool:
    """False when a subject reference names another patient than ``patient_id``."""
    ref = reference.rstrip("/")
    if ref == patient_id:
        return True
    start = len(ref) - len(patient_id)  # the last segment is patient_id
    return start > 0 and ref.endswith(patient_id) and ref[start - 1] == "/"


def _medicine_named(record: Resource) -> str:
    """The medicine a medication record names (its text, a coding's display, else a code), so that the
    clinician can see whether one of them is cancer therapy coded in a way the service does not know."""
    if not isinstance(record, MedicationRequest | MedicationStatement | MedicationAdministration):
        return "a medication record"
    concepts: list[CodeableConcept] = []
    if record.medicationCodeableConcept is not None:
        concepts.append(record.medicationCodeableConcept)
    concepts += [med.code for med in record.contained or () if med.code is not None]
    for concept in concepts:
        if concept.text:
            return concept.text
        for coding in concept.coding or ():
            if coding.display:
                return coding.display
        for coding in concept.coding or ():
            if coding.code:
                return f"code {coding.code}"
    reference_display = record.medicationReference.display if record.medicationReference else None
    return reference_display or "a medicine not named"


def select_resources(raw: Iterable[Resource], *, patient_id: str, terminology: Terminology) -> Selection:
    """The relevant, checked resources of ``raw`` (the chart's read models)."""
    chosen: list[Resource] = []
    issues = Issues()
    seen: set[str] = set()
    other_medicines: list[Evidence] = []  # medication records not recognised as cancer medicines
    own = _Subject(patient_id)
    for resource in raw:
        rtype = READ_TYPES.get(type(resource))
        if rtype is None or rtype not in PROFILE_TYPES:
            continue  # a contained Medication on its own: not part of the profile
        if not own.owns(resource):
            ref = reference(rtype, resource.id)
            issues.tally(
                "other-patient",
                "data",
                "ignored",
                "{n} resources belong to another patient and were not read.",
                Evidence(ref, None, "subject is another patient"),
                one="{ref} belongs to a different patient and was not read.",
            )
            continue
        if rtype != "Patient" and not terminology.is_relevant(resource):
            if rtype != "Observation" and terminology.is_medication_record(resource):
                name = _medicine_named(resource)
                other_medicines.append(Evidence(reference(rtype, resource.id), None, name))
            continue
        ref = reference(rtype, resource.id)
        if ref in seen and resource.id is not None:
            continue  # the same resource from two prefetch keys
        seen.add(ref)
        try:
            check(resource)
        except (FormatError, ChoiceError, msgspec.ValidationError) as exc:
            issues.add(
                "unreadable", unreadable(ref, read_error(exc)), more="{n} more resources could not be read"
            )
            continue
        chosen.append(resource)
    if other_medicines:  # tells the profile medication data was sent, though none is cancer therapy
        names = sorted({e.text for e in other_medicines})
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        issues.extend(
            [
                DataIssue(
                    "medication_history",
                    "ignored",
                    f"Not recognised as cancer medicines, so not read as cancer therapy: "
                    f"{'; '.join(names[:3])}{more}.",
                    tuple(other_medicines[:5]),
                )
            ]
        )
    return Selection(tuple(chosen), tuple(issues.list()))
