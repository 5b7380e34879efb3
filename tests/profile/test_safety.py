"""Safety findings (cds/profile/safety.py): ILD / pneumonitis history, hyperglycaemia risk, cardiac
dysfunction and long QT, coded the ways EHRs send them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.fhir.codes import Terminology
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import PatientProfile
from tests.profile import builders as b
from tests.profile.builders import TODAY

Build = Callable[..., PatientProfile]
SERVICE = Path(__file__).resolve().parents[2] / "cards" / "service.yaml"


def _hba1c(value: float | None = None, unit: str = "%", *, code: str = "4548-4", **kw: Any) -> dict[str, Any]:
    quantity = (value, unit) if value is not None else None
    return b.observation(
        b.cc(b.LOINC, code, "Hemoglobin A1c/Hemoglobin.total in Blood"), quantity=quantity, **kw
    )


def _lvef(value: float | None = None, unit: str = "%", **kw: Any) -> dict[str, Any]:
    quantity = (value, unit) if value is not None else None
    return b.observation(
        b.cc(b.LOINC, "10230-1", "Left ventricular Ejection fraction"), quantity=quantity, **kw
    )


def _qtc(value: float | None = None, unit: str = "ms", **kw: Any) -> dict[str, Any]:
    quantity = (value, unit) if value is not None else None
    return b.observation(b.cc(b.LOINC, "8636-3", "Q-T interval corrected"), quantity=quantity, **kw)


def _unfiltered(terminology: Terminology, *raw: dict[str, Any]) -> PatientProfile:
    """build_profile on resources the pre-filter would not pass yet (insulin orders: see
    test_insulin_orders_pass_the_pre_filter)."""
    return build_profile(
        [b.model(r) for r in raw],
        patient_id=b.PATIENT,
        today=TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
    )


# --- interstitial lung disease ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "clinical", "kind"),
    [
        (b.cc(b.SNOMED, "233703007", "Interstitial lung disease (disorder)"), "active", "interstitial"),
        (b.cc(b.SNOMED, "427046006", "Drug-induced pneumonitis (disorder)"), "resolved", "drug-induced"),
        (
            b.cc(b.ICD10CM, "J70.2", "Acute drug-induced interstitial lung disorders"),
            "resolved",
            "drug-induced",
        ),
        (
            b.cc(b.ICD10CM, "J70.0", "Acute pulmonary manifestations due to radiation"),
            "inactive",
            "radiation",
        ),
        (b.cc(b.ICD10CM, "J84.10", "Pulmonary fibrosis, unspecified"), "active", "interstitial"),
        (b.cc(text="Radiation pneumonitis after left breast RT"), "resolved", "radiation"),
        (b.cc(text="Pneumonitis grade 2 on pembrolizumab, resolved with steroids"), None, "cause not stated"),
        (b.cc("urn:oid:1.2.3.local", "ILD01", "ILD - immune related pneumonitis"), "active", "drug-induced"),
    ],
)
def test_ild_or_pneumonitis_history_counts_even_when_resolved(
    build: Build, code: dict[str, Any], clinical: str | None, kind: str
) -> None:
    profile = build(b.patient(), b.breast_cancer(), b.condition(code, clinical=clinical, onset="2021-03"))
    fact = profile.interstitial_lung_disease
    assert fact.value == "yes"
    assert fact.evidence[0].reference.startswith("Condition/")
    assert kind in (fact.note or "")
    if clinical in ("resolved", "inactive"):
        assert f"({clinical}" in fact.evidence[0].text


@pytest.mark.parametrize(
    "code",
    [
        b.cc(text="Aspiration pneumonitis"),
        b.cc(b.SNOMED, "233604007", "Pneumonia (disorder)"),
        b.cc(text="Family history of pulmonary fibrosis"),
        b.cc(b.ICD10CM, "J69.0", "Pneumonitis due to inhalation of food and vomit"),
    ],
)
def test_not_an_ild_leaves_it_unknown_never_no(terminology: Terminology, code: dict[str, Any]) -> None:
    profile = _unfiltered(terminology, b.patient(), b.breast_cancer(), b.condition(code))
    assert profile.interstitial_lung_disease.value == "unknown"


def test_refuted_ild_is_not_counted(build: Build) -> None:
    code = b.cc(b.SNOMED, "233703007", "Interstitial lung disease (disorder)")
    profile = build(b.patient(), b.breast_cancer(), b.condition(code, verification="refuted"))
    assert profile.interstitial_lung_disease.value == "unknown"


@pytest.mark.parametrize(
    ("reason", "counted"),
    [
        ("Grade 2 pneumonitis", True),  # review 12: T-DXd stopped for it, no Condition on the list
        ("ILD - permanently discontinued", True),
        ("Aspiration pneumonitis", False),
        ("Grade 3 neutropenia", False),
        # a doubted or denied mention counts: suspected lung disease is what the labels ask about, and the
        # evidence shows the clinician the words (review 14: "cannot be excluded" read as no lung disease
        # put T-DXd back on the card)
        ("PD on CT. Rule out pneumonitis", True),
        ("Dyspnoea; drug-induced pneumonitis cannot be excluded", True),
        ("Cough - ILD excluded on CT", False),  # review 15: a stated negative is no finding
        ("PD on CT, no ILD", False),
        ("Pneumonitis: no", False),  # review 16
        ("ILD not present on CT", False),
        ("PD; pneumonitis - negative", False),
        ("Not tolerated - pneumonitis", True),  # review 17: the "not" is about the tolerance
        ("Grade 2 pneumonitis - infection ruled out on BAL", True),
        ("Pneumonitis: no evidence on CT; progressive disease", False),
        ("Pneumonitis - nil improvement on steroids", True),  # review 18: the "nil" is the improvement's
    ],
)
def test_a_medicine_stopped_for_pneumonitis_is_a_history_of_it(
    build: Build, reason: str, counted: bool
) -> None:
    record = b.med_statement(
        b.rx("2267582", "fam-trastuzumab deruxtecan-nxki"),
        start="2025-01-10",
        end="2025-06-02",
        status="stopped",
    )
    record["statusReason"] = [{"text": reason}]
    fact = build(b.patient(), b.breast_cancer(), record).interstitial_lung_disease
    assert (fact.value == "yes") is counted
    if counted:
        assert fact.evidence[0].text.endswith(f"stopped: {reason}") and fact.evidence[0].date == "2025-06-02"


# --- hyperglycaemia risk ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (b.condition(b.cc(b.SNOMED, "46635009", "Diabetes mellitus type 1 (disorder)")), "type 1"),
        (b.condition(b.cc(b.ICD10CM, "E10.65", "Type 1 diabetes mellitus with hyperglycemia")), "type 1"),
        (b.condition(b.cc(text="IDDM since childhood")), "type 1"),
        (b.condition(b.cc(b.ICD10CM, "Z79.4", "Long term (current) use of insulin")), "insulin-treated"),
        (
            b.condition(b.cc(b.SNOMED, "237599002", "Insulin treated type 2 diabetes mellitus")),
            "insulin-treated",
        ),
    ],
)
def test_type_1_or_insulin_treated_diabetes_is_a_risk_whatever_the_hba1c(
    build: Build, resource: dict[str, Any], reason: str
) -> None:
    profile = build(b.patient(), b.breast_cancer(), resource, _hba1c(6.1, date="2025-05-20"))
    fact = profile.hyperglycaemia_risk
    assert fact.value == "yes"
    assert reason in (fact.note or "").lower()
    assert "6.1%" in (fact.note or "")  # the HbA1c is shown next to the reason


def test_type_2_diabetes_on_metformin_with_good_hba1c_is_no(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), _hba1c(6.8, date="2025-04-01"))
    fact = profile.hyperglycaemia_risk
    assert fact.value == "no"
    assert "6.8%" in (fact.note or "") and fact.evidence[0].reference.startswith("Observation/")


@pytest.mark.parametrize(
    ("raw", "expected", "shown"),
    [
        (_hba1c(8.0, date="2025-05-01"), "yes", "8%"),
        (_hba1c(7.9, date="2025-05-01"), "no", "7.9%"),
        (_hba1c(64, "mmol/mol", date="2025-05-01"), "yes", "= 8%"),  # 0.0915 x 64 + 2.15 = 8.0
        (_hba1c(58, "mmol/mol", date="2025-05-01"), "no", "= 7.5%"),
        (_hba1c(70, "mmol/mol", code="59261-8", date="2025-05-01"), "yes", "= 8.6%"),
        (_hba1c(69, "", date="2025-05-01"), "yes", "mmol/mol"),  # no unit, IFCC-sized value
        (_hba1c(date="2025-05-01") | {"valueString": "8.4 %"}, "yes", "8.4%"),
        (_hba1c(date="2025-05-01") | {"valueString": ">14.0%"}, "yes", ">14%"),
        (b.observation(b.cc(text="HbA1c"), quantity=(9.1, "%"), date="2025-05-01"), "yes", "9.1%"),
    ],
)
def test_hba1c_in_percent_or_ifcc_mmol_per_mol(
    build: Build, raw: dict[str, Any], expected: str, shown: str
) -> None:
    fact = build(b.patient(), b.breast_cancer(), raw).hyperglycaemia_risk
    assert fact.value == expected
    assert shown in fact.evidence[0].text


def test_latest_hba1c_wins_over_an_older_high_one(build: Build) -> None:
    profile = build(
        b.patient(), b.breast_cancer(), _hba1c(9.4, date="2024-08-01"), _hba1c(7.1, date="2025-03-01")
    )
    assert profile.hyperglycaemia_risk.value == "no"
    assert "7.1%" in (profile.hyperglycaemia_risk.note or "")


def test_an_hba1c_older_than_a_year_cannot_say_no_but_can_say_yes(build: Build) -> None:
    old_low = build(b.patient(), b.breast_cancer(), _hba1c(6.0, date="2023-02-01")).hyperglycaemia_risk
    assert old_low.value == "unknown" and "more than a year old" in (old_low.note or "")
    old_high = build(b.patient(), b.breast_cancer(), _hba1c(8.9, date="2023-02-01")).hyperglycaemia_risk
    assert old_high.value == "yes" and "2023-02-01" in (old_high.note or "")


def test_no_hba1c_and_no_diabetes_is_unknown(build: Build) -> None:
    assert build(b.patient(), b.breast_cancer()).hyperglycaemia_risk.value == "unknown"


def test_an_unreadable_hba1c_is_reported(build: Build) -> None:
    profile = build(b.patient(), b.breast_cancer(), _hba1c(date="2025-05-01") | {"valueString": "see report"})
    assert profile.hyperglycaemia_risk.value == "unknown"
    assert any(i.topic == "hyperglycaemia_risk" and i.kind == "unreadable" for i in profile.issues)


@pytest.mark.parametrize(
    "medication",
    [
        b.rx("274783", "insulin glargine"),
        b.rx("865098", "Insulin Lispro 100 UNT/ML Injectable Solution [Humalog]"),
        b.cc(text="Lantus SoloStar 100 unit/mL pen, 18 units at bedtime"),
        b.cc("http://hl7.org/fhir/sid/ndc", "0169-7501-11", "Novolog 100u/ml"),
    ],
)
def test_an_active_insulin_order_is_a_risk(terminology: Terminology, medication: dict[str, Any]) -> None:
    profile = _unfiltered(
        terminology,
        b.patient(),
        b.breast_cancer(),
        b.med_request(medication, authored="2024-11-02"),
        _hba1c(7.2, date="2025-05-01"),
    )
    fact = profile.hyperglycaemia_risk
    assert fact.value == "yes"
    assert "on insulin" in (fact.note or "").lower()
    assert any(e.reference.startswith("MedicationRequest/") for e in fact.evidence)


@pytest.mark.parametrize(
    "record",
    [
        b.med_request(b.rx("274783", "insulin glargine"), status="stopped"),
        b.med_request(b.rx("274783", "insulin glargine"), intent="plan"),
        b.med_statement(b.cc(text="insulin glargine"), status="completed", end="2022-01-01"),
        b.med_admin(b.cc(text="insulin regular sliding scale")),  # given in hospital
    ],
)
def test_stopped_planned_or_inpatient_insulin_is_not_insulin_treatment(
    terminology: Terminology, record: dict[str, Any]
) -> None:
    profile = _unfiltered(terminology, b.patient(), b.breast_cancer(), record, _hba1c(6.4, date="2025-05-01"))
    assert profile.hyperglycaemia_risk.value == "no"


def test_insulin_orders_pass_the_pre_filter(terminology: Terminology) -> None:
    assert terminology.is_relevant(b.model(b.med_request(b.cc(text="Lantus 100 unit/mL pen"))))


# --- diabetes needing treatment (review 7, N2) ------------------------------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        b.condition(b.cc(b.SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)")),
        b.condition(b.cc(b.ICD10CM, "E11.9", "Type 2 diabetes mellitus without complications")),
        b.condition(b.cc(b.ICD10CM, "E1165", "Type 2 diabetes mellitus with hyperglycemia")),  # no dot
        b.condition(b.cc(b.SNOMED, "73211009", "Diabetes mellitus (disorder)")),
        b.condition(b.cc(b.SNOMED, "46635009", "Diabetes mellitus type 1 (disorder)")),
        b.condition(b.cc(text="NIDDM, diet and tablets")),
        b.med_request(b.rx("860975", "metformin 500 MG Oral Tablet")),
        b.med_request(b.cc(text="Januvia 100 mg tablet once daily")),
        b.med_statement(b.cc(text="empagliflozin 10 MG Oral Tablet")),
        b.med_request(b.rx("274783", "insulin glargine")),
    ],
)
def test_a_current_diabetes_record_or_glucose_lowering_medicine_is_diabetes(
    build: Build, resource: dict[str, Any]
) -> None:
    """Type 2 diabetes on metformin with an HbA1c of 7.2%: not a hyperglycaemia risk by the CAPItello-291
    cut-offs, but diabetes needing treatment, which INAVO120 excluded (Itovebi US label 5.1)."""
    profile = build(b.patient(), b.breast_cancer(), resource, _hba1c(7.2, date="2025-05-01"))
    fact = profile.diabetes
    assert fact.value == "yes"
    assert fact.evidence and fact.evidence[0].reference.split("/")[0] == resource["resourceType"]
    assert profile.hyperglycaemia_risk.value in ("yes", "no")  # the HbA1c reading is unchanged


def test_the_medicine_is_named(build: Build) -> None:
    profile = build(
        b.patient(), b.breast_cancer(), b.med_request(b.rx("860975", "metformin 500 MG Oral Tablet"))
    )
    assert "metformin" in (profile.diabetes.note or "").lower()


@pytest.mark.parametrize(
    "resource",
    [
        b.condition(b.cc(b.SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"), clinical="resolved"),
        b.condition(b.cc(text="Gestational diabetes mellitus")),
        b.condition(b.cc(text="Diabetes insipidus")),
        b.condition(b.cc(text="Pre-diabetes")),
        b.condition(b.cc(text="Family history of diabetes mellitus")),
        b.med_request(b.rx("860975", "metformin 500 MG Oral Tablet"), status="stopped"),
        b.med_request(b.rx("860975", "metformin 500 MG Oral Tablet"), intent="proposal"),
        b.med_statement(b.cc(text="metformin 500 mg"), status="completed", end="2022-01-01"),
    ],
)
def test_resolved_diabetes_stopped_medicine_or_other_wording_is_not_diabetes(
    terminology: Terminology, resource: dict[str, Any]
) -> None:
    profile = _unfiltered(terminology, b.patient(), b.breast_cancer(), resource)
    assert profile.diabetes.value == "unknown"


def test_no_diabetes_recorded_is_unknown_never_no(build: Build) -> None:
    fact = build(b.patient(), b.breast_cancer(), _hba1c(5.4, date="2025-05-01")).diabetes
    assert fact.value == "unknown" and not fact.evidence


_T2DM = b.cc(b.SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)")
_DAPAGLIFLOZIN = b.cc(text="dapagliflozin 10 MG Oral Tablet")


@pytest.mark.parametrize(
    ("resources", "treated"),
    [
        ([b.med_request(b.rx("860975", "metformin 500 MG Oral Tablet"))], "yes"),
        ([b.med_request(b.cc(text="Januvia 100 mg tablet once daily"))], "yes"),
        ([b.med_request(b.rx("274783", "insulin glargine"))], "yes"),
        ([b.condition(_T2DM), b.med_statement(_DAPAGLIFLOZIN)], "yes"),
        # review 8 (F3): not "requiring ongoing anti-hyperglycaemic treatment" (Itovebi label)
        ([b.condition(b.cc(text="Type 2 diabetes mellitus, diet controlled"))], "unknown"),
        ([b.med_statement(_DAPAGLIFLOZIN)], "unknown"),  # also given for heart failure
        ([b.med_request(b.cc(text="Ozempic 0.5 mg weekly"))], "unknown"),  # also given for weight
    ],
)
def test_diabetes_on_treatment_needs_a_diabetes_medicine_or_a_record_with_one(
    build: Build, resources: list[dict[str, Any]], treated: str
) -> None:
    profile = build(b.patient(), b.breast_cancer(), *resources)
    assert profile.diabetes.value == "yes"  # the caution's finding: a diabetes record or medicine
    assert profile.diabetes_treated.value == treated


# --- cardiac dysfunction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_lvef(45, date="2025-04-10"), "yes"),
        (_lvef(49.9, date="2025-04-10"), "yes"),
        (_lvef(50, date="2025-04-10"), "no"),
        (_lvef(62, date="2025-04-10"), "no"),
        (_lvef(0.40, "", date="2025-04-10"), "yes"),  # sent as a fraction
        (_lvef(date="2025-04-10") | {"valueString": "45-50%"}, "yes"),  # a range: its low end
        (_lvef(date="2025-04-10") | {"valueString": "55-60 %"}, "no"),
        (_lvef(date="2025-04-10") | {"valueString": "<50%"}, "yes"),
        (
            b.observation(
                b.cc(b.LOINC, "18043-0", "Left ventricular Ejection fraction by US"),
                quantity=(35, "%"),
                date="2025-04-10",
            ),
            "yes",
        ),
        (
            b.observation(
                b.cc(b.LOINC, "34552-0", "Cardiac 2D echo panel", "Echocardiogram"),
                date="2025-04-10",
                components=[
                    b.component(
                        b.cc(b.LOINC, "18043-0", "Left ventricular Ejection fraction by US"),
                        quantity=(40, "%"),
                    )
                ],
            ),
            "yes",
        ),
    ],
)
def test_latest_lvef_below_50_percent(terminology: Terminology, raw: dict[str, Any], expected: str) -> None:
    # _unfiltered: the pre-filter reads Observation.code only, so an echo panel with LVEF as a component
    # reaches the profile only once the lead's pre-filter reads component codes too
    fact = _unfiltered(terminology, b.patient(), b.breast_cancer(), raw).cardiac_dysfunction
    assert fact.value == expected
    assert fact.evidence and "LVEF" in fact.evidence[-1].text


@pytest.mark.parametrize(
    "code",
    [
        b.cc(b.SNOMED, "84114007", "Heart failure (disorder)"),
        b.cc(b.SNOMED, "88805009", "Chronic congestive heart failure (disorder)"),
        b.cc(b.ICD10CM, "I50.22", "Chronic systolic (congestive) heart failure"),
        b.cc(b.ICD10CM, "I11.0", "Hypertensive heart disease with heart failure"),
        b.cc(text="HFrEF, EF 30% (anthracycline cardiomyopathy)"),
    ],
)
def test_active_heart_failure_is_dysfunction_even_with_a_normal_lvef(
    build: Build, code: dict[str, Any]
) -> None:
    fact = build(
        b.patient(), b.breast_cancer(), b.condition(code), _lvef(55, date="2025-04-10")
    ).cardiac_dysfunction
    assert fact.value == "yes"
    assert fact.evidence[0].reference.startswith("Condition/")
    assert "55%" in (fact.note or "")


def test_resolved_heart_failure_with_recovered_lvef_is_no(build: Build) -> None:
    hf = b.condition(b.cc(b.SNOMED, "84114007", "Heart failure (disorder)"), clinical="resolved")
    fact = build(b.patient(), b.breast_cancer(), hf, _lvef(58, date="2025-02-01")).cardiac_dysfunction
    assert fact.value == "no"
    assert "in the past" in (fact.note or "")


def test_latest_lvef_wins_and_an_old_normal_one_cannot_say_no(build: Build) -> None:
    recovered = build(
        b.patient(), b.breast_cancer(), _lvef(40, date="2024-06-01"), _lvef(57, date="2025-03-01")
    )
    assert recovered.cardiac_dysfunction.value == "no"
    fallen = build(b.patient(), b.breast_cancer(), _lvef(60, date="2024-06-01"), _lvef(44, date="2025-03-01"))
    assert fallen.cardiac_dysfunction.value == "yes"
    stale = build(b.patient(), b.breast_cancer(), _lvef(60, date="2022-06-01"))
    assert stale.cardiac_dysfunction.value == "unknown"


def test_an_old_low_lvef_still_rules_out_and_says_a_current_one_would_settle_it(build: Build) -> None:
    """An LVEF of 25% from 2015 (a Synthea chart with the NAPKON LVEF): anti-HER2 options stay ruled out,
    and the reason says the reading is old, so the clinician knows what to order."""
    fact = build(b.patient(), b.breast_cancer(), _lvef(25, date="2015-02-07")).cardiac_dysfunction
    assert fact.value == "yes"
    assert "more than a year old: a current LVEF would settle it" in (fact.note or "")
    recent = build(b.patient(), b.breast_cancer(), _lvef(25, date="2026-10-01")).cardiac_dysfunction
    assert recent.value == "yes" and "year old" not in (recent.note or "")


@pytest.mark.parametrize(
    "code",
    [
        b.cc(
            b.SNOMED,
            "77970009",
            "Benign hypertensive heart disease without congestive heart failure (disorder)",
        ),
        b.cc(b.ICD10CM, "I11.9", "Hypertensive heart disease without heart failure"),
        b.cc(text="Hypertensive heart disease without congestive cardiac failure"),
    ],
)
def test_heart_disease_recorded_without_heart_failure_is_not_dysfunction(
    build: Build, code: dict[str, Any]
) -> None:
    """A common comorbidity code (in mCODE's Jenny M) must not rule out every anti-HER2 option."""
    fact = build(b.patient(), b.breast_cancer(), b.condition(code)).cardiac_dysfunction
    assert fact.value == "unknown"


def test_no_lvef_and_no_heart_failure_is_unknown(build: Build) -> None:
    assert build(b.patient(), b.breast_cancer()).cardiac_dysfunction.value == "unknown"


# --- long QT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_qtc(470, date="2025-05-01"), "yes"),
        (_qtc(450, date="2025-05-01"), "yes"),  # ribociclib: start only below 450 ms
        (_qtc(449, date="2025-05-01"), "unknown"),  # never "no": long QT is yes / unknown
        (_qtc(0.46, "s", date="2025-05-01"), "yes"),
        (_qtc(date="2025-05-01") | {"valueString": "QTcF 462 msec"}, "yes"),
        (
            b.observation(
                b.cc(b.LOINC, "11524-6", "EKG study"),
                date="2025-05-01",
                components=[b.component(b.cc(b.LOINC, "8636-3", "QTc interval"), quantity=(481, "ms"))],
            ),
            "yes",
        ),
        (b.condition(b.cc(b.ICD10CM, "I45.81", "Long QT syndrome")), "yes"),
        (b.condition(b.cc(b.SNOMED, "111975006", "Prolonged QT interval (finding)")), "yes"),
        (b.condition(b.cc(b.ICD10CM, "R94.31", "Abnormal ECG", "Prolonged QTc on ECG")), "yes"),
        (b.condition(b.cc(b.ICD10CM, "R94.31", "Abnormal electrocardiogram [ECG] [EKG]")), "unknown"),
    ],
)
def test_long_qt(terminology: Terminology, raw: dict[str, Any], expected: str) -> None:
    fact = _unfiltered(terminology, b.patient(), b.breast_cancer(), raw).long_qt  # ECG panels: see LVEF
    assert fact.value == expected
    if expected == "unknown" and raw["resourceType"] == "Observation":
        assert "below 450 ms" in (fact.note or "")


def test_an_older_long_qtc_is_superseded_by_a_normal_one(build: Build) -> None:
    profile = build(
        b.patient(), b.breast_cancer(), _qtc(492, date="2024-09-01"), _qtc(431, date="2025-05-01")
    )
    assert profile.long_qt.value == "unknown"
    assert "431 ms" in (profile.long_qt.note or "")


# --- the facts together, and the prefetch ------------------------------------------------------------


def test_one_unreadable_topic_does_not_take_the_others_with_it(build: Build) -> None:
    profile = build(
        b.patient(),
        b.breast_cancer(),
        _lvef(date="2025-04-10") | {"valueString": "normal"},
        _qtc(480, date="2025-05-01"),
        b.condition(b.cc(b.SNOMED, "233703007", "Interstitial lung disease (disorder)")),
    )
    assert profile.cardiac_dysfunction.value == "unknown"
    assert profile.long_qt.value == "yes" and profile.interstitial_lung_disease.value == "yes"
    assert [i.topic for i in profile.issues if i.kind == "unreadable"] == ["cardiac_dysfunction"]


@pytest.mark.parametrize("name", ["hba1c-tests", "lvef-tests", "qtc-tests"])
def test_the_observations_prefetch_asks_for_every_safety_test_code(
    terminology: Terminology, name: str
) -> None:
    asked = set(yaml.safe_load(SERVICE.read_text())["observation_codes"])
    uris = {"loinc": "http://loinc.org", "snomed": "http://snomed.info/sct"}
    for system, code in terminology.codes(name).codes:
        assert f"{uris[system]}|{code}" in asked, (name, system, code)


def test_today_is_what_recent_is_measured_from(build: Build) -> None:
    later = build(b.patient(), b.breast_cancer(), _hba1c(6.5, date="2025-05-01"), today=date(2026, 6, 1))
    assert later.hyperglycaemia_risk.value == "unknown"


# --- order and unrelated data never change the facts --------------------------------------------------

_CHART: list[dict[str, Any]] = [
    b.patient() | {"deceasedBoolean": False},
    b.breast_cancer(onset="2022-04-01"),
    b.condition(b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone"), onset="2024-09"),
    b.condition(b.cc(b.ICD10CM, "C18.7", "Malignant neoplasm of sigmoid colon"), onset="2024-06-03"),
    b.condition(
        b.cc(b.ICD10CM, "C34.90", "Malignant neoplasm of unspecified part of lung"), onset="2024-07-01"
    ),
    b.condition(
        b.cc(b.SNOMED, "94381002", "Secondary malignant neoplasm of liver"), verification="provisional"
    ),
    b.condition(b.cc(b.SNOMED, "427046006", "Drug-induced pneumonitis (disorder)"), clinical="resolved"),
    b.condition(b.cc(b.ICD10CM, "J70.0", "Acute pulmonary manifestations due to radiation"), onset="2022-11"),
    b.condition(b.cc(b.SNOMED, "46635009", "Diabetes mellitus type 1 (disorder)"), onset="1990"),
    b.condition(b.cc(b.ICD10CM, "Z79.4", "Long term (current) use of insulin"), onset="1990"),
    b.condition(b.cc(b.SNOMED, "84114007", "Heart failure (disorder)"), clinical="resolved"),
    b.condition(b.cc(b.ICD10CM, "I45.81", "Long QT syndrome")),
    _hba1c(8.4, date="2025-05-01"),
    _hba1c(7.0, date="2025-05-01"),
    _lvef(48, date="2025-04-01"),
    _lvef(55, date="2025-04-01"),
    _qtc(452, date="2025-03-01"),
    _qtc(470, date="2025-03-01"),
]
_UNRELATED: list[dict[str, Any]] = [
    b.observation(b.cc(b.LOINC, "8867-4", "Heart rate"), quantity=(72, "/min")),
    b.observation(b.cc(b.LOINC, "2339-0", "Glucose [Mass/volume] in Blood"), quantity=(190, "mg/dL")),
    b.condition(b.cc(b.SNOMED, "38341003", "Hypertensive disorder")),
    b.condition(b.cc(b.ICD10CM, "E11.9", "Type 2 diabetes mellitus without complications")),
]
_FACTS = (
    "interstitial_lung_disease",
    "hyperglycaemia_risk",
    "cardiac_dysfunction",
    "long_qt",
    "other_primary_cancer",
    "deceased",
    "metastatic",
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(_CHART))), extra=st.lists(st.sampled_from(_UNRELATED), max_size=4))
def test_reordering_or_adding_unrelated_resources_never_changes_the_facts(
    terminology: Terminology, order: list[int], extra: list[dict[str, Any]]
) -> None:
    expected = _unfiltered(terminology, *_CHART)
    shuffled = [_CHART[i] for i in order]
    for i, unrelated in enumerate(extra):
        shuffled.insert((i * 7) % (len(shuffled) + 1), unrelated)
    got = _unfiltered(terminology, *shuffled)
    for name in _FACTS:
        assert got.fact(name) == expected.fact(name), name
    assert expected.hyperglycaemia_risk.value == "yes" and expected.long_qt.value == "yes"
    assert expected.cardiac_dysfunction.value == "yes"  # 48% and 55% the same day: the lower counts
    assert expected.other_primary_cancer.value == "yes"
