"""build_profile never raises on odd data, reports what it could not read, and works on raw JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.fhir.codes import Terminology
from cds.fhir.select import select_resources
from cds.profile import derive as derive_module
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import FIELDS, PatientProfile
from tests.profile import builders as b
from tests.profile.builders import TODAY

Build = Callable[..., PatientProfile]

ODD: list[dict[str, Any]] = [
    b.observation(b.cc(b.LOINC, "85337-4")),  # no value at all
    b.observation(b.cc(b.LOINC, "85337-4"), quantity=(250, "%")),
    b.observation(b.cc(b.LOINC, "85337-4"), quantity=(-3, "%")),
    b.observation(b.cc(b.LOINC, "85319-2"), quantity=(7, "")),
    b.observation(b.cc(b.LOINC, "85318-4"), value_string="-"),
    b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(text="unknown")),
    b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(b.SNOMED, "261665006")),
    b.observation(b.cc(b.LOINC, "15067-2"), value_string="high", date=None),
    b.observation(b.cc(b.LOINC, "2243-4"), quantity=(12, "")),
    b.observation(b.cc(b.LOINC, "69548-6")),
    b.observation(b.cc(b.LOINC, "69548-6"), components=[b.component(b.cc(b.LOINC, "48018-6"))]),
    b.observation(b.cc(b.SNOMED, "161712005"), boolean=True),
    b.observation(b.cc(b.LOINC, "83052-1"), value_string="CPS", date="2024"),
    b.condition(b.cc(text="Secondary malignant neoplasm"), onset=None, clinical=None, verification=None),
    b.condition(b.cc(b.ICD10CM, "C50"), onset="2021-02"),
    b.condition(b.cc(b.ICD10CM, "Z17"), onset=None),
    b.breast_cancer(stage_summary=b.cc(text="not staged")),
    b.med_request(b.cc(text="Tamoxifen"), authored=None, bounds=(None, "2020-01-01")),
    b.med_request(b.rx("72965"), authored="2024"),
    b.med_statement(b.rx("50610"), start=None, end=None),
    b.procedure(b.cc(text="oophorectomy"), when=None),
]


def test_odd_data_never_raises(build: Build) -> None:
    profile = build(b.patient(birth="2030-01-01"), *ODD)
    assert set(profile.facts()) == set(FIELDS)
    assert profile.issues  # unreadable values were reported
    assert any(i.topic == "age" for i in profile.issues)


@pytest.mark.parametrize("resource", ODD, ids=lambda r: f"{r['resourceType']}-{r['id']}")
def test_each_odd_resource_alone(build: Build, resource: dict[str, Any]) -> None:
    build(b.patient(), resource)


def test_unexpected_failure_in_a_topic_becomes_an_issue(
    terminology: Terminology, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(derive_module, "derive_receptors", boom)
    profile = build_profile(
        [b.model(b.patient()), b.model(b.er(b.POSITIVE))],
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
    )
    assert profile.er_status.value == "unknown"
    assert any(i.kind == "unreadable" and "RuntimeError" in i.message for i in profile.issues)


def test_passed_in_issues_are_kept(terminology: Terminology) -> None:
    from cds.profile.model import DataIssue

    given_issue = DataIssue("data", "truncated", "Observation search was truncated.")
    profile = build_profile(
        [],
        patient_id="x",
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
        issues=[given_issue],
    )
    assert profile.issues[0] == given_issue


TEST_CODES = [
    "85337-4",
    "85339-0",
    "85319-2",
    "85318-4",
    "48676-1",
    "21908-9",
    "21907-1",
    "83052-1",
    "15067-2",
    "2243-4",
    "14715-7",
    "21636-6",
    "59041-4",
    "10480-2",
    "85329-1",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    code=st.sampled_from(TEST_CODES),
    text=st.one_of(st.none(), st.text(max_size=30)),
    number=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32)),
    unit=st.sampled_from(["%", "pg/mL", "pmol/L", "IU/L", "mg", "{ratio}", ""]),
    status=st.sampled_from(["final", "amended", "preliminary", "entered-in-error", "cancelled", "unknown"]),
    when=st.sampled_from([None, "2024", "2024-02", "2024-02-29", "2023-12-31T23:59:59+05:00"]),
)
def test_fuzzed_observation_values_never_raise(
    terminology: Terminology,
    code: str,
    text: str | None,
    number: float | None,
    unit: str,
    status: str,
    when: str | None,
) -> None:
    raw = b.observation(
        b.cc(b.LOINC, code),
        status=status,
        date=when,
        value_string=text if text and text.strip() else None,
        quantity=(number, unit) if number is not None and text is None else None,
    )
    try:
        resource = b.model(raw)
    except ValueError:
        return  # not valid FHIR; select.py would have reported it
    build_profile(
        [b.model(b.patient()), resource],
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
    )


def test_from_raw_json_through_select(terminology: Terminology) -> None:
    raw = [
        b.patient("1956-02-01"),
        b.breast_cancer(),
        b.condition(b.cc(b.ICD10CM, "C78.7"), onset="2024-01-05"),
        b.er(b.POSITIVE),
        b.her2_ihc(value_string="1+"),
        b.observation(b.cc(b.LOINC, "8867-4", "Heart rate"), quantity=(70, "/min")),
        b.condition(b.cc(b.SNOMED, "38341003", "Hypertensive disorder")),
        b.med_request(b.rx("72965"), authored="2024-02-01"),
        {
            "resourceType": "Observation",
            "id": "bad",
            "status": "final",
            "code": {"coding": [{"system": b.LOINC, "code": "85339-0"}]},
            "valueQuantity": {"value": "lots"},
        },
    ]
    resources, unread = b.read_chart(raw)
    selection = select_resources(resources, patient_id=b.PATIENT, terminology=terminology)
    kinds = sorted(type(r).__name__ for r in selection.resources)
    assert "Observation" in kinds and len(selection.resources) == 6
    profile = build_profile(
        selection.resources,
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
        issues=[*unread, *selection.issues],
    )
    assert profile.metastatic.value == "yes"
    assert profile.visceral_metastases.value == "yes"
    assert profile.subtype.value == "hr_positive_her2_negative"  # ER+ (PR unknown) is HR+; HER2 1+ negative
    assert profile.hormone_receptor_status.value == "positive"
    assert profile.her2_low.value == "yes"
    assert profile.metastatic_lines.value == 1
    assert any(i.kind == "unreadable" and "Observation/bad" in i.message for i in profile.issues)
