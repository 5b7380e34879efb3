"""Pick the resources the profile needs from the chart's read models, then check only those.

Most of a chart (vitals, unrelated labs) never informs the pathway, so a cheap pre-filter comes first
(cds.fhir.prefilter). Each resource it keeps has its content checked (cds.fhir.check); one that fails
is reported, never fatal. Resources of another patient are counted and reported, never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from cds.evidence import DataIssue, Evidence
from cds.fhir.check import FormatError, check
from cds.fhir.codes import Terminology
from cds.fhir.formats import ID
from cds.fhir.issues import Issues
from cds.fhir.models import (
    MODELS,
    READ_TYPES,
    ChoiceError,
    CodeableConcept,
    Medication,
    MedicationAdministration,
    MedicationRequest,
    MedicationStatement,
    Resource,
)
from cds.fhir.request import read_error, reference, unreadable

PROFILE_TYPES = frozenset(MODELS) - {"Medication"}  # read through the records naming it


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


MedicationRecord = MedicationRequest | MedicationStatement | MedicationAdministration


def _resolved(record: MedicationRecord, medications: Mapping[str, Medication]) -> MedicationRecord:
    """The record naming its medicine by the code of the Medication its ``medicationReference`` points
    to, when that Medication came with the request (a Bundle's included entry, or another key's
    resource): then it reads as if the code were written in the record. Contained ones ("#id") are read
    where they are (cds.profile.medications)."""
    target = record.medicationReference.reference if record.medicationReference else None
    if record.medicationCodeableConcept is not None or not target or target.startswith("#"):
        return record
    parts = target.rstrip("/").split("/")
    med = medications.get("/".join(parts[-2:]))
    if med is None or med.code is None:
        return record
    return msgspec.structs.replace(record, medicationCodeableConcept=med.code, medicationReference=None)


def medications_to_fetch(resources: Iterable[Resource], server: str | None) -> list[str]:
    """The ids of the Medications that medication records name only by reference (no display) and that
    did not come with the request: relative references ("Medication/123") and absolute ones on
    ``server`` (the request's fhirServer), to be read from it (``Medication?_id=...``); none without a
    server."""
    if not server:
        return []
    base = server.rstrip("/") + "/"
    have: set[str] = set()
    wanted: set[str] = set()
    for r in resources:
        if isinstance(r, Medication) and r.id:
            have.add(r.id)
        elif isinstance(r, MedicationRecord) and r.medicationReference is not None:
            if r.medicationReference.display:
                continue  # named: read by its name (cds.profile.medications), no round trip
            parts = (r.medicationReference.reference or "").removeprefix(base).split("/")
            # only a FHIR id goes into the query sent with the clinician's token: a reference is
            # request data, and "x&_count=..." must not change what is asked
            if len(parts) == 2 and parts[0] == "Medication" and ID.conforms(parts[1]):
                wanted.add(parts[1])
    return sorted(wanted - have)


def _medicine_named(record: MedicationRecord) -> tuple[str, bool]:
    """The medicine a medication record names, so that the clinician can see whether one of them is
    cancer therapy coded in a way the service does not know: (its text or a coding's display, True), else
    (a code or the reference, False: nothing says what the medicine is)."""
    concepts: list[CodeableConcept] = []
    if record.medicationCodeableConcept is not None:
        concepts.append(record.medicationCodeableConcept)
    concepts += [med.code for med in record.contained or () if med.code is not None]
    for concept in concepts:
        if concept.text:
            return concept.text, True
        for coding in concept.coding or ():
            if coding.display:
                return coding.display, True
    reference_to = record.medicationReference
    if reference_to is not None and reference_to.display:
        return reference_to.display, True
    for concept in concepts:
        for coding in concept.coding or ():
            if coding.code:
                return f"code {coding.code}" + (f" ({coding.system})" if coding.system else ""), False
    target = reference_to.reference if reference_to is not None else None
    return (target or "a medicine not named"), False


def select_resources(raw: Iterable[Resource], *, patient_id: str, terminology: Terminology) -> Selection:
    """The relevant, checked resources of ``raw`` (the chart's read models)."""
    chosen: list[Resource] = []
    issues = Issues()
    seen: set[str] = set()
    other_medicines: list[Evidence] = []  # medication records not recognised as cancer medicines
    unnamed: list[Evidence] = []  # ... and naming their medicine only by a code or reference: unknown
    own = _Subject(patient_id)
    resources = tuple(raw)
    medications = {f"Medication/{r.id}": r for r in resources if isinstance(r, Medication) and r.id}
    for resource in resources:
        rtype = READ_TYPES.get(type(resource))
        if rtype is None or rtype not in PROFILE_TYPES:
            continue  # a Medication: read through the records that name it
        if medications and isinstance(resource, MedicationRecord):
            resource = _resolved(resource, medications)
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
            if isinstance(resource, MedicationRecord) and terminology.is_medication_record(resource):
                name, named = _medicine_named(resource)
                found = Evidence(reference(rtype, resource.id), None, name)
                (other_medicines if named else unnamed).append(found)
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
    if unnamed:  # a cancer medicine may hide behind a code or a reference the service cannot read
        issues.extend(
            [
                DataIssue(
                    "prior_therapies",
                    "unreadable",
                    f"{len(unnamed)} medication record(s) name their medicine only by a code or a reference "
                    "this service cannot read, so prior cancer therapy may be missing: "
                    f"{'; '.join(sorted({e.text for e in unnamed})[:3])}.",
                    tuple(unnamed[:5]),
                )
            ]
        )
    return Selection(tuple(chosen), tuple(issues.list()))
