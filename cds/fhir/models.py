"""Read models: the FHIR R4 elements the profile reads, checked by a compiled schema.

The pathway reads about sixty elements of seven resource types. Validating whole resources with the
R4B models of fhir.resources costs ~0.07 ms each in Python validators, four times the HTTP floor's whole
call for a typical chart. These models declare only the elements the profile reads, with the FHIR
datatype rules that matter to it (JSON types, cardinality, the R4 regexes for ``id``, ``code``, ``date``,
``dateTime`` and ``instant``, real calendar dates, no ``modifierExtension``), which pydantic-core checks
almost entirely in compiled code (~6 us a resource); cds.fhir.select first checks on the raw JSON
that each choice element has one value (``CHOICES``).

What they do not check is what the profile never reads: an unknown or malformed element elsewhere in a
resource does not make its receptor result unusable (a tolerant reader). ``CDS_FHIR_VALIDATION=full``
adds whole-resource R4B validation for sites that want it (cds.fhir.select). A test keeps every element
declared here consistent with the R4B definitions (tests/fhir/test_models.py).

Attribute names are FHIR's, so the profile reads these exactly as it would read R4B instances; dates stay
the strings FHIR sent (cds.profile.dates reads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

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
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

# --- primitives (regexes from the FHIR R4 datatypes page, anchored) ----------------------------------

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
# A full date must also have existed (the R4 regex admits 2024-02-30): month lengths, and 29 February
# in leap years only (divisible by 4; of the centuries, those divisible by 400). In the regex, so that
# pydantic-core checks it in compiled code; a Python validator cost a tenth of each resource's read.
_MONTH_DAY = (
    r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_FULL_DATE = rf"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
DATE_RE = rf"^({_YEAR}(-{_MONTH})?|{_FULL_DATE})$"
DATETIME_RE = rf"^({_YEAR}(-{_MONTH})?|{_FULL_DATE}(T{_TIME}{_ZONE})?)$"
INSTANT_RE = rf"^{_FULL_DATE}T{_TIME}{_ZONE}$"


String = Annotated[str, StringConstraints(min_length=1)]
Code = Annotated[str, StringConstraints(pattern=r"^[^\s]+(\s[^\s]+)*$")]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
Uri = Annotated[str, StringConstraints(pattern=r"^\S*$")]
Date = Annotated[str, StringConstraints(pattern=DATE_RE)]
DateTime = Annotated[str, StringConstraints(pattern=DATETIME_RE)]
Instant = Annotated[str, StringConstraints(pattern=INSTANT_RE)]
Number = int | float  # a FHIR decimal: JSON numbers only (strict mode refuses strings and booleans)
Integer = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Element(BaseModel):
    """Unknown elements are ignored; declared ones must have FHIR's JSON types (no coercion)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class BackboneElement(Element):
    # FHIR: an element with a modifierExtension the reader does not understand must not be used.
    modifierExtension: Annotated[list[Any], Field(max_length=0)] | None = None


# --- datatypes ------------------------------------------------------------------------------------


class Coding(Element):
    system: Uri | None = None
    code: Code | None = None
    display: String | None = None


class CodeableConcept(Element):
    coding: list[Coding] | None = None
    text: String | None = None


class Reference(Element):
    reference: String | None = None
    display: String | None = None


class Period(Element):
    start: DateTime | None = None
    end: DateTime | None = None


class Quantity(Element):
    value: Number | None = None
    comparator: Code | None = None
    unit: String | None = None
    system: Uri | None = None
    code: Code | None = None


class Ratio(Element):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Annotation(Element):
    text: String  # markdown, 1..1


class Extension(Element):
    url: Uri
    valueCodeableConcept: CodeableConcept | None = None


class TimingRepeat(Element):
    boundsPeriod: Period | None = None


class Timing(BackboneElement):
    event: list[DateTime] | None = None
    repeat: TimingRepeat | None = None


class Dosage(BackboneElement):
    timing: Timing | None = None


# --- resources --------------------------------------------------------------------------------------


class Resource(BackboneElement):
    __resource_type__: ClassVar[str] = "Resource"

    id: Id | None = None
    extension: list[Extension] | None = None


class Medication(Resource):
    """Only as a contained resource of a medication record."""

    __resource_type__ = "Medication"
    code: CodeableConcept | None = None


class Patient(Resource):
    __resource_type__ = "Patient"
    gender: Code | None = None
    birthDate: Date | None = None


class ConditionStage(BackboneElement):
    summary: CodeableConcept | None = None


class Condition(Resource):
    __resource_type__ = "Condition"
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    onsetDateTime: DateTime | None = None
    onsetPeriod: Period | None = None
    abatementDateTime: DateTime | None = None
    abatementPeriod: Period | None = None
    abatementAge: Quantity | None = None
    abatementString: String | None = None
    recordedDate: DateTime | None = None
    stage: list[ConditionStage] | None = None


class _Valued(BackboneElement):
    """The value[x] shapes the profile reads (an Observation or one of its components)."""

    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: String | None = None
    valueBoolean: bool | None = None
    valueInteger: Integer | None = None
    valueRatio: Ratio | None = None
    interpretation: list[CodeableConcept] | None = None


class ObservationComponent(_Valued):
    pass


class Observation(Resource, _Valued):
    __resource_type__ = "Observation"
    status: Code
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None
    effectiveInstant: Instant | None = None
    issued: Instant | None = None
    note: list[Annotation] | None = None
    component: list[ObservationComponent] | None = None


def _medications_only(items: Any) -> Any:
    if not isinstance(items, list):
        return items  # the list type check reports it
    return [i for i in items if not isinstance(i, Mapping) or i.get("resourceType") == "Medication"]


class _MedicationRecord(Resource):
    status: Code
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    # only contained Medications are read (the target of medicationReference "#id")
    contained: Annotated[list[Medication], BeforeValidator(_medications_only)] | None = None


class DispenseRequest(BackboneElement):
    validityPeriod: Period | None = None


class MedicationRequest(_MedicationRecord):
    __resource_type__ = "MedicationRequest"
    intent: Code
    authoredOn: DateTime | None = None
    dosageInstruction: list[Dosage] | None = None
    dispenseRequest: DispenseRequest | None = None


class MedicationStatement(_MedicationRecord):
    __resource_type__ = "MedicationStatement"
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None
    dateAsserted: DateTime | None = None


class MedicationAdministration(_MedicationRecord):
    __resource_type__ = "MedicationAdministration"
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None


class Procedure(Resource):
    __resource_type__ = "Procedure"
    status: Code
    code: CodeableConcept | None = None
    performedDateTime: DateTime | None = None
    performedPeriod: Period | None = None


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
    )
}


# --- choice elements ------------------------------------------------------------------------------
# pydantic has no "one of these keys" constraint, and a Python model validator costs more than the
# whole compiled validation of a resource; so the rule is checked on the raw JSON before validating.


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
