"""Medicines by RxNorm (ingredient, SCD, brand, SCDG), text and references; setting and line counting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]

MET_DATE = "2023-01-10"


def metastatic(**kw: Any) -> list[dict[str, Any]]:
    return [
        b.patient("1958-01-01"),
        b.breast_cancer(onset="2018-03-01"),
        b.condition(
            b.cc(b.ICD10CM, "C79.51", "Secondary malignant neoplasm of bone"), onset=MET_DATE, rid="sec-1"
        ),
    ]


@pytest.mark.parametrize(
    ("medication", "classes"),
    [
        (b.rx("84857", "anastrozole"), {"endocrine_therapy", "aromatase_inhibitor", "anastrozole"}),
        (b.rx("199224", "anastrozole 1 MG Oral Tablet"), {"aromatase_inhibitor"}),
        (b.rx("262485", "Arimidex"), {"anastrozole"}),
        (b.rx("1157702", "anastrozole Oral Product"), {"anastrozole"}),
        (b.rx("198240"), {"tamoxifen"}),
        (b.rx("203870", "Faslodex"), {"fulvestrant"}),
        (b.rx("1601377"), {"cdk4_6_inhibitor", "palbociclib"}),
        (b.rx("1946828"), {"cdk4_6_inhibitor", "abemaciclib"}),
        (b.rx("2174802", "trastuzumab-anns"), {"her2_directed", "trastuzumab"}),
        (b.rx("2119713", "hyaluronidase / trastuzumab"), {"her2_directed", "trastuzumab"}),
        (b.rx("1298949", "Perjeta"), {"pertuzumab"}),
        (b.rx("1371041"), {"t_dm1"}),
        (b.rx("2267574"), {"t_dxd", "antibody_drug_conjugate"}),
        (b.rx("583214"), {"chemotherapy", "taxane", "paclitaxel"}),
        (b.rx("1790099"), {"chemotherapy", "anthracycline"}),
        (b.rx("1156253"), {"bone_modifying"}),
        # text only, brands, local and NDC codings, unknown RxCUI with a useful display
        (b.cc(text="Letrozole 2.5 mg tablet"), {"aromatase_inhibitor", "letrozole"}),
        (b.cc(text="IBRANCE 125 MG capsule"), {"palbociclib"}),
        (b.cc(text="Kadcyla 160 mg vial"), {"t_dm1"}),
        (
            b.cc("http://hl7.org/fhir/sid/ndc", "50242-0134-01", "Phesgo 1200/600 mg"),
            {"pertuzumab", "trastuzumab"},
        ),
        (b.cc("urn:local:pharmacy", "XEL500", "Xeloda 500mg"), {"capecitabine"}),
        (b.rx("999999", "exemestane 25 MG Oral Tablet [Aromasin]"), {"exemestane"}),
        (b.cc(text="AC (doxorubicin + cyclophosphamide)"), {"anthracycline", "cyclophosphamide"}),
    ],
)
def test_medication_identification(build: Build, medication: dict[str, Any], classes: set[str]) -> None:
    profile = build(b.patient(), b.med_request(medication))
    assert classes <= profile.prior_therapies.value
    assert profile.prior_therapies.evidence
    assert profile.medication_history.value == "yes"


def test_contained_medication_and_reference_display(build: Build) -> None:
    contained = b.med_request(
        reference={"reference": "#med1"},
        contained=[{"resourceType": "Medication", "id": "med1", "code": b.rx("72965", "letrozole")}],
    )
    by_display = b.med_request(reference={"reference": "Medication/abc", "display": "Verzenio 150 mg tablet"})
    profile = build(b.patient(), contained, by_display)
    assert {"letrozole", "abemaciclib"} <= profile.prior_therapies.value


def test_unresolvable_reference_is_reported_once(build: Build, terminology: Any) -> None:
    from cds.profile.derive import MenopauseThresholds, build_profile
    from tests.profile.builders import TODAY, model

    refs = [b.med_request(reference={"reference": f"Medication/m{i}"}) for i in range(3)]
    profile = build_profile(
        [model(r) for r in [b.patient(), *refs]],
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
    )
    issues = [i for i in profile.issues if i.topic == "prior_therapies"]
    assert len(issues) == 1 and "3 medication record" in issues[0].message


@pytest.mark.parametrize(
    ("status", "intent", "counted"),
    [
        ("active", "order", True),
        ("completed", "order", True),
        ("stopped", "plan", False),  # a plan is not therapy given (issue 18)
        ("entered-in-error", "order", False),
        ("cancelled", "order", False),
        ("draft", "order", False),
        ("active", "proposal", False),
    ],
)
def test_request_status_and_intent(build: Build, status: str, intent: str, counted: bool) -> None:
    profile = build(b.patient(), b.med_request(b.rx("72965"), status=status, intent=intent))
    assert ("letrozole" in profile.prior_therapies.value) is counted


@pytest.mark.parametrize(
    ("status", "counted"), [("completed", True), ("not-taken", False), ("entered-in-error", False)]
)
def test_statement_status(build: Build, status: str, counted: bool) -> None:
    profile = build(b.patient(), b.med_statement(b.rx("72965"), status=status))
    assert ("letrozole" in profile.prior_therapies.value) is counted


def test_administration_not_done_is_ignored(build: Build) -> None:
    profile = build(b.patient(), b.med_admin(b.rx("56946"), status="not-done"))
    assert profile.prior_therapies.value == frozenset()


def test_no_medication_records_is_unknown(build: Build) -> None:
    profile = build(b.patient())
    assert profile.medication_history.value == "unknown"
    assert profile.metastatic_lines.value == 0


def test_adjuvant_vs_metastatic_setting_by_date(build: Build) -> None:
    profile = build(
        *metastatic(),
        b.med_request(b.rx("84857"), authored="2018-05-01", status="completed"),  # adjuvant AI
        b.med_request(b.rx("72965"), authored="2023-02-01"),
        b.med_request(b.rx("1601374"), authored="2023-02-10"),
    )
    assert "anastrozole" in profile.prior_therapies.value
    assert "anastrozole" not in profile.metastatic_therapies.value
    assert {"letrozole", "palbociclib"} <= profile.metastatic_therapies.value
    assert profile.metastatic_lines.value == 1
    assert profile.metastatic_endocrine_lines.value == 1
    assert profile.metastatic_lines.evidence


def test_reason_reference_or_palliative_intent_marks_metastatic_setting(build: Build) -> None:
    by_reason = b.med_request(b.rx("56946"), authored="2022-06-01", reason_ref="Condition/sec-1")
    by_code = b.med_request(b.rx("194000"), authored="2022-06-01", reason_code=b.cc(b.ICD10CM, "C78.7"))
    by_intent = b.med_request(b.rx("12574"), authored="2022-06-01", intent_ext=b.cc(b.SNOMED, "363676003"))
    profile = build(*metastatic(), by_reason, by_code, by_intent)
    assert {"paclitaxel", "capecitabine", "gemcitabine"} <= profile.metastatic_therapies.value


def test_a_regional_lymph_node_reason_does_not_mark_metastatic_setting(build: Build) -> None:
    """Adjuvant letrozole given for axillary-node disease (C77.3, regional: N category, curative intent)
    is early therapy; the same order given for liver metastases (C78.7) is metastatic therapy."""
    axillary = b.cc(b.ICD10CM, "C77.3", "Secondary malignant neoplasm of axilla and upper limb lymph nodes")
    adjuvant = b.med_request(b.rx("72965"), authored="2018-05-01", status="completed", reason_code=axillary)
    profile = build(*metastatic(), adjuvant)
    assert "letrozole" in profile.prior_therapies.value
    assert "letrozole" not in profile.metastatic_therapies.value
    liver = b.med_request(
        b.rx("72965"), authored="2018-05-01", status="completed", reason_code=b.cc(b.ICD10CM, "C78.7")
    )
    assert "letrozole" in build(*metastatic(), liver).metastatic_therapies.value


@pytest.mark.parametrize(
    ("starts", "lines", "chemo", "her2", "endocrine"),
    [
        # letrozole+palbociclib together, later fulvestrant: 2 endocrine lines
        ([("72965", "2023-02-01"), ("1601374", "2023-02-20"), ("282357", "2024-05-01")], 2, 0, 0, 2),
        # THP then T-DM1 then T-DXd: 3 HER2 lines, 1 with chemo
        (
            [
                ("224905", "2023-02-01"),
                ("1298944", "2023-02-01"),
                ("72962", "2023-02-08"),
                ("1371041", "2024-01-10"),
                ("2267574", "2024-09-01"),
            ],
            3,
            1,
            3,
            0,
        ),
        # refills of the same drug continue the line; bone agents never count
        (
            [
                ("194000", "2023-02-01"),
                ("194000", "2023-04-01"),
                ("194000", "2023-06-01"),
                ("77655", "2023-08-01"),
                ("12574", "2023-10-01"),
            ],
            2,
            2,
            0,
            0,
        ),
        # adjuvant drugs before the metastatic diagnosis do not count
        (
            [
                ("3639", "2019-01-01"),
                ("3002", "2019-01-01"),
                ("10324", "2019-06-01"),
                ("258494", "2023-02-01"),
            ],
            1,
            0,
            0,
            1,
        ),
        # ovarian suppression alone is not a line
        ([("50610", "2023-02-01")], 0, 0, 0, 0),
        # an agent added to a running regimen within 90 days joins it; after that it is a new line
        ([("56946", "2023-02-01"), ("40048", "2023-03-02")], 1, 1, 0, 0),
        ([("56946", "2023-02-01"), ("40048", "2023-05-02")], 1, 1, 0, 0),
        ([("56946", "2023-02-01"), ("40048", "2023-05-03")], 2, 2, 0, 0),
    ],
)
def test_line_counting(
    build: Build, starts: list[tuple[str, str]], lines: int, chemo: int, her2: int, endocrine: int
) -> None:
    meds = [b.med_request(b.rx(code), authored=when) for code, when in starts]
    profile = build(*metastatic(), *meds)
    assert profile.metastatic_lines.value == lines
    assert profile.metastatic_chemotherapy_lines.value == chemo
    assert profile.metastatic_her2_lines.value == her2
    assert profile.metastatic_endocrine_lines.value == endocrine


def test_start_from_dosage_bounds_and_statement_period(build: Build) -> None:
    request = b.med_request(b.rx("72965"), authored="2022-12-01", bounds=("2023-03-01", None))
    statement = b.med_statement(b.rx("282357"), start="2024-04-01", end="2024-12-01", status="completed")
    profile = build(*metastatic(), request, statement)
    assert profile.metastatic_lines.value == 2
    assert profile.metastatic_lines.note and "line 1: 2023-03-01 letrozole" in profile.metastatic_lines.note


def test_undated_metastatic_medicine_is_reported(build: Build) -> None:
    undated = b.med_request(b.rx("56946"), authored=None, reason_ref="Condition/sec-1")
    profile = build(*metastatic(), undated)
    assert "paclitaxel" in profile.metastatic_therapies.value
    # active now: the current line, though its start is not recorded
    assert profile.metastatic_lines.value == 1
    assert profile.on_therapy.value == "yes" and "paclitaxel" in profile.current_therapies.value
    assert profile.metastatic_lines.note == "line 1: start not recorded, paclitaxel"


def test_not_metastatic_has_no_metastatic_therapies(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.med_request(b.rx("72965"), authored="2024-01-01"))
    assert profile.metastatic_therapies.value == frozenset()
    assert profile.metastatic_lines.value == 0


def test_start_from_timing_event(build: Build) -> None:
    request = b.med_request(b.rx("56946"), authored=None)
    request["dosageInstruction"] = [{"timing": {"event": ["2023-05-01", "2023-04-10"]}}]
    profile = build(*metastatic(), request)
    assert profile.metastatic_lines.note == "line 1: 2023-04-10 paclitaxel"


def test_other_medication_records_reported_by_the_selector_count_as_history(terminology: Any) -> None:
    from cds.profile.derive import MenopauseThresholds, build_profile
    from cds.profile.model import DataIssue, Evidence
    from tests.profile.builders import TODAY

    amlodipine = b.med_statement(b.cc(b.RXNORM, "197361", "amlodipine 5 MG Oral Tablet"))
    assert not terminology.is_relevant(b.model(amlodipine))
    assert terminology.is_medication_record(b.model(amlodipine))
    entered_in_error = b.med_statement(b.rx("197361"), status="entered-in-error")
    assert not terminology.is_medication_record(b.model(entered_in_error))
    seen = DataIssue(
        "medication_history",
        "ignored",
        "1 medication record for a medicine that is not a cancer therapy was received and not read.",
        (Evidence(f"MedicationStatement/{amlodipine['id']}", None, "non-cancer medicine"),),
    )
    profile = build_profile(
        [b.model(b.patient())],
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
        issues=[seen],
    )
    assert profile.medication_history.value == "yes"
    assert profile.prior_therapies.value == frozenset()
    assert profile.ovarian_suppression_current.value == "no"


# --- ATC and German names (review 3 D1): German/MII data codes medicines in ATC, names them in German ---

BFARM_ATC = "http://fhir.de/CodeSystem/bfarm/atc"
WHO_ATC = "http://www.whocc.no/atc"


def test_german_first_line_in_atc_is_read_as_current_ai_ovarian_suppression_and_cdk46(build: Build) -> None:
    """Senologie Fall 9 shape: "Letrozol" L02BG04, goserelin L02AE03, palbociclib L01EF01 code only."""
    profile = build(
        *metastatic(),
        b.med_statement(b.cc(BFARM_ATC, "L02BG04", "Letrozol", text="Letrozol 2,5 mg"), start="2023-02-01"),
        b.med_statement(b.cc(BFARM_ATC, "L02AE03", "Goserelin"), start="2023-02-01"),
        b.med_statement(b.cc(BFARM_ATC, "L01EF01"), start="2023-02-01"),
    )
    assert {"letrozole", "palbociclib"} <= profile.current_therapies.value
    assert {"aromatase_inhibitor", "cdk4_6_inhibitor", "ovarian_suppression"} <= profile.prior_therapies.value
    assert profile.ovarian_suppression_current.value == "yes"
    assert profile.metastatic_lines.value == 1
    assert not [i for i in profile.issues if i.topic == "prior_therapies" and "not recognised" in i.message]
    # the evidence names the code system, as it does RxNorm's: a code-only record reads "ATC L01EF01"
    assert any("ATC L01EF01" in e.text for e in profile.current_therapies.evidence), [
        e.text for e in profile.current_therapies.evidence
    ]


@pytest.mark.parametrize(
    ("coding", "classes"),
    [
        ((WHO_ATC, "L01EF01", None), {"palbociclib"}),  # the HL7 THO URI, code only
        (("http://fhir.de/CodeSystem/dimdi/atc", "L01EF03", None), {"abemaciclib"}),  # the older German URI
        ((BFARM_ATC, "L01XE50", None), {"abemaciclib"}),  # ATC until 2020; L01EF03 since 2021
        ((BFARM_ATC, "L01XC03", None), {"trastuzumab"}),  # ATC until 2021; L01FD01 since 2022
        ((BFARM_ATC, "L01FD03", None), {"t_dm1"}),
        ((BFARM_ATC, "L01XK02", "Niraparib"), {"parp_inhibitor", "niraparib"}),  # MII KDS test data
        ((BFARM_ATC, "L01XX54", None), {"parp_inhibitor", "niraparib"}),  # ATC until 2020
        ((BFARM_ATC, "L01DB01", None), {"chemotherapy", "anthracycline"}),  # MII MTB, code only
        ((BFARM_ATC, "M05BA08", None), {"bone_modifying"}),
    ],
)
def test_atc_substance_codes_are_read(
    build: Build, coding: tuple[str, str, str | None], classes: set[str]
) -> None:
    profile = build(*metastatic(), b.med_statement(b.cc(*coding)))
    assert classes <= profile.prior_therapies.value


@pytest.mark.parametrize(
    ("text", "classes"),
    [
        ("Letrozol 2,5 mg 1-0-0", {"letrozole"}),
        ("Anastrozol 1 mg", {"anastrozole"}),
        ("Exemestan 25 mg", {"exemestane"}),
        ("Cyclophosphamid 600 mg/m2", {"cyclophosphamide"}),
        ("Capecitabin 1000 mg/m2 2x tgl.", {"capecitabine"}),
        ("Zoledronat 4 mg i.v.", {"bone_modifying"}),
        ("Trastuzumab Emtansin 3,6 mg/kg", {"t_dm1"}),
        ("Zejula 200 mg", {"parp_inhibitor", "niraparib"}),
    ],
)
def test_german_inn_spellings_are_read(build: Build, text: str, classes: set[str]) -> None:
    profile = build(*metastatic(), b.med_statement(b.cc(text=text)))
    assert classes <= profile.prior_therapies.value
    assert "trastuzumab" not in profile.prior_therapies.value  # T-DM1 ("Emtansin") is not also trastuzumab
