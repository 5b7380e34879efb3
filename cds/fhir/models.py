"""Read models: the FHIR R4 elements the profile reads, as msgspec Structs checked in two steps.

The pathway reads about sixty elements of seven resource types. Validating whole resources with the
R4B models of fhir.resources costs ~0.07 ms each in Python validators, four times the HTTP floor's whole
call for a typical chart. These models declare only the elements the profile reads:

1. **Shape**, checked by msgspec while it decodes (compiled, no Python per value): JSON types
   (no coercion: ``"12"`` is not a number, ``"true"`` not a boolean), objects and lists where FHIR has
   them, required elements. msgspec decodes a request's whole prefetch straight into these Structs
   (cds.fhir.request), faster than parsing it into dicts, because it never builds what the profile does
   not read; dicts (a FHIR server's answers, odd requests) are converted with the same rules.
2. **Content**, checked by ``cds.fhir.check`` only for the resources the pre-filter keeps: the R4
   regexes for ``id``, ``code``, ``uri``, ``date``, ``dateTime`` and ``instant`` (with real calendar
   dates), non-empty strings, 32-bit integers, one value per choice element, no ``modifierExtension``.
   Run at decode time they would cost more than the decode itself for the ~85% of a chart the
   profile never reads (vitals, unrelated labs); so the types below carry them as ``Format`` markers,
   which msgspec ignores.

What they do not check is what the profile never reads: an unknown or malformed element elsewhere in a
resource does not make its receptor result unusable (a tolerant reader). ``CDS_FHIR_VALIDATION=full``
adds whole-resource R4B validation for sites that want it (cds.fhir.select). A test keeps every element
declared here consistent with the R4B definitions (tests/fhir/test_models.py).

Attribute names are FHIR's; the profile reads these models, typed, and nothing else. Dates stay the
strings FHIR sent (cds.profile.dates reads them). The Structs are frozen and untracked by the cyclic
garbage collector (``gc=False``: they cannot form cycles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import msgspec
from fhir.resources.R4B import (
    condition,
    medicationadministration,
    medicationrequest,
    medicationstatement,
    observation,
    patient,
    procedure,
)
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from cds.fhir.formats import (
    CODE,
    DATE,
    DATETIME,
    ID,
    INSTANT,
    INTEGER,
    STRING,
    URI,
)

# --- primitives: JSON types for msgspec, Format markers for cds.fhir.check -------------------------------

String = Annotated[str, STRING]
Code = Annotated[str, CODE]
Id = Annotated[str, ID]
Uri = Annotated[str, URI]
Date = Annotated[str, DATE]
DateTime = Annotated[str, DATETIME]
Instant = Annotated[str, INSTANT]
Number = int | float  # a FHIR decimal: JSON numbers only (msgspec refuses strings and booleans)
Integer = Annotated[int, INTEGER]
# A choice element's variant the profile never reads, declared only so that a second value of the
# choice is seen (cds.fhir.check): its content is not checked.
Unread = Any


class Element(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Unknown elements are ignored; declared ones must have FHIR's JSON types (no coercion)."""


class BackboneElement(Element, frozen=True, kw_only=True, gc=False):
    # FHIR: an element with a modifierExtension the reader does not understand must not be used
    # (cds.fhir.check refuses any).
    modifierExtension: list[Any] | None = None


# --- datatypes ------------------------------------------------------------------------------------


class Coding(Element, frozen=True, kw_only=True, gc=False):
    system: Uri | None = None
    code: Code | None = None
    display: String | None = None


class CodeableConcept(Element, frozen=True, kw_only=True, gc=False):
    coding: list[Coding] | None = None
    text: String | None = None


class Reference(Element, frozen=True, kw_only=True, gc=False):
    reference: String | None = None
    display: String | None = None


class Period(Element, frozen=True, kw_only=True, gc=False):
    start: DateTime | None = None
    end: DateTime | None = None


class Quantity(Element, frozen=True, kw_only=True, gc=False):
    value: Number | None = None
    comparator: Code | None = None
    unit: String | None = None
    system: Uri | None = None
    code: Code | None = None


class Ratio(Element, frozen=True, kw_only=True, gc=False):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Annotation(Element, frozen=True, kw_only=True, gc=False):
    text: String  # markdown, 1..1


class Extension(Element, frozen=True, kw_only=True, gc=False):
    url: Uri
    valueCodeableConcept: CodeableConcept | None = None


class TimingRepeat(Element, frozen=True, kw_only=True, gc=False):
    boundsPeriod: Period | None = None


class Timing(BackboneElement, frozen=True, kw_only=True, gc=False):
    event: list[DateTime] | None = None
    repeat: TimingRepeat | None = None


class Dosage(BackboneElement, frozen=True, kw_only=True, gc=False):
    timing: Timing | None = None


# --- resources --------------------------------------------------------------------------------------


class Resource(BackboneElement, frozen=True, kw_only=True, gc=False, tag_field="resourceType"):
    __resource_type__: ClassVar[str] = "Resource"

    id: Id | None = None
    extension: list[Extension] | None = None


class Medication(Resource, frozen=True, kw_only=True, gc=False, tag=True):
    """Contained in a medication record, or sent beside it and named by its ``medicationReference``."""

    __resource_type__ = "Medication"
    code: CodeableConcept | None = None


class Patient(Resource, frozen=True, kw_only=True, gc=False, tag=True):
    __resource_type__ = "Patient"
    gender: Code | None = None
    birthDate: Date | None = None
    # read by cds.profile.patient as sent, so unchecked here: a deceasedDateTime that is no date still
    # reads as deceased, with a data issue saying the date could not be read
    deceasedBoolean: Unread = None
    deceasedDateTime: Unread = None
    multipleBirthBoolean: Unread = None
    multipleBirthInteger: Unread = None


class ConditionStage(BackboneElement, frozen=True, kw_only=True, gc=False):
    summary: CodeableConcept | None = None


class Condition(Resource, frozen=True, kw_only=True, gc=False, tag=True):
    __resource_type__ = "Condition"
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    subject: Reference | None = None
    onsetDateTime: DateTime | None = None
    onsetPeriod: Period | None = None
    onsetAge: Unread = None
    onsetRange: Unread = None
    onsetString: Unread = None
    abatementDateTime: DateTime | None = None
    abatementPeriod: Period | None = None
    abatementAge: Quantity | None = None
    abatementString: String | None = None
    abatementRange: Unread = None
    recordedDate: DateTime | None = None
    stage: list[ConditionStage] | None = None


class ObservationComponent(BackboneElement, frozen=True, kw_only=True, gc=False):
    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: String | None = None
    valueBoolean: bool | None = None
    valueInteger: Integer | None = None
    valueRatio: Ratio | None = None
    valueRange: Unread = None
    valueSampledData: Unread = None
    valueTime: Unread = None
    valueDateTime: Unread = None
    valuePeriod: Unread = None
    interpretation: list[CodeableConcept] | None = None


class Observation(Resource, frozen=True, kw_only=True, gc=False, tag=True):
    # the value elements repeat ObservationComponent's (msgspec Structs have one base class)
    __resource_type__ = "Observation"
    status: Code
    code: CodeableConcept
    subject: Reference | None = None
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None
    effectiveInstant: Instant | None = None
    effectiveTiming: Unread = None
    issued: Instant | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: String | None = None
    valueBoolean: bool | None = None
    valueInteger: Integer | None = None
    valueRatio: Ratio | None = None
    valueRange: Unread = None
    valueSampledData: Unread = None
    valueTime: Unread = None
    valueDateTime: Unread = None
    valuePeriod: Unread = None
    dataAbsentReason: CodeableConcept | None = None
    interpretation: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None
    hasMember: list[Reference] | None = None
    component: list[ObservationComponent] | None = None


class _MedicationRecord(Resource, frozen=True, kw_only=True, gc=False):
    status: Code
    subject: Reference | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    # only contained Medications are read (the target of medicationReference "#id"); a record that
    # contains other resources is read from a dict, which drops them first (cds.fhir.check)
    contained: list[Medication] | None = None


class DispenseRequest(BackboneElement, frozen=True, kw_only=True, gc=False):
    validityPeriod: Period | None = None


class MedicationRequest(_MedicationRecord, frozen=True, kw_only=True, gc=False, tag=True):
    __resource_type__ = "MedicationRequest"
    intent: Code
    statusReason: CodeableConcept | None = None
    authoredOn: DateTime | None = None
    dosageInstruction: list[Dosage] | None = None
    dispenseRequest: DispenseRequest | None = None
    reportedBoolean: Unread = None
    reportedReference: Unread = None


class MedicationStatement(_MedicationRecord, frozen=True, kw_only=True, gc=False, tag=True):
    __resource_type__ = "MedicationStatement"
    statusReason: list[CodeableConcept] | None = None
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None
    dateAsserted: DateTime | None = None


class MedicationAdministration(_MedicationRecord, frozen=True, kw_only=True, gc=False, tag=True):
    __resource_type__ = "MedicationAdministration"
    statusReason: list[CodeableConcept] | None = None
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None


class Procedure(Resource, frozen=True, kw_only=True, gc=False, tag=True):
    __resource_type__ = "Procedure"
    status: Code
    subject: Reference | None = None
    code: CodeableConcept | None = None
    performedDateTime: DateTime | None = None
    performedPeriod: Period | None = None
    performedString: Unread = None
    performedAge: Unread = None
    performedRange: Unread = None


#: The resource types read, by name: the profile's, and Medication, read through the medication
#: records that name it by reference (cds.fhir.select).
MODELS: Mapping[str, type[Resource]] = {
    m.__resource_type__: m
    for m in (
        Patient,
        Condition,
        Observation,
        MedicationRequest,
        MedicationStatement,
        MedicationAdministration,
        Procedure,
        Medication,
    )
}
# Every read model's class -> its resource type: the hot paths name a resource by one dict lookup on
# its type (cds.fhir.codes.resource_type), where isinstance and a class attribute cost several.
READ_TYPES: Mapping[type, str] = {m: rtype for rtype, m in MODELS.items()}


# --- choice elements ------------------------------------------------------------------------------


def _choice_groups(r4b_model: type[FHIRAbstractModel]) -> Mapping[str, str]:
    """Each choice element's name -> its group (``valueQuantity`` -> ``value``), from the R4B definition."""
    groups = r4b_model.model_construct().get_one_of_many_fields()
    return {name: group for group, names in groups.items() for name in names}


CHOICES: Mapping[str, Mapping[str, str]] = {
    "Patient": _choice_groups(patient.Patient),
    "Condition": _choice_groups(condition.Condition),
    "Observation": _choice_groups(observation.Observation),
    "MedicationRequest": _choice_groups(medicationrequest.MedicationRequest),
    "MedicationStatement": _choice_groups(medicationstatement.MedicationStatement),
    "MedicationAdministration": _choice_groups(medicationadministration.MedicationAdministration),
    "Procedure": _choice_groups(procedure.Procedure),
}
COMPONENT_CHOICES = _choice_groups(observation.ObservationComponent)


class ChoiceError(ValueError):
    """Two values for one choice element (``valueQuantity`` and ``valueString``): which one holds?"""
