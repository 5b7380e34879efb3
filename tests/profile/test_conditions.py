"""Breast cancer, metastatic status (conditions, stage, M category, conflicts) and sites."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (b.cc(b.SNOMED, "254837009", "Malignant neoplasm of breast (disorder)"), "yes"),
        (b.cc(b.SNOMED, "353431000119107", "Primary malignant neoplasm of female left breast"), "yes"),
        (b.cc(b.SNOMED, "706970001", "Triple negative malignant neoplasm of breast"), "yes"),
        (b.cc(b.ICD10CM, "C50.912", "Malignant neoplasm of unspecified site of left female breast"), "yes"),
        (b.cc(b.ICD10CM, "C50912"), "yes"),
        (b.cc("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "C50.3", "Bösartige Neubildung"), "yes"),
        (b.cc("http://hl7.org/fhir/sid/icd-10", "C50.9"), "yes"),
        (b.cc("urn:local", "BC1", "Carcinoma of breast, left"), "yes"),
        (b.cc(text="Invasive lobular carcinoma, right breast"), "yes"),
        (b.cc(b.SNOMED, "999999999", "Infiltrating lobular carcinoma of breast (disorder)"), "yes"),
        (b.cc(b.ICD10CM, "Z85.3", "Personal history of malignant neoplasm of breast"), "yes"),
        (b.cc(text="Family history of breast cancer"), "no"),
        (b.cc(text="Ductal carcinoma in situ of breast"), "no"),
    ],
)
def test_breast_cancer_by_coding(build: Build, code: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), b.condition(code))
    assert profile.breast_cancer.value == expected
    if expected == "yes":
        assert profile.breast_cancer.evidence[0].reference.startswith("Condition/")


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_breast_cancer_is_ignored(build: Build, verification: str) -> None:
    profile = build(b.patient(), b.breast_cancer(verification=verification))
    assert profile.breast_cancer.value == "unknown"


def test_no_conditions_means_unknown(build: Build) -> None:
    assert build(b.patient()).breast_cancer.value == "unknown"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (b.condition(b.cc(b.SNOMED, "128462008", "Secondary malignant neoplastic disease")), "yes"),
        (b.condition(b.cc(b.SNOMED, "315004001", "Metastasis from malignant tumor of breast")), "yes"),
        (b.condition(b.cc(b.ICD10CM, "C79.51", "Secondary malignant neoplasm of bone")), "yes"),
        (b.condition(b.cc(b.ICD10CM, "C7B.02")), "yes"),
        (b.condition(b.cc(text="Metastatic breast cancer to liver")), "yes"),
        (b.breast_cancer(stage_summary=b.cc(b.SNOMED, "1222837003", "AJCC stage IV")), "yes"),
        (b.breast_cancer(stage_summary=b.cc(b.AJCC, "4", "IV")), "yes"),
        (b.breast_cancer(stage_summary=b.cc(text="Stage IIB")), "no"),
        (b.condition(b.cc("urn:local", "BC4", "Malignant neoplasm of breast, stage IV")), "yes"),
        (b.condition(b.cc(text="Breast cancer stage 2A")), "no"),
        (b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(b.SNOMED, "258228008", "Stage 4")), "yes"),
        (b.observation(b.cc(b.LOINC, "21902-2"), value=b.cc(b.SNOMED, "261643006", "Stage 4B")), "yes"),
        (
            b.observation(b.cc(b.SNOMED, "399537006"), value=b.cc(b.SNOMED, "2640006", "Clinical stage IV")),
            "yes",
        ),
        (b.observation(b.cc(b.LOINC, "21914-7"), value=b.cc(b.AJCC, "4B")), "yes"),
        (b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(text="Stage IV")), "yes"),
        (b.observation(b.cc(b.LOINC, "21908-9"), value_string="IVB"), "yes"),
        (b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(b.SNOMED, "261638004", "Stage 3A")), "no"),
        (b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(b.AJCC, "3C")), "no"),
        (b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229903009", "cM1")), "yes"),
        (b.observation(b.cc(b.SNOMED, "371497001"), value=b.cc(b.SNOMED, "1229916009", "pM1")), "yes"),
        (b.observation(b.cc(b.LOINC, "21907-1"), value=b.cc(b.SNOMED, "55440008", "M1 category")), "yes"),
        (b.observation(b.cc(b.LOINC, "21907-1"), value=b.cc(text="cM1")), "yes"),
        (b.observation(b.cc(b.LOINC, "21901-4"), value_string="pM1a"), "yes"),
        (b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229901006", "cM0")), "no"),
        (b.observation(b.cc(b.LOINC, "21907-1"), value=b.cc(b.SNOMED, "30893008", "M0 category")), "no"),
        (b.observation(b.cc(b.LOINC, "21907-1"), value_string="cM0(i+)"), "no"),
        (b.observation(b.cc(b.SNOMED, "1098951000119108", "History of cancer metastatic to liver")), "yes"),
        (b.observation(b.cc(b.SNOMED, "1287652008"), boolean=True), "yes"),
        (b.observation(b.cc(b.SNOMED, "1287652008"), boolean=False), "no"),
        (
            b.observation(
                b.cc(b.LOINC, "44667-4"), value=b.cc(b.SNOMED, "260413007", "None (qualifier value)")
            ),
            "no",
        ),
        (b.observation(b.cc(b.LOINC, "44667-4"), value=b.cc(text="Liver")), "yes"),
    ],
)
def test_metastatic_evidence(build: Build, resource: dict[str, Any], expected: str) -> None:
    profile = build(b.patient(), b.breast_cancer(), resource)
    assert profile.metastatic.value == expected
    assert profile.metastatic.evidence


def test_no_staging_is_unknown(build: Build) -> None:
    assert build(b.patient(), b.breast_cancer()).metastatic.value == "unknown"


@pytest.mark.parametrize(
    ("older", "newer", "expected"),
    [
        ("no", "yes", "yes"),
        ("yes", "no", "no"),
    ],
)
def test_most_recent_wins_and_conflict_is_reported(
    build: Build, older: str, newer: str, expected: str
) -> None:
    def ev(value: str, when: str) -> dict[str, Any]:
        code = "1229903009" if value == "yes" else "1229901006"
        return b.observation(
            b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, code), date=when, rid=f"m-{when}"
        )

    profile = build(b.patient(), b.breast_cancer(), ev(older, "2019-05-01"), ev(newer, "2022-08-01"))
    assert profile.metastatic.value == expected
    conflicts = [i for i in profile.issues if i.topic == "metastatic" and i.kind == "conflicting"]
    assert len(conflicts) == 1
    refs = {e.reference for e in conflicts[0].evidence}
    assert refs == {"Observation/m-2019-05-01", "Observation/m-2022-08-01"}


def test_stage_3a_then_secondary_condition_is_metastatic_since_secondary(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(onset="2018-02-01"),
        b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(b.SNOMED, "261638004"), date="2018-02-10"),
        b.condition(b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone"), onset="2022-03-01"),
    )
    assert profile.metastatic.value == "yes"
    assert profile.metastatic.evidence[0].date == "2022-03-01"


def test_resolved_secondary_does_not_count(build: Build) -> None:
    profile = build(
        b.patient(), b.breast_cancer(), b.condition(b.cc(b.SNOMED, "94381002"), clinical="resolved")
    )
    assert profile.metastatic.value == "unknown"
    assert any(i.topic == "metastatic" and i.kind == "ignored" for i in profile.issues)


def test_abated_secondary_without_status_does_not_count(build: Build) -> None:
    secondary = b.condition(b.cc(b.SNOMED, "94381002"), clinical=None)
    secondary["abatementDateTime"] = "2024-01-01"
    profile = build(b.patient(), b.breast_cancer(), secondary)
    assert profile.metastatic.value == "unknown"


def test_refuted_secondary_does_not_count(build: Build) -> None:
    profile = build(
        b.patient(), b.breast_cancer(), b.condition(b.cc(b.SNOMED, "94381002"), verification="refuted")
    )
    assert profile.metastatic.value == "unknown"


@pytest.mark.parametrize(
    ("conditions", "sites", "visceral", "bone_only"),
    [
        ([b.cc(b.ICD10CM, "C79.51")], {"bone"}, "no", "yes"),
        ([b.cc(b.SNOMED, "94222008"), b.cc(b.ICD10CM, "C79.52")], {"bone"}, "no", "yes"),
        ([b.cc(b.ICD10CM, "C79.51"), b.cc(b.ICD10CM, "C78.7")], {"bone", "liver"}, "yes", "no"),
        ([b.cc(b.ICD10CM, "C78.2", "Secondary malignant neoplasm of pleura")], {"lung"}, "yes", "no"),
        ([b.cc(b.SNOMED, "94391008")], {"lung"}, "yes", "no"),
        ([b.cc(b.ICD10CM, "C79.31")], {"brain"}, "yes", "no"),
        ([b.cc(b.ICD10CM, "C77.3")], {"nodes"}, "no", "no"),
        ([b.cc(b.SNOMED, "94579000")], {"other"}, "no", "no"),
        ([b.cc(text="Metastasis to spine")], {"bone"}, "no", "yes"),
        ([b.cc(b.SNOMED, "128462008")], set(), "unknown", "unknown"),
        ([b.cc(b.ICD10CM, "C79.51"), b.cc(b.SNOMED, "128462008")], {"bone"}, "no", "yes"),
        ([b.cc(b.ICD10CM, "C79.9")], set(), "unknown", "unknown"),
    ],
)
def test_sites(
    build: Build, conditions: list[dict[str, Any]], sites: set[str], visceral: str, bone_only: str
) -> None:
    profile = build(b.patient(), b.breast_cancer(), *(b.condition(c) for c in conditions))
    assert profile.metastatic_sites.value == frozenset(sites)
    assert profile.visceral_metastases.value == visceral
    assert profile.bone_only_disease.value == bone_only


def test_site_from_body_site(build: Build) -> None:
    secondary = b.condition(
        b.cc(b.SNOMED, "128462008", "Secondary malignant neoplastic disease"),
        body_site=b.cc(b.SNOMED, "10200004", "Liver structure"),
    )
    profile = build(b.patient(), b.breast_cancer(), secondary)
    assert profile.metastatic_sites.value == {"liver"}
    assert profile.visceral_metastases.value == "yes"


def test_not_metastatic_means_no_visceral_no_bone_only(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.observation(b.cc(b.LOINC, "21908-9"), value=b.cc(b.SNOMED, "258219007", "Stage 2")),
    )
    assert profile.metastatic.value == "no"
    assert profile.visceral_metastases.value == "no"
    assert profile.bone_only_disease.value == "no"


def test_partial_dates_order_and_never_raise(build: Build) -> None:
    profile = build(
        b.patient(birth="1970"),
        b.breast_cancer(onset="2019"),
        b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229901006"), date="2019"),
        b.condition(b.cc(b.ICD10CM, "C78.7"), onset="2024-03"),
    )
    assert profile.metastatic.value == "yes"
    assert profile.metastatic.evidence[0].date == "2024-03"


def test_history_observation_gives_site(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.observation(b.cc(b.SNOMED, "1098951000119108", "History of cancer metastatic to liver")),
    )
    assert profile.metastatic_sites.value == {"liver"}
    assert profile.visceral_metastases.value == "yes"
