"""The read models (cds.fhir.models) against the R4B definitions.

They replace whole-resource R4B validation on the hot path, so every element they declare must be the
FHIR element of that name (same cardinality, same required-ness), and every variant of a choice the
profile reads must be declared so that two values are seen. That the profile reads only declared
elements is checked by mypy (cds/profile reads the models' attributes, typed).
"""

from __future__ import annotations

import copy
import re
import typing
from datetime import date
from pathlib import Path
from typing import Any, Literal

import msgspec
import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.condition import ConditionStage
from fhir.resources.R4B.medicationrequest import MedicationRequestDispenseRequest
from fhir.resources.R4B.observation import ObservationComponent
from fhir.resources.R4B.timing import TimingRepeat
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic.fields import FieldInfo

from cds.fhir import formats, models
from cds.fhir.codes import Terminology
from cds.fhir.request import KeyData, Reader, read_value
from cds.fhir.select import select_resources
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings
from tests.fhir.helpers import resources_of
from tests.fixtures_support import load_scenarios
from tests.profile import builders
from tests.profile.builders import read as read_resource

ROOT = Path(__file__).resolve().parents[2]
TERMINOLOGY = Terminology.load(ROOT / "cards" / "codes")
TODAY = date(2026, 6, 1)
SCENARIOS = [s for s in load_scenarios() if s.status == 200]
BACKBONE = {
    "ConditionStage": ConditionStage,
    "ObservationComponent": ObservationComponent,
    "TimingRepeat": TimingRepeat,
    "DispenseRequest": MedicationRequestDispenseRequest,
}
READ_MODELS = [
    cls
    for cls in vars(models).values()
    if isinstance(cls, type)
    and issubclass(cls, models.Element)
    and not cls.__name__.startswith("_")
    and cls not in (models.Element, models.BackboneElement, models.Resource)
]


def _r4b(cls: type[models.Element]) -> type[FHIRAbstractModel]:
    return BACKBONE.get(cls.__name__) or get_fhir_model_class(cls.__name__)


def _is_list(annotation: Any) -> bool:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    args = [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in args]
    return any(typing.get_origin(a) in (list, typing.List) for a in args)  # noqa: UP006


def _required(field: FieldInfo) -> bool:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return field.is_required() or bool(extra.get("element_required"))


# Declared optional though R4 requires them: read only to refuse another patient's data, and a chart
# without them was always read (the selector takes a resource with no subject as the patient's).
OPTIONAL_HERE = {"subject", "modifierExtension"}


@pytest.mark.parametrize("cls", READ_MODELS, ids=lambda c: c.__name__)
def test_each_declared_element_is_the_r4b_element(cls: type[models.Element]) -> None:
    r4b_fields = _r4b(cls).model_fields
    for field in msgspec.structs.fields(cls):
        name = field.name
        assert name in r4b_fields, f"{cls.__name__}.{name} is not an R4 element"
        r4b = r4b_fields[name]
        assert _is_list(field.type) == _is_list(r4b.annotation), f"{cls.__name__}.{name} cardinality"
        if name not in OPTIONAL_HERE:
            assert field.required == _required(r4b), f"{cls.__name__}.{name} required-ness"


@pytest.mark.parametrize(
    "cls",
    # the Medication read model has one element, its code: no choice element to declare
    [*(m for m in models.MODELS.values() if m is not models.Medication), models.ObservationComponent],
    ids=lambda c: c.__name__,
)
def test_every_variant_of_a_choice_is_declared_so_that_two_values_are_seen(
    cls: type[models.Element],
) -> None:
    if cls is models.ObservationComponent:
        groups = models.COMPONENT_CHOICES
    else:
        groups = models.CHOICES[cls.__resource_type__]  # type: ignore[attr-defined]
    assert groups and set(groups) <= set(cls.__struct_fields__)


# --- what the read models refuse, and what they tolerate ---------------------------------------------


def _er(**changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "er1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "16112-5"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-01",
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]},
    }
    resource.update(changes)
    return resource


def _read(resource: dict[str, Any], *, full: bool = False) -> tuple[int, str]:
    """What becomes of one resource the profile would read: (1 when it is read, the issues' words)."""
    data = KeyData("observations")
    model = read_value(resource, data, 0, Reader(full=full, max_depth=16), outcome=False)
    selection = select_resources([model] if model else [], patient_id="p1", terminology=TERMINOLOGY)
    issues = [*data.issues.list(), *selection.issues]
    return len(selection.resources), " ".join(i.message for i in issues)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"effectiveDateTime": "2024-02-30"}, "effectiveDateTime"),  # matches the regex, never existed
        ({"effectiveDateTime": "01/03/2024"}, "effectiveDateTime"),
        ({"valueString": "positive"}, "more than one value[x]"),
        (
            {"modifierExtension": [{"url": "http://example.org/negated", "valueBoolean": True}]},
            "modifierExtension",
        ),
        ({"status": None}, "status"),
        ({"valueCodeableConcept": {"coding": [{"code": 10828004}]}}, "valueCodeableConcept.coding.0.code"),
        ({"valueQuantity": {"value": "12"}, "valueCodeableConcept": None}, "valueQuantity.value"),
        ({"valueBoolean": "true", "valueCodeableConcept": None}, "valueBoolean"),
        ({"id": "has space"}, "id"),
    ],
)
def test_a_bad_element_the_profile_reads_makes_the_resource_unreadable(
    changes: dict[str, Any], why: str
) -> None:
    resource = {k: v for k, v in _er(**changes).items() if v is not None}
    kept, message = _read(resource)
    assert kept == 0
    assert "Observation/" in message and "was not used" in message and why in message


def _selected(*resources: dict[str, Any]) -> Any:
    data = KeyData("medications")
    reader = Reader(full=False, max_depth=16)
    chart = [read_value(r, data, i, reader, outcome=False) for i, r in enumerate(resources)]
    return select_resources([m for m in chart if m], patient_id="p1", terminology=TERMINOLOGY)


def _on_p1(record: dict[str, Any]) -> dict[str, Any]:
    return record | {"subject": {"reference": "Patient/p1"}}


def test_medicines_not_recognised_as_cancer_therapy_are_named_for_the_clinician() -> None:
    """Review 9, finding 9: "1 medication record(s) not recognised as cancer medicines were not used" named
    nothing, so the clinician could not tell whether it was a cancer drug coded in a way the service does
    not know; the issue names the medicines."""
    lisinopril = builders.med_request(builders.cc(builders.RXNORM, "314076", "lisinopril 10 MG Oral Tablet"))
    statin = builders.med_statement(builders.cc("urn:local:pharmacy", "X-88", "Atorvastatine 20 mg"))
    selection = _selected(_on_p1(lisinopril), _on_p1(statin))
    assert selection.resources == ()
    (issue,) = selection.issues
    assert issue.topic == "medication_history" and issue.kind == "ignored"
    assert "lisinopril 10 MG Oral Tablet" in issue.message and "Atorvastatine 20 mg" in issue.message
    assert {e.reference.split("/")[0] for e in issue.evidence} == {"MedicationRequest", "MedicationStatement"}


G_STANDAARD_GPK = "urn:oid:2.16.840.1.113883.2.4.4.1"


def test_a_medicine_named_only_by_an_unknown_code_is_reported_as_unreadable_not_as_no_cancer_therapy() -> (
    None
):
    """Third-party round 5 (HL7 IPS, Dutch coding): anastrozole coded only by a G-Standaard code without a
    display was read as "not a cancer medicine", and a woman who relapsed on adjuvant anastrozole was
    offered an aromatase inhibitor + CDK4/6 inhibitor as first line. Nothing says what such a medicine is."""
    coded_only = builders.med_statement({"coding": [{"system": G_STANDAARD_GPK, "code": "99872"}]})
    reference_only = builders.med_request(reference={"reference": "Medication/not-sent"})
    selection = _selected(_on_p1(coded_only), _on_p1(reference_only))
    (issue,) = selection.issues
    assert issue.topic == "prior_therapies" and issue.kind == "unreadable"
    assert "prior cancer therapy may be missing" in issue.message
    assert f"code 99872 ({G_STANDAARD_GPK})" in issue.message and "Medication/not-sent" in issue.message


def test_a_medication_reference_to_a_medication_sent_in_the_request_reads_its_code() -> None:
    """Third-party round 5 (HL7 IPS): the MedicationStatement names anastrozole by a reference to a
    Medication resource sent beside it (a Bundle's included entry), not contained: it was read as "not a
    cancer medicine"."""
    medication = {
        "resourceType": "Medication",
        "id": "976d0804",
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L02BG03"}]},
    }
    statement = builders.med_statement(
        builders.cc(builders.RXNORM, "84857", "anastrozole"), start="2014-03-01", end="2019-03-01"
    )
    del statement["medicationCodeableConcept"]
    statement["medicationReference"] = {"reference": "https://ehr.example.org/fhir/Medication/976d0804"}
    selection = _selected(_on_p1(statement), medication)
    (record,) = selection.resources
    assert record.medicationCodeableConcept.coding[0].code == "L02BG03"
    assert not selection.issues


def _existed(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


# ordinary, leap, century (not leap) and 400-year (leap) years, and the ends of FHIR's range
CALENDAR_YEARS = (1, 4, 100, 400, 1600, 1700, 1899, 1900, 1996, 2000, 2023, 2024, 2025, 2100, 2400, 9999)


@pytest.mark.parametrize("year", CALENDAR_YEARS)
def test_a_full_date_is_accepted_exactly_when_that_day_existed(year: int) -> None:
    """The date regexes carry the calendar (month lengths, leap years); checked against datetime.date
    for every month and day 01-31 of years chosen for the leap-year rules."""
    for month in range(1, 13):
        for day in range(1, 32):
            text = f"{year:04d}-{month:02d}-{day:02d}"
            existed = _existed(year, month, day)
            assert bool(re.fullmatch(formats.DATE_RE, text)) is existed, text
            assert bool(re.fullmatch(formats.DATETIME_RE, text + "T10:30:00+01:00")) is existed, text
            assert bool(re.fullmatch(formats.INSTANT_RE, text + "T10:30:00.5Z")) is existed, text


@pytest.mark.parametrize(
    ("when", "readable"),
    [
        ("2024-02-29", True),
        ("2000-02-29", True),
        ("2023-02-29", False),
        ("1900-02-29", False),
        ("2024-04-31", False),
        ("2024-02", True),
        ("2024", True),
        ("0000", False),
    ],
)
def test_the_read_model_takes_dates_that_existed_only(when: str, readable: bool) -> None:
    kept, message = _read(_er(effectiveDateTime=when))
    assert kept == int(readable), message


def test_a_component_modifier_extension_is_refused_too() -> None:
    component = {"code": {"text": "x"}, "modifierExtension": [{"url": "http://example.org/m"}]}
    kept, message = _read(_er(component=[component]))
    assert kept == 0 and "component.0.modifierExtension" in message


def test_an_element_the_profile_does_not_read_is_tolerated_unless_full_validation_is_asked() -> None:
    resource = _er(performer="Dr Smith", vendorField={"x": 1})  # wrong type, and not an R4 element
    assert _read(resource) == (1, "")
    kept, message = _read(resource, full=True)
    assert kept == 0 and "not valid FHIR R4" in message


def test_full_validation_refuses_deep_nesting_before_the_r4b_models_recurse() -> None:
    deep: dict[str, Any] = {"url": "http://example.org/e"}
    for _ in range(40):
        deep = {"url": "http://example.org/e", "extension": [deep]}
    resource = _er(extension=[deep])
    assert _read(resource)[0] == 1  # the read models never descend into extension.extension
    kept, message = _read(resource, full=True)
    assert kept == 0 and "nested more than 16 levels" in message


def test_valid_resources_keep_their_values_as_sent() -> None:
    resource = _er(valueCodeableConcept=None, valueQuantity={"value": 12, "unit": "%"})
    read = read_resource("Observation", {k: v for k, v in resource.items() if v is not None})
    assert read.valueQuantity is not None and read.valueQuantity.value == 12
    assert isinstance(read.valueQuantity.value, int)
    assert read.effectiveDateTime == "2024-03-01"


def test_contained_resources_other_than_medications_are_skipped() -> None:
    record = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "#m1"},
        "contained": [
            {"resourceType": "Organization", "id": "o1", "name": "Pharmacy"},
            {"resourceType": "Medication", "id": "m1", "code": {"text": "Letrozole 2.5 mg"}},
        ],
    }
    read = read_resource("MedicationRequest", copy.deepcopy(record))
    assert [m.id for m in read.contained or ()] == ["m1"]


@pytest.mark.parametrize(("mode", "reported"), [("read", False), ("full", True)])
def test_the_validation_setting_reaches_the_service(mode: Literal["read", "full"], reported: bool) -> None:
    scenario = next(
        s
        for s in SCENARIOS
        if any(r.get("resourceType") == "Observation" for r in resources_of(s.request["prefetch"]))
    )
    settings = Settings(fhir_validation=mode, auth="off")
    service = PatientViewService(settings, load_knowledge(settings.knowledge_dir), fetcher=None)  # type: ignore[arg-type]  # nothing is fetched
    request = copy.deepcopy(scenario.request)
    bundles = (v for v in request["prefetch"].values() if isinstance(v, dict) and "entry" in v)
    target = next(
        e["resource"] for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    target["vendorNote"] = "not an R4 element"
    pending = service.prepare(orjson.dumps(request))
    profile = service.profile(pending.keyed, pending.context.patientId, TODAY)
    flagged = any("vendorNote" in i.message or "not valid FHIR R4" in i.message for i in profile.issues)
    assert flagged is reported
