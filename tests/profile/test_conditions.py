"""Breast cancer, metastatic status (conditions, stage, M category, conflicts) and sites."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.fhir.codes import Terminology
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import PatientProfile
from tests.profile import builders as b
from tests.profile.builders import TODAY

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
        # German MII Onkologie data: UICC-coded TNM values, and their SNOMED UICC qualifier values
        (b.observation(b.cc(b.SNOMED, "399537006"), value=b.cc(b.UICC, "IV", "Stadium IV")), "yes"),
        (b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.UICC, "M1b")), "yes"),
        (b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.UICC, "M0", "M0")), "no"),
        (b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1352513006")), "yes"),
        (b.observation(b.cc(b.SNOMED, "371497001"), value=b.cc(b.SNOMED, "1352578008")), "yes"),
        (b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1352512001")), "no"),
        (b.observation(b.cc(b.SNOMED, "399537006"), value=b.cc(b.SNOMED, "1352836005")), "yes"),
        (b.observation(b.cc(b.SNOMED, "399588009"), value=b.cc(b.SNOMED, "1352896008")), "no"),
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


def _tnm_panel(m: str, stage: str, when: str) -> dict[str, Any]:
    """The Kenya NCCP TNM staging Observation: code 21908-9, no value, T/N/M and the stage group as
    components coded in the programme's own CodeSystems."""
    kenya = "https://nshr-uat.sha.go.ke/fhir/CodeSystem/"
    return b.observation(
        b.cc(b.LOINC, "21908-9", "Stage group.clinical Cancer"),
        components=[
            b.component(b.cc(b.LOINC, "21905-5"), value=b.cc(kenya + "clinical-t-cs", "T2", "T2")),
            b.component(b.cc(b.LOINC, "21907-1"), value=b.cc(kenya + "clinical-m-cs", m, m)),
            b.component(
                b.cc(b.LOINC, "21908-9"), value=b.cc(kenya + "cancer-stage-summary-cs", f"STAGE-{stage}")
            ),
        ],
        date=when,
        rid=f"tnm-{when}",
    )


def test_a_tnm_panel_with_the_stage_and_m_category_in_components_is_read(build: Build) -> None:
    """Third-party round 5 (Kenya NCCP): the restaging to M1 / stage 4 was held in components of a
    valueless 21908-9 Observation and skipped in silence: the patient got no card at all."""
    profile = build(b.patient(), b.breast_cancer(), _tnm_panel("M0", "2", "2023-11-15"))
    assert profile.metastatic.value == "no"
    profile = build(
        b.patient(),
        b.breast_cancer(),
        _tnm_panel("M0", "2", "2023-11-15"),
        _tnm_panel("M1", "4", "2024-03-20"),
    )
    assert profile.metastatic.value == "yes"
    assert {e.reference for e in profile.metastatic.evidence} == {"Observation/tnm-2024-03-20"}


def test_no_staging_is_unknown(build: Build) -> None:
    assert build(b.patient(), b.breast_cancer()).metastatic.value == "unknown"


def _m(value: str, when: str) -> dict[str, Any]:
    code = "1229903009" if value == "yes" else "1229901006"
    return b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, code), date=when, rid=f"m-{when}")


def test_metastases_regressing_to_m0_are_reported_and_the_most_recent_wins(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), _m("yes", "2019-05-01"), _m("no", "2022-08-01"))
    assert profile.metastatic.value == "no"
    conflicts = [i for i in profile.issues if i.topic == "metastatic" and i.kind == "conflicting"]
    assert len(conflicts) == 1
    refs = {e.reference for e in conflicts[0].evidence}
    assert refs == {"Observation/m-2019-05-01", "Observation/m-2022-08-01"}


def test_m0_at_diagnosis_then_m1_at_relapse_is_not_a_data_problem(build: Build) -> None:
    """A stage II cancer that relapses with distant metastases reads M0, then M1: the relapse is the
    course of the disease, and a "Data to check" card for it on every relapsed patient is noise."""
    profile = build(b.patient(), b.breast_cancer(), _m("no", "2019-05-01"), _m("yes", "2022-08-01"))
    assert profile.metastatic.value == "yes"
    assert not [i for i in profile.issues if i.topic == "metastatic"]
    assert profile.metastatic.note is None


def test_m0_and_m1_on_the_same_date_are_reported(build: Build) -> None:
    profile = build(
        b.patient(), b.breast_cancer(), _m("no", "2022-08-01"), _m("yes", "2022-08-01") | {"id": "m1"}
    )
    assert profile.metastatic.value == "yes"
    conflicts = [i for i in profile.issues if i.topic == "metastatic" and i.kind == "conflicting"]
    assert len(conflicts) == 1 and "on the same date" in conflicts[0].message


def test_a_metastasis_finding_dated_after_today_is_reported_not_used(build: Build) -> None:
    """A stage IV / M1 finding dated in the future (German MII example data: cM1 dated a year ahead) is a
    data error: it must not make the patient stage 4, nor date the metastatic disease."""
    cm0 = b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229901006"), date="2024-06-15")
    cm1 = b.observation(
        b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229903009"), date="2099-06-20", rid="m1-future"
    )
    profile = build(b.patient(), b.breast_cancer(), cm0, cm1)
    assert profile.metastatic.value == "no"
    issues = [i for i in profile.issues if i.topic == "metastatic" and i.kind == "unreadable"]
    assert len(issues) == 1 and "Observation/m1-future (2099-06-20)" in issues[0].message
    # alone, it leaves the status unknown (not metastatic, not non-metastatic)
    assert build(b.patient(), b.breast_cancer(), cm1).metastatic.value == "unknown"


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
        ([b.cc(b.ICD10CM, "C77.4")], {"nodes"}, "no", "no"),  # inguinal: distant nodes
        ([b.cc(b.ICD10CM, "C77.3"), b.cc(b.ICD10CM, "C79.51")], {"nodes", "bone"}, "no", "no"),
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


# --- lymph nodes: regional (N) or distant (M1)? (review 7 finding 1) ------------------------------------

_AXILLARY = b.cc(b.SNOMED, "94181007", "Secondary malignant neoplasm of axillary lymph nodes (disorder)")


@pytest.mark.parametrize(
    "nodes",
    [
        b.condition(_AXILLARY),
        b.condition(b.cc(b.ICD10CM, "C77.3", "Secondary malignant neoplasm of axilla lymph nodes")),
        b.condition(b.cc(b.SNOMED, "94392001", "Secondary malignant neoplasm of lymph node")),
        b.condition(b.cc(b.ICD10CM, "C77.9")),
        b.condition(b.cc(b.ICD10CM, "C77.8", "Lymph nodes of multiple regions")),
        b.condition(b.cc(b.ICD10CM, "C77.0", "Lymph nodes of head, face and neck")),  # supraclavicular
        b.condition(b.cc(b.ICD10CM, "C77.1", "Intrathoracic lymph nodes")),  # internal mammary
        b.condition(
            b.cc(b.SNOMED, "128462008", "Secondary malignant neoplastic disease"),
            body_site=b.cc(b.SNOMED, "68171009", "Axillary lymph node structure (body structure)"),
        ),
        b.condition(b.cc(text="Metastatic breast cancer to supraclavicular lymph node")),
        b.condition(b.cc(text="Metastasis to internal mammary lymph nodes")),
        b.condition(b.cc(text="Metastatic breast carcinoma, nodal")),
    ],
)
def test_nodes_that_may_be_regional_do_not_make_stage_4_alone(build: Build, nodes: dict[str, Any]) -> None:
    profile = build(b.patient(), b.breast_cancer(), nodes)
    assert profile.metastatic.value == "unknown"
    assert profile.metastatic_sites.value == frozenset()
    issue = next(i for i in profile.issues if i.topic == "metastatic")
    assert issue.kind == "missing"
    assert f"Lymph-node disease is recorded ({nodes['resourceType']}/{nodes['id']}" in issue.message
    assert "regional disease (N category), not stage 4" in issue.message
    assert "Record the M category or the stage group" in issue.message
    assert profile.metastatic.note == issue.message


@pytest.mark.parametrize(
    "nodes",
    [
        b.cc(b.ICD10CM, "C77.2", "Secondary malignant neoplasm of intra-abdominal lymph nodes"),
        b.cc(b.ICD10CM, "C77.4"),
        b.cc(b.ICD10CM, "C77.5"),
        b.cc(text="Metastasis to mediastinal lymph nodes"),
        b.cc(text="Metastases to retroperitoneal lymph nodes"),
        b.cc(text="Metastasis to para-aortic lymph nodes"),
        b.cc(text="Metastatic breast cancer to contralateral axillary lymph nodes"),
        b.cc(
            b.SNOMED,
            "94392001",
            "Secondary malignant neoplasm of lymph node",
            text="Inguinal node metastasis",
        ),
    ],
)
def test_distant_nodes_still_make_stage_4(build: Build, nodes: dict[str, Any]) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.condition(nodes))
    assert profile.metastatic.value == "yes"
    assert profile.metastatic_sites.value == {"nodes"}


def test_stage_2_then_axillary_nodes_is_unknown_not_stage_4(build: Build) -> None:
    """Review 7 N2: cM0 stage II, then an axillary node Condition: not M1; say what is missing."""
    stage = b.observation(
        b.cc(b.LOINC, "21908-9"), value=b.cc(b.SNOMED, "261614003", "Stage 2A"), date="2024-09-10", rid="st"
    )
    nodes = b.condition(_AXILLARY, onset="2024-10-01", rid="ax")
    profile = build(b.patient(), b.breast_cancer(), stage, nodes)
    assert profile.metastatic.value == "unknown"
    issue = next(i for i in profile.issues if i.topic == "metastatic")
    assert "(Condition/ax, 2024-10-01), after a non-metastatic stage or M0 (Observation/st, 2024-09-10)" in (
        issue.message
    )
    assert {e.reference for e in issue.evidence} == {"Condition/ax", "Observation/st"}
    # nodes recorded before (or on the day of) the staging were staged with it: still not metastatic
    for onset in ("2024-09-03", "2024-09-10", None):
        earlier = b.condition(_AXILLARY, onset=onset)
        assert build(b.patient(), b.breast_cancer(), stage, earlier).metastatic.value == "no"


def test_nodes_next_to_a_distant_site_count_as_a_site_but_do_not_date_stage_4(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(_AXILLARY, onset="2021-04-01", rid="ax"),
        b.condition(b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone"), onset="2024-06-01"),
    )
    assert profile.metastatic.value == "yes"
    assert profile.metastatic_sites.value == {"bone", "nodes"}
    assert profile.bone_only_disease.value == "no"
    assert [e.date for e in profile.metastatic.evidence] == ["2024-06-01"]
    assert not [i for i in profile.issues if i.topic == "metastatic"]


_ICD10GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"


@pytest.mark.parametrize(
    ("text", "sites"),
    [
        ("Ossäre Metastase BWK 12", {"bone"}),
        ("Knochenmetastasen", {"bone"}),
        ("Metastasen im Knochen", {"bone"}),
        ("hepatische Metastasen", {"liver"}),
        ("Lebermetastasen", {"liver"}),
        ("pulmonale Metastasen", {"lung"}),
        ("Metastasen der Lunge", {"lung"}),
        ("zerebrale Metastase", {"brain"}),
        ("Hirnmetastasen", {"brain"}),
        ("Metastasen, Leberwerte erhöht", set()),  # whole words only: "Leberwerte" is not the liver
    ],
)
def test_german_site_words_in_a_secondary_condition_text(build: Build, text: str, sites: set[str]) -> None:
    """Review third_party3 J1: German charts name the site in words (ICD-10-GM C79.9 + text)."""
    secondary = b.cc(
        _ICD10GM, "C79.9", "Sekundäre bösartige Neubildung nicht näher bezeichneter Lokalisation", text
    )
    profile = build(b.patient(), b.breast_cancer(), b.condition(secondary))
    assert profile.metastatic.value == "yes"
    assert profile.metastatic_sites.value == frozenset(sites)


_MII_SITES = (
    "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/mii-cs-onko-fernmetastasen"
)


@pytest.mark.parametrize(
    ("code", "display", "sites"),
    [
        ("HEP", "Leber", {"liver"}),
        ("OSS", "Knochen", {"bone"}),
        ("PUL", "Lunge", {"lung"}),
        ("BRA", "Hirn", {"brain"}),
        ("LYM", "Lymphknoten", {"nodes"}),  # the distant-metastasis item: distant nodes by definition
        ("PLE", "Pleura", {"lung"}),
        ("ADR", "Nebennieren", {"other"}),
        ("GEN", "generalisierte Metastasierung", set()),  # metastatic, no one site
    ],
)
def test_mii_fernmetastasen_observation_is_m1_with_its_site(
    build: Build, code: str, display: str, sites: set[str]
) -> None:
    """third_party3 D2a: the MII / oBDS distant-metastasis Observation (SNOMED 385421009, value from the MII
    code system) was left unread, so a patient recorded this way was "metastatic status not known"."""
    obs = b.observation(
        b.cc(b.SNOMED, "385421009"), value=b.cc(_MII_SITES, code, display), date="2021-06-22", rid="fm"
    )
    profile = build(b.patient(), b.breast_cancer(onset="2021-05-01"), obs)
    assert profile.metastatic.value == "yes"
    assert profile.metastatic.evidence[0].reference == "Observation/fm"
    assert profile.metastatic_sites.value == frozenset(sites)
    assert profile.visceral_metastases.value == (
        "yes" if sites & {"liver", "lung", "brain"} else "no" if sites else "unknown"
    )


def test_mii_fernmetastasen_after_cm0_is_progression(build: Build) -> None:
    cm0 = b.observation(b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229901006"), date="2020-01-10")
    site = b.observation(
        b.cc(b.SNOMED, "385421009"), value=b.cc(_MII_SITES, "OSS", "Knochen"), date="2024-02-08"
    )
    profile = build(b.patient(), b.breast_cancer(), cm0, site)
    assert profile.metastatic.value == "yes"
    assert profile.metastatic_sites.value == {"bone"}
    assert profile.bone_only_disease.value == "yes"


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


# --- whose metastases (issue 18 item 7) --------------------------------------------------------------

_NSCLC = b.cc(b.SNOMED, "254637007", "Non-small cell lung cancer (disorder)")
_BRAIN_METS = b.cc(b.ICD10CM, "C79.31", "Secondary malignant neoplasm of brain")
_BONE_METS = b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone (disorder)")


@pytest.mark.parametrize("status", ["resolved", "remission", "inactive"])
def test_resolved_breast_cancer_and_active_lung_cancer_give_no_metastatic_breast_cancer(
    build: Build, status: str
) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(clinical=status, onset="2014-05"),
        b.condition(_NSCLC, onset="2024-11-02"),
        b.condition(_BRAIN_METS, onset="2025-01-15"),
    )
    assert profile.breast_cancer.value == "no"
    assert profile.metastatic.value == "unknown"
    assert "attributed to the other cancer" in (profile.metastatic.note or "")
    assert profile.other_primary_cancer.value == "yes"
    assert profile.other_primary_cancer.evidence[0].text.endswith("(SNOMED 254637007)")
    issue = next(i for i in profile.issues if i.topic == "metastatic" and i.kind == "conflicting")
    assert "Non-small cell lung cancer" in issue.message


def test_resolved_breast_cancer_with_new_metastases_and_no_other_primary_is_a_recurrence(
    build: Build,
) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(clinical="resolved", onset="2016-02-10"),
        b.condition(_BONE_METS, onset="2025-02-01"),
    )
    assert profile.breast_cancer.value == "yes"
    assert "recurrence" in (profile.breast_cancer.note or "")
    assert profile.metastatic.value == "yes"
    assert profile.other_primary_cancer.value == "no"
    assert any(i.topic == "breast_cancer" and "problem list" in i.message for i in profile.issues)


def test_resolved_breast_cancer_alone_is_not_current_breast_cancer(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(clinical="resolved"))
    assert profile.breast_cancer.value == "no"
    assert profile.breast_cancer.evidence[0].reference.startswith("Condition/")  # still shown, and why
    assert "resolved" in (profile.breast_cancer.note or "")


@pytest.mark.parametrize(
    "other",
    [
        _NSCLC,
        b.cc(b.ICD10CM, "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung"),
        b.cc(b.ICD10CM, "C18.7", "Malignant neoplasm of sigmoid colon"),
        b.cc(b.SNOMED, "94260004", "Secondary malignant neoplasm of colon"),  # Synthea's primary colon cancer
        b.cc(b.ICD10CM, "C83.30", "Diffuse large B-cell lymphoma, unspecified site"),
        b.cc(text="Adenocarcinoma of the lung, EGFR exon 19"),
        b.cc("urn:oid:1.2.840.114350", "ONC-123", "Multiple myeloma"),
    ],
)
def test_an_active_second_primary_next_to_breast_cancer_is_flagged(
    build: Build, other: dict[str, Any]
) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(_BONE_METS, onset="2024-12"),
        b.condition(other, onset="2024-10"),
    )
    assert profile.breast_cancer.value == "yes"
    assert profile.metastatic.value == "yes"  # the metastases are real; whose they are is not certain
    assert profile.other_primary_cancer.value == "yes"
    issue = next(i for i in profile.issues if i.topic == "other_primary_cancer")
    assert "no stage 4 breast cancer options" in issue.message


@pytest.mark.parametrize(
    ("other", "clinical", "expected"),
    [
        (b.cc(b.ICD10CM, "C44.91", "Basal cell carcinoma of skin, unspecified"), "active", "no"),
        (b.cc(b.ICD10CM, "C80.1", "Malignant (primary) neoplasm, unspecified"), "active", "no"),
        (b.cc(b.ICD10CM, "D05.11", "Intraductal carcinoma in situ of right breast"), "active", "no"),
        (b.cc(b.ICD10CM, "C90.01", "Multiple myeloma in remission"), "active", "no"),
        (
            b.cc(b.ICD10CM, "Z85.118", "Personal history of other malignant neoplasm of bronchus and lung"),
            "active",
            "no",
        ),
        (_NSCLC, "resolved", "no"),
        (
            b.cc(b.ICD10CM, "C50.912", "Malignant neoplasm of unspecified site of left female breast"),
            "active",
            "no",
        ),
    ],
)
def test_what_is_not_another_active_primary(
    terminology: Terminology, other: dict[str, Any], clinical: str, expected: str
) -> None:
    profile = _build_unfiltered(
        terminology,
        b.patient(),
        b.breast_cancer(),
        b.condition(_BONE_METS),
        b.condition(other, clinical=clinical),
    )
    assert profile.other_primary_cancer.value == expected
    assert profile.metastatic.value == "yes"


def test_a_provisional_second_primary_is_unknown_and_said(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(_BONE_METS),
        b.condition(_NSCLC, verification="provisional"),
    )
    assert profile.other_primary_cancer.value == "unknown"
    assert any(i.topic == "other_primary_cancer" and "provisional" in i.message for i in profile.issues)


@pytest.mark.parametrize("verification", ["provisional", "differential"])
def test_an_unconfirmed_metastasis_does_not_make_the_patient_metastatic(
    build: Build, verification: str
) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(
            b.cc(b.SNOMED, "94381002", "Secondary malignant neoplasm of liver"),
            verification=verification,
            onset="2025-04-02",
            rid="liver-1",
        ),
    )
    assert profile.metastatic.value == "unknown"
    assert profile.metastatic_sites.value == frozenset()
    issue = next(i for i in profile.issues if i.topic == "metastatic")
    assert issue.kind == "pending"
    assert f"recorded as {verification} (Condition/liver-1, 2025-04-02): not confirmed" in issue.message


def test_an_unconfirmed_metastasis_next_to_a_confirmed_one_leaves_only_the_confirmed_site(
    build: Build,
) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(_BONE_METS),
        b.condition(
            b.cc(b.SNOMED, "94381002", "Secondary malignant neoplasm of liver"), verification="provisional"
        ),
    )
    assert profile.metastatic.value == "yes"
    assert profile.metastatic_sites.value == {"bone"}
    assert profile.visceral_metastases.value == "no"


# --- deceased ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected", "date"),
    [
        ({"deceasedBoolean": True}, "yes", None),
        ({"deceasedDateTime": "2025-03-14T08:30:00+01:00"}, "yes", "2025-03-14"),
        ({"deceasedDateTime": "2025-03"}, "yes", "2025-03"),
        ({"deceasedBoolean": False}, "no", None),
        ({}, "unknown", None),
    ],
)
def test_deceased_from_patient_deceased_x(
    build: Build, extra: dict[str, Any], expected: str, date: str | None
) -> None:
    profile = build(b.patient() | extra, b.breast_cancer(), b.condition(_BONE_METS))
    assert profile.deceased.value == expected
    if date:
        assert profile.deceased.evidence[0].date == date


def _build_unfiltered(terminology: Terminology, *raw: dict[str, Any]) -> PatientProfile:
    """build_profile without the pre-filter: records it drops (C44, Z85) must not count either way."""
    return build_profile(
        [b.model(r) for r in raw],
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
    )


# --- a secondary cancer named only as a medication's reason (third_party3 D2b) -------------------------

_BRAIN_MET_REASON = b.cc(b.SNOMED, "94225005", "Metastatic malignant neoplasm to brain")
_PALBOCICLIB = b.rx("1601374", "palbociclib")
_CM0_2018 = b.observation(
    b.cc(b.SNOMED, "399387003"), value=b.cc(b.SNOMED, "1229901006", "cM0"), date="2018-04-05", rid="cm0"
)


def test_remission_primary_and_a_palbociclib_order_for_brain_metastasis_is_not_no_breast_cancer(
    build: Build,
) -> None:
    """PACIO Jenny Mosley: primary in remission, cM0 2018, palbociclib ordered in 2024 for 94225005. It was
    "no breast cancer, not metastatic" and no card; now breast cancer with metastatic status not known,
    and the data issue names the medication record."""
    order = b.med_request(_PALBOCICLIB, authored="2024-10-02", reason_code=_BRAIN_MET_REASON, rid="palbo")
    profile = build(b.patient(), b.breast_cancer(clinical="remission", onset="2018-03-01"), _CM0_2018, order)
    assert profile.breast_cancer.value == "yes"
    assert profile.metastatic.value == "unknown"
    issue = next(i for i in profile.issues if i.topic == "metastatic")
    assert issue.kind == "conflicting"
    assert issue.message.startswith(
        "MedicationRequest/palbo (2024-10-02) is a current medication given for a "
    )
    assert "Metastatic malignant neoplasm to brain (SNOMED 94225005)" in issue.message
    assert "not metastatic (Observation/cm0, 2018-04-05)" in issue.message
    assert "record the metastasis (a Condition) or the stage group / M category" in issue.message
    assert any(i.topic == "breast_cancer" and "MedicationRequest/palbo" in i.message for i in profile.issues)


def test_a_medication_reason_alone_is_reported_and_a_stopped_one_is_not(build: Build) -> None:
    statement = b.med_statement(_PALBOCICLIB, start="2024-10-02", rid="ms")
    statement["reasonCode"] = [_BRAIN_MET_REASON]
    profile = build(b.patient(), b.breast_cancer(), statement)
    assert profile.metastatic.value == "unknown"
    issue = next(i for i in profile.issues if i.topic == "metastatic")
    assert issue.kind == "missing" and "MedicationStatement/ms (2024-10-02)" in issue.message
    stopped = b.med_request(_PALBOCICLIB, status="stopped", reason_code=_BRAIN_MET_REASON)
    profile = build(b.patient(), b.breast_cancer(clinical="remission"), _CM0_2018, stopped)
    assert profile.breast_cancer.value == "no"
    assert profile.metastatic.value == "no"


def test_an_adjuvant_medicine_given_for_axillary_nodes_leaves_stage_ii_not_metastatic(build: Build) -> None:
    """Review 8 (F5): letrozole ordered for node-positive early disease (reasonCode C77.3, regional nodes)
    beside cM0 is not a medicine given for metastatic disease."""
    axillary = b.cc(b.ICD10CM, "C77.3", "Secondary malignant neoplasm of axilla and upper limb lymph nodes")
    order = b.med_request(b.rx("72965", "letrozole"), authored="2018-05-01", reason_code=axillary)
    profile = build(b.patient(), b.breast_cancer(onset="2018-03-01"), _CM0_2018, order)
    assert profile.metastatic.value == "no"
    assert not [i for i in profile.issues if i.topic == "metastatic"]


def test_a_medication_reason_next_to_recorded_metastases_changes_nothing(build: Build) -> None:
    order = b.med_request(_PALBOCICLIB, reason_code=_BRAIN_MET_REASON)
    bone = b.condition(b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone"))
    profile = build(b.patient(), b.breast_cancer(), bone, order)
    assert profile.metastatic.value == "yes"
    assert not [i for i in profile.issues if i.topic == "metastatic"]


def test_resolved_primary_and_a_new_axillary_node_condition_is_breast_cancer_of_unknown_stage(
    build: Build,
) -> None:
    """A nodal recurrence after a resolved primary is locoregional, not "no breast cancer"."""
    profile = build(
        b.patient(),
        b.breast_cancer(clinical="resolved", onset="2016-02-10"),
        b.condition(_AXILLARY, onset="2024-11-05", rid="ax"),
    )
    assert profile.breast_cancer.value == "yes"
    assert "lymph-node disease is recorded (Condition/ax)" in (profile.breast_cancer.note or "")
    assert profile.metastatic.value == "unknown"


# --- breast cancer coded the mCODE way: a generic malignant-neoplasm code with a breast bodySite ------

_GENERIC = b.cc(b.SNOMED, "363346000", "Malignant neoplastic disease (disorder)")
_LEFT_BREAST = b.cc(b.SNOMED, "80248007", "Left breast structure (body structure)")
_HISTOLOGY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"


def _with_histology(cond: dict[str, Any], histology: dict[str, Any]) -> dict[str, Any]:
    return {**cond, "extension": [{"url": _HISTOLOGY, "valueCodeableConcept": histology}]}


@pytest.mark.parametrize(
    ("code", "site", "expected"),
    [
        (_GENERIC, _LEFT_BREAST, "yes"),
        (_GENERIC, b.cc(b.SNOMED, "73056007", "Right breast structure"), "yes"),
        (_GENERIC, b.cc(b.SNOMED, "76752008", "Breast structure (body structure)"), "yes"),
        (_GENERIC, b.cc("http://terminology.hl7.org/CodeSystem/icd-o-3", "C50.4"), "yes"),
        (b.cc(b.SNOMED, "372087000", "Primary malignant neoplasm"), _LEFT_BREAST, "yes"),
        (b.cc(b.ICD10CM, "C80.1", "Malignant (primary) neoplasm, unspecified"), _LEFT_BREAST, "yes"),
        # without a breast site a generic cancer code is not breast cancer (the mCODE Rosa Gonzalez example)
        (_GENERIC, None, "no"),
        (_GENERIC, b.cc(b.SNOMED, "39607008", "Lung structure (body structure)"), "no"),
        # a bodySite text alone does not make a generic code breast cancer
        (_GENERIC, b.cc(text="left breast"), "no"),
        # a secondary cancer in the breast is not a primary breast cancer
        (b.cc(b.SNOMED, "128462008", "Secondary malignant neoplastic disease"), _LEFT_BREAST, "unknown"),
    ],
)
def test_breast_cancer_by_generic_code_and_breast_site(
    build: Build, code: dict[str, Any], site: dict[str, Any] | None, expected: str
) -> None:
    profile = build(b.patient(), b.condition(code, body_site=site, rid="primary"))
    assert profile.breast_cancer.value == expected
    if expected == "yes":
        assert profile.breast_cancer.evidence[0].reference == "Condition/primary"


def test_generic_code_with_breast_site_and_metastasis_is_stage_4(build: Build) -> None:
    profile = build(
        b.patient(),
        b.condition(_GENERIC, body_site=_LEFT_BREAST),
        b.condition(b.cc(b.SNOMED, "94225005", "Secondary malignant neoplasm of brain")),
    )
    assert profile.breast_cancer.value == "yes"
    assert "site Left breast structure" in profile.breast_cancer.evidence[0].text
    assert profile.metastatic.value == "yes"
    assert profile.other_primary_cancer.value != "yes"


@pytest.mark.parametrize(
    "histology",
    [
        b.cc(b.SNOMED, "77284006", "Lobular carcinoma in situ (morphologic abnormality)"),
        b.cc(b.SNOMED, "86616005", "Intraductal carcinoma, noninfiltrating (morphologic abnormality)"),
        b.cc("http://terminology.hl7.org/CodeSystem/icd-o-3", "8520/2", "Lobular carcinoma in situ"),
    ],
)
def test_in_situ_histology_on_a_malignant_breast_code_is_a_data_issue(
    build: Build, histology: dict[str, Any]
) -> None:
    for cond in (b.condition(_GENERIC, body_site=_LEFT_BREAST, rid="bc"), b.breast_cancer(rid="bc")):
        profile = build(b.patient(), _with_histology(cond, histology))
        assert profile.breast_cancer.value == "yes"  # read, but not silently
        [issue] = b.issues_of(profile, "breast_cancer", "conflicting")
        assert "in situ" in issue.message and issue.evidence[0].reference == "Condition/bc"


@pytest.mark.parametrize(
    "histology",
    [
        b.cc(b.SNOMED, "82711006", "Infiltrating duct carcinoma (morphologic abnormality)"),
        b.cc(b.SNOMED, "443933007", "Ductal carcinoma in situ with microinvasion (morphologic abnormality)"),
    ],
)
def test_invasive_histology_is_no_data_issue(build: Build, histology: dict[str, Any]) -> None:
    profile = build(b.patient(), _with_histology(b.condition(_GENERIC, body_site=_LEFT_BREAST), histology))
    assert profile.breast_cancer.value == "yes"
    assert not b.issues_of(profile, "breast_cancer", "conflicting")


# --- metastases recorded but no breast cancer diagnosis found --------------------------------------

_BRAIN_METS = b.cc(b.SNOMED, "94225005", "Secondary malignant neoplasm of brain")


def test_metastases_without_a_breast_cancer_diagnosis_are_a_missing_data_issue(build: Build) -> None:
    er = b.er(b.cc(b.LOINC, "LA6576-8", "Positive"), rid="er-1")
    profile = build(
        b.patient(), b.condition(_GENERIC, rid="cancer"), b.condition(_BRAIN_METS, rid="mets"), er
    )
    assert profile.breast_cancer.value != "yes"
    assert profile.metastatic.value == "yes"
    [issue] = b.issues_of(profile, "breast_cancer", "missing")
    assert "Condition/mets" in issue.message and "Observation/er-1" in issue.message
    assert "record the diagnosis" in issue.message


def test_no_missing_breast_cancer_issue_next_to_another_primary_or_without_metastases(build: Build) -> None:
    lung = b.condition(b.cc(b.SNOMED, "254637007", "Non-small cell lung cancer (disorder)"))
    with_other = build(b.patient(), lung, b.condition(_BRAIN_METS))
    assert with_other.other_primary_cancer.value == "yes"
    assert not b.issues_of(with_other, "breast_cancer", "missing")
    no_mets = build(b.patient(), b.condition(_GENERIC), b.er(b.cc(b.LOINC, "LA6576-8", "Positive")))
    assert no_mets.metastatic.value != "yes"
    assert not b.issues_of(no_mets, "breast_cancer", "missing")
    with_breast = build(b.patient(), b.breast_cancer(), b.condition(_BRAIN_METS))
    assert not b.issues_of(with_breast, "breast_cancer", "missing")


def test_metastases_without_a_breast_cancer_or_a_tumour_marker_say_what_to_record(build: Build) -> None:
    """Verification review 10, P1: with no ER/PR/HER2 result on record, the 'no breast cancer diagnosis
    found' message read the first of no markers and failed; the metastatic status was lost with it."""
    pm1 = b.observation(b.cc(b.SNOMED, "371497001", "pM category"), value=b.cc(b.SNOMED, "1229916009", "pM1"))
    profile = build(b.patient(), pm1)
    assert profile.metastatic.value == "yes"
    (issue,) = [i for i in profile.issues if i.topic == "breast_cancer"]
    assert issue.kind == "missing" and "no primary breast cancer diagnosis was found" in issue.message
    assert "tumour-marker" not in issue.message


# --- a breast cancer recorded only as unconfirmed is not breast cancer (third-party review 6, finding 2:
# an Epic provisional encounter diagnosis "Suspected breast cancer" and a Cerner free-text "Rule out
# breast cancer" gave the full stage 4 first-line card) ---------------------------------------------------

_LIVER_METS = b.cc(b.SNOMED, "94381002", "Secondary malignant neoplasm of liver")


@pytest.mark.parametrize(
    ("breast", "how"),
    [
        (
            b.condition(
                b.cc(b.ICD10CM, "C50.912", "Malignant neoplasm of unspecified site of left female breast"),
                verification="provisional",
                rid="bc",
            ),
            "provisional",
        ),
        (b.breast_cancer(verification="differential", rid="bc"), "differential"),
        (b.breast_cancer(verification="unconfirmed", rid="bc"), "unconfirmed"),
        (  # confirmed by status but worded as work-up (an Epic encounter diagnosis's text)
            b.condition(
                {
                    **b.cc(b.ICD10CM, "C50.912", "Malignant neoplasm of left female breast"),
                    "text": "Suspected breast cancer",
                },
                rid="bc",
            ),
            'worded "suspected"',
        ),
        (b.condition(b.cc(text="Rule out breast cancer"), verification=None, rid="bc"), 'worded "rule out"'),
        (b.condition(b.cc(text="R/O carcinoma of breast"), rid="bc"), 'worded "r/o"'),
    ],
)
def test_an_unconfirmed_breast_cancer_is_not_breast_cancer_and_says_what_settles_it(
    build: Build, breast: dict[str, Any], how: str
) -> None:
    profile = build(b.patient(), breast, b.condition(_LIVER_METS, rid="liver"))
    assert profile.breast_cancer.value == "unknown"
    assert profile.breast_cancer.evidence[0].reference == "Condition/bc"
    assert profile.metastatic.value == "yes"
    (issue,) = [i for i in profile.issues if i.topic == "breast_cancer"]
    assert issue.kind == "pending"
    assert f"recorded as unconfirmed ({how}; Condition/bc" in issue.message
    assert "A confirmed diagnosis" in issue.message
    assert "no primary breast cancer diagnosis was found" not in issue.message


def test_a_suspected_new_breast_cancer_beside_a_resolved_one_is_said(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(clinical="resolved", onset="2015-03-01"),
        b.condition(b.cc(text="Suspected breast cancer, right"), onset="2025-06-01", rid="new"),
    )
    assert profile.breast_cancer.value == "no"
    (issue,) = [i for i in profile.issues if i.topic == "breast_cancer"]
    assert issue.kind == "pending" and 'worded "suspected"; Condition/new, 2025-06-01' in issue.message


def test_a_confirmed_breast_cancer_beside_an_earlier_suspected_one_is_breast_cancer(build: Build) -> None:
    profile = build(
        b.patient(),
        b.condition(b.cc(text="Suspected breast cancer"), verification="provisional", onset="2025-01-02"),
        b.breast_cancer(onset="2025-02-01", rid="bc"),
        b.condition(_LIVER_METS),
    )
    assert profile.breast_cancer.value == "yes"
    assert [e.reference for e in profile.breast_cancer.evidence] == ["Condition/bc"]
    assert not [i for i in profile.issues if i.topic == "breast_cancer"]


@pytest.mark.parametrize(
    "text", ["Possible breast cancer", "Probable carcinoma of breast", "Suspicion of breast cancer"]
)
def test_work_up_wording_leaves_breast_cancer_unconfirmed(build: Build, text: str) -> None:
    profile = build(b.patient(), b.condition(b.cc(text=text)))
    assert profile.breast_cancer.value == "unknown"


@pytest.mark.parametrize(
    "text",
    [
        "Breast cancer with suspected liver metastases",
        "Carcinoma of breast, possible recurrence",
        "Breast cancer, r/o bone mets",
        "Breast cancer, probable spread to the axilla",
        # review 13: wording after the cancer that qualifies something else, a carrier's cancer
        "Breast cancer, probable lobular subtype",
        "Left breast cancer, suspected hereditary (genetic testing pending)",
        "Breast cancer left; rule out second primary lung",
        "Sekundär metastasiertes Mammakarzinom links",
        # review 15: denials and doubts after the cancer that qualify something else
        "Breast cancer, HER2 status not confirmed",
        "Breast cancer, pregnancy excluded",
        "Triple negative breast cancer, HER2 excluded by FISH",
        "Invasive lobular carcinoma of breast; PIK3CA mutation not confirmed",
        "Breast cancer, liver lesion - possible",
        "Breast cancer in BRCA2 carrier",
        "Invasive ductal carcinoma of left breast, BRCA1 mutation carrier",
        "Breast cancer; hereditary breast and ovarian cancer syndrome",
        "Breast cancer s/p risk-reducing salpingo-oophorectomy",
        # review 16
        "Right breast cancer; left breast cancer excluded on MRI",
        "Malignant neoplasm of breast, unconfirmed ER status",
        "Left breast cancer; right prophylactic mastectomy",
        # review 17
        "Invasive ductal carcinoma of left breast, ER positive, negative for HER2 amplification",
        "Metastatic breast cancer, ER+; no evidence of brain metastases",
        "Malignant neoplasm of breast (ruled out ovarian primary)",
        # a denial about something else, receptor status, "not otherwise specified", "?" about a subtype
        "Breast cancer, no evidence of recurrence",
        "Breast cancer - no lymph node involvement",
        "Breast cancer (negative margins)",
        "ER negative breast cancer",
        "HER2 negative breast cancer",
        "triple negative breast cancer",
        "Breast cancer, not otherwise specified",
        "Breast cancer NOS",
        "Breast cancer, no further details",
        "No lymph node involvement, breast cancer",
        "No further breast cancer treatment",
        "Breast cancer (?lobular)",
        # a "?" the text takes back (review 20, P2-6)
        "Breast cancer? - confirmed on core biopsy 01/2025",
        "Breast cancer? - biopsy-proven",
        "Breast cancer? - confirmed invasive ductal carcinoma",  # review 22
        "Breast cancer? - confirmed (core biopsy)",
    ],
)
def test_work_up_wording_about_the_spread_leaves_the_breast_cancer_confirmed(build: Build, text: str) -> None:
    assert build(b.patient(), b.condition(b.cc(text=text))).breast_cancer.value == "yes"


@pytest.mark.parametrize(
    "text",
    [
        "BRCA2 mutation carrier, increased breast cancer risk",
        "BRCA1 carrier; breast cancer risk",
        "Family history of ovarian cancer; breast cancer in mother",
        "LCIS; breast cancer prevention on tamoxifen",
        "Metastatic adenocarcinoma of unknown primary; breast cancer ruled out",
        "Breast cancer (suspected)",
        "FH breast cancer",
        "Mother had breast cancer",
        "Breast cancer chemoprevention (tamoxifen)",
        "Hereditary breast cancer syndrome",
        # review 16: a relative's cancer, a differential, a doubt, prevention, a negative
        "Metastatic adenocarcinoma of unknown primary; FHx breast cancer (mother)",
        "Metastatic adenocarcinoma; family hx of breast cancer",
        "Metastatic carcinoma, breast carcinoma vs lung primary",
        "Breast cancer unlikely - CUP, awaiting IHC",
        "Breast cancer chemoprophylaxis (tamoxifen), BRCA2",
        "Negative for breast cancer; metastatic carcinoma of unknown primary",
        "Metastatic adenocarcinoma; breast cancer not confirmed histologically",
        "Metastatic adenocarcinoma; breast carcinoma unconfirmed pending biopsy",
        # review 18
        "Breast cancer excluded 03/2025",
        "Breast cancer ruled out - metastatic adenocarcinoma of lung",
        "breast cancer - excluded",
        "Breast cancer, excluded",
        # a "?" whose dash goes on to something else than a confirmation (review 21, N3)
        "Breast cancer? - confirmed benign",
        "Breast cancer? - confirmed fibroadenoma",
        "Breast cancer? - yesterday's biopsy pending",
        "Breast cancer? - confirmed on biopsy: benign",  # review 22
        "Breast cancer? - confirmed on biopsy as lymphoma",
        "?Breast cancer - awaiting biopsy",
        "Breast cancer ruled out, lung primary",
        "Breast cancer: no",
        # a denial before the cancer's name, other denials after it, "?", a German name
        "No breast cancer",
        "No evidence of breast cancer",
        "excluded breast cancer",
        "not confirmed breast cancer",
        "Breast cancer not seen",
        "Breast cancer negative",
        "Breast cancer?",
        "Breast cancer? - awaiting biopsy",
        "Mammakarzinom excluded",
    ],
)
def test_risk_family_history_and_ruled_out_wording_is_not_breast_cancer(build: Build, text: str) -> None:
    assert build(b.patient(), b.condition(b.cc(text=text))).breast_cancer.value != "yes"


# --- susceptibility, carrier, risk and family-history concepts are never breast cancer (third-party review
# 6, finding 3: ICD-10-CM Z15.01 "Genetic susceptibility to malignant neoplasm of breast" on a BRCA1
# carrier's problem list was read as breast cancer through its display, and her liver metastases of
# uncoded primary got stage 4 breast cancer cards) -------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        b.cc(b.ICD10CM, "Z15.01", "Genetic susceptibility to malignant neoplasm of breast"),
        b.cc(
            "http://hl7.org/fhir/sid/icd-10-cm",
            "Z1501",
            "Genetic susceptibility to malignant neoplasm of breast",
        ),
        {  # Epic: ICD-10-CM beside an IMO coding whose display is the same words
            "coding": [
                {"system": b.ICD10CM, "code": "Z15.01", "display": "Genetic susceptibility to breast cancer"},
                {"system": "urn:oid:2.16.840.1.113883.3.247.1.1", "code": "X1", "display": "BRCA1 positive"},
            ],
            "text": "BRCA1 gene mutation positive",
        },
        b.cc(text="Genetic susceptibility to breast cancer"),
        b.cc(text="Genetic predisposition to breast cancer"),
        b.cc(text="BRCA1 carrier - breast cancer gene"),
        b.cc(text="Hereditary breast cancer syndrome"),
        b.cc(text="At risk for breast cancer"),
        b.cc(b.SNOMED, "445180002", "Breast cancer genetic marker of susceptibility not detected (finding)"),
        # any ICD-10 chapter Z code: its display and text are never read as the disease (the text alone
        # passes every exclusion)
        {
            "coding": [{"system": b.ICD10CM, "code": "Z15.01", "display": "Genetic susceptibility"}],
            "text": "Breast cancer (BRCA1)",
        },
        b.cc(b.ICD10CM, "Z12.31", "Encounter for screening mammogram for malignant neoplasm of breast"),
        b.cc(b.ICD10CM, "Z80.3", "Family history of malignant neoplasm of breast"),
    ],
)
def test_susceptibility_and_risk_concepts_are_not_breast_cancer(build: Build, code: dict[str, Any]) -> None:
    profile = build(b.patient(), b.condition(code), b.condition(_LIVER_METS, rid="liver"))
    assert profile.breast_cancer.value != "yes"
    assert profile.metastatic.value == "yes"
    (issue,) = b.issues_of(profile, "breast_cancer", "missing")
    assert "no primary breast cancer diagnosis was found" in issue.message


@pytest.mark.parametrize(
    "code",
    [
        b.cc(b.ICD10CM, "Z85.3", "Personal history of malignant neoplasm of breast"),  # deliberate entry
        b.cc(text="High-risk breast cancer, ER positive"),
        b.cc(text="Breast cancer"),
    ],
)
def test_the_breast_cancer_wordings_that_stay_breast_cancer(build: Build, code: dict[str, Any]) -> None:
    assert build(b.patient(), b.condition(code)).breast_cancer.value == "yes"


# --- a metastasis TO the breast is a site, not a breast primary (third-party review 6, finding 4: ICD-10-CM
# C79.81 "Secondary malignant neoplasm of breast" with liver metastases and no C50 was read as metastatic
# breast cancer) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to_breast",
    [
        b.cc(b.ICD10CM, "C79.81", "Secondary malignant neoplasm of breast"),
        b.cc(
            "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
            "C79.81",
            "Sekundäre bösartige Neubildung der Brustdrüse",
        ),
        b.cc(text="Metastasis to the left breast"),
    ],
)
def test_a_metastasis_to_the_breast_alone_is_a_site_and_asks_for_the_primary(
    build: Build, to_breast: dict[str, Any]
) -> None:
    profile = build(b.patient(), b.condition(to_breast, rid="c7981"), b.condition(_LIVER_METS, rid="liver"))
    assert profile.breast_cancer.value != "yes"
    assert profile.metastatic.value == "yes"
    assert profile.metastatic_sites.value == {"liver", "other"}
    (issue,) = b.issues_of(profile, "breast_cancer", "missing")
    assert issue.message.startswith("Condition/c7981 records a metastasis to the breast")
    assert "Check the primary" in issue.message


@pytest.mark.parametrize(
    "from_breast",
    [
        b.cc(b.SNOMED, "315004001", "Metastasis from malignant tumor of breast (disorder)"),
        b.cc(text="Metastatic breast cancer"),
        # C79.81 misused with the clinician's words "metastatic breast cancer": the words are read
        {
            **b.cc(b.ICD10CM, "C79.81", "Secondary malignant neoplasm of breast"),
            "text": "Metastatic breast cancer",
        },
    ],
)
def test_a_metastasis_from_the_breast_is_still_metastatic_breast_cancer(
    build: Build, from_breast: dict[str, Any]
) -> None:
    profile = build(b.patient(), b.condition(from_breast), b.condition(_LIVER_METS))
    assert profile.breast_cancer.value == "yes"
    assert not [i for i in profile.issues if i.topic == "breast_cancer"]


def test_a_metastasis_to_the_breast_beside_a_breast_primary_is_one_more_site(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(b.cc(b.ICD10CM, "C79.81", "Secondary malignant neoplasm of breast")),
    )
    assert profile.breast_cancer.value == "yes"
    assert profile.metastatic.value == "yes"
    assert not [i for i in profile.issues if i.topic == "breast_cancer"]


# --- a brain malignancy coded as a primary (C71) next to breast cancer: the block stays, and the issue says
# which code a brain metastasis has (third-party review 6, finding 5: the HL7 CodeX RTTD IG's brain-
# metastasis radiotherapy course carries reasonCode C71.9) --------------------------------------------------


@pytest.mark.parametrize(
    "brain",
    [
        b.cc(b.ICD10CM, "C71.9", "Malignant neoplasm of brain, unspecified"),
        b.cc("http://hl7.org/fhir/sid/icd-10", "C71.1", "Malignant neoplasm of frontal lobe"),
        b.cc("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "C71.9", "Bösartige Neubildung: Gehirn"),
    ],
)
def test_a_brain_primary_next_to_breast_cancer_says_how_a_brain_metastasis_is_coded(
    build: Build, brain: dict[str, Any]
) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.condition(_BONE_METS), b.condition(brain, rid="c71"))
    assert profile.other_primary_cancer.value == "yes"
    (issue,) = [i for i in profile.issues if i.topic == "other_primary_cancer"]
    assert "no stage 4 breast cancer options" in issue.message
    assert "Condition/c71 is coded as a primary malignancy of the brain (ICD-10 C71)" in issue.message
    assert "C79.31" in issue.message


def test_another_primary_that_is_not_of_the_brain_gets_no_brain_hint(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        b.condition(_BONE_METS),
        b.condition(b.cc(text="Glioblastoma")),  # a named brain tumour: no recoding hint
        b.condition(b.cc(b.ICD10CM, "C34.90", "Malignant neoplasm of unspecified part of bronchus or lung")),
    )
    assert profile.other_primary_cancer.value == "yes"
    (issue,) = [i for i in profile.issues if i.topic == "other_primary_cancer"]
    assert "C79.31" not in issue.message
