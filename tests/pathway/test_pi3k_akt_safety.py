"""The shipped PI3K/AKT/mTOR and oral SERD rules on the safety findings and the menopausal status a
clinician meets (clinical review 7, findings 2, 3, 4, 6 and 7): what is withheld, what is offered with a
caution, and what the option line tells a premenopausal woman."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest

from cds.pathway.engine import CompiledRule, Evaluation, evaluate
from cds.pathway.labels import option_line
from cds.profile.model import PatientProfile
from tests.pathway.support import real_knowledge, woman

INAVOLISIB = "inavolisib-palbociclib-fulvestrant-first-line"
ALPELISIB = "alpelisib-fulvestrant-pik3ca"
CAPIVASERTIB = "capivasertib-fulvestrant-pik3ca-akt1-pten"
EVEROLIMUS = "everolimus-exemestane-after-ai"
IMLUNESTRANT = "imlunestrant-esr1-mutated"
ELACESTRANT = "elacestrant-esr1-mutated"
LETROZOLE_PALBOCICLIB = frozenset(
    {"endocrine_therapy", "aromatase_inhibitor", "letrozole", "cdk4_6_inhibitor", "palbociclib"}
)
ANASTROZOLE = frozenset({"endocrine_therapy", "aromatase_inhibitor", "anastrozole"})


def _patient(**facts: Any) -> PatientProfile:
    values: dict[str, Any] = {
        "subtype": "hr_positive_her2_negative",
        "hormone_receptor_status": "positive",
        "her2_status": "negative",
        "her2_low": "no",
        "pik3ca_status": "altered",
    }
    values.update(facts)
    return woman(**values)


def inavo120(**facts: Any) -> PatientProfile:
    """PIK3CA-mutated disease that relapsed 18 months into adjuvant anastrozole; no metastatic line yet."""
    return _patient(
        progressed_on=ANASTROZOLE,
        early_relapse_after=ANASTROZOLE,
        completed_metastatic_lines=0,
        endocrine_resistance="primary",
        adjuvant_endocrine_resistance="primary",
        **facts,
    )


def after_letrozole_palbociclib(**facts: Any) -> PatientProfile:
    """Progressed on first-line letrozole + palbociclib."""
    return _patient(
        progressed_on=LETROZOLE_PALBOCICLIB,
        completed_metastatic_lines=1,
        metastatic_endocrine_lines=1,
        endocrine_resistance="sensitive",
        **facts,
    )


def _offered(result: Evaluation) -> dict[str, CompiledRule]:
    return {item.rule.id: item for item in result.now}


def _cautions(result: Evaluation, rule_id: str) -> list[str]:
    item = _offered(result)[rule_id]
    return [c.reason for c in item.cautions_holding(result.profile)]


def _ruled_out(result: Evaluation, rule_id: str) -> list[str]:
    return [out.exclusion.reason for out in result.ruled_out if out.item.rule.id == rule_id]


# --- finding 2: diabetes needing treatment ---------------------------------------------------------


def test_inavolisib_is_withheld_for_type_2_diabetes_on_treatment_and_says_why() -> None:
    """Review 7, D1/D2: type 2 diabetes on metformin, HbA1c 7.2% (no hyperglycaemia risk by the
    CAPItello-291 cut-offs) was shown inavolisib as preferred. Itovebi label 5.1: not studied."""
    assert INAVOLISIB in _offered(evaluate(inavo120(hyperglycaemia_risk="no"), real_knowledge()))
    result = evaluate(
        inavo120(hyperglycaemia_risk="no", diabetes="yes", diabetes_treated="yes"), real_knowledge()
    )
    assert INAVOLISIB not in _offered(result)
    (reason,) = _ruled_out(result, INAVOLISIB)
    assert "Itovebi label" in reason and "type 2 diabetes requiring ongoing" in reason
    assert "fulvestrant-cdk46" in _offered(result)  # INAVO120's comparator stays


def test_inavolisib_is_cautioned_not_withheld_for_diabetes_without_treatment() -> None:
    """Review 8 (F3): a diet-controlled diabetes record, or dapagliflozin for heart failure, is not "type 2
    diabetes requiring ongoing anti-hyperglycaemic treatment": offered, with a word to check glucose first."""
    result = evaluate(inavo120(hyperglycaemia_risk="no", diabetes="yes"), real_knowledge())
    assert INAVOLISIB in _offered(result)
    (caution,) = [c for c in _cautions(result, INAVOLISIB) if "glucose" in c]
    assert "check fasting glucose and HbA1c" in caution


@pytest.mark.parametrize("rule_id", [ALPELISIB, CAPIVASERTIB])
def test_alpelisib_and_capivasertib_are_cautioned_not_withheld_for_treated_type_2_diabetes(
    rule_id: str,
) -> None:
    """Controlled type 2 diabetes was admitted to SOLAR-1 and CAPItello-291: offered, with a caution."""
    plain = evaluate(after_letrozole_palbociclib(hyperglycaemia_risk="no"), real_knowledge())
    assert rule_id in _offered(plain) and not _cautions(plain, rule_id)
    result = evaluate(after_letrozole_palbociclib(hyperglycaemia_risk="no", diabetes="yes"), real_knowledge())
    (caution,) = _cautions(result, rule_id)
    assert "diabetes" in caution and "glucose" in caution


def test_everolimus_is_cautioned_for_a_recorded_type_2_diabetes() -> None:
    """Review 7, D3: its caution said "diabetes ... is recorded" yet did not fire for type 2 diabetes."""
    profile = after_letrozole_palbociclib(pik3ca_status="not_detected", diabetes="yes")
    cautions = _cautions(evaluate(profile, real_knowledge()), EVEROLIMUS)
    assert any("hyperglycaemia" in c and "glucose-lowering" in c for c in cautions)


@pytest.mark.parametrize(
    ("hyperglycaemia_risk", "diabetes", "shown"),
    [
        ("yes", "yes", "glucose-lowering"),
        ("yes", "unknown", "HbA1c of 8% or more"),
        ("no", "yes", "glucose-lowering"),
    ],
)
def test_everolimus_reads_one_hyperglycaemia_caution(
    hyperglycaemia_risk: str, diabetes: str, shown: str
) -> None:
    """Type 1 diabetes is both findings: the caution is read once, not twice in other words."""
    profile = after_letrozole_palbociclib(
        pik3ca_status="not_detected", hyperglycaemia_risk=hyperglycaemia_risk, diabetes=diabetes
    )
    cautions = [
        c for c in _cautions(evaluate(profile, real_knowledge()), EVEROLIMUS) if "hyperglycaemia" in c
    ]
    assert len(cautions) == 1 and shown in cautions[0]


# --- finding 6: the Piqray label is quoted, not misquoted ------------------------------------------


def test_the_alpelisib_diabetes_exclusion_quotes_the_piqray_label() -> None:
    result = evaluate(
        after_letrozole_palbociclib(hyperglycaemia_risk="yes", diabetes="yes"), real_knowledge()
    )
    (reason,) = _ruled_out(result, ALPELISIB)
    assert "Piqray label, safety not established in type 1 or uncontrolled type 2 diabetes" in reason
    assert "(HbA1c 8% or more) (Piqray label)" not in reason  # CAPItello-291's cut-off, not Piqray's


# --- finding 3: pneumonitis ------------------------------------------------------------------------


def test_alpelisib_carries_the_pneumonitis_caution_its_neighbours_carry() -> None:
    result = evaluate(after_letrozole_palbociclib(interstitial_lung_disease="yes"), real_knowledge())
    (caution,) = _cautions(result, ALPELISIB)
    assert "pneumonitis" in caution and "Piqray label" in caution
    assert not _cautions(evaluate(after_letrozole_palbociclib(), real_knowledge()), ALPELISIB)


# --- finding 4: ovarian suppression before the menopause ------------------------------------------


@pytest.mark.parametrize(
    ("profile", "rule_id"),
    [
        (inavo120(menopausal_status="premenopausal"), INAVOLISIB),
        (after_letrozole_palbociclib(menopausal_status="premenopausal", esr1_status="altered"), IMLUNESTRANT),
        (after_letrozole_palbociclib(menopausal_status="premenopausal"), CAPIVASERTIB),
    ],
)
def test_a_premenopausal_woman_is_told_to_add_ovarian_suppression(
    profile: PatientProfile, rule_id: str
) -> None:
    """Review 7, PM3/PM4: fulvestrant or a SERD without ovarian suppression does not work before the
    menopause; the other options on the same card said "OFS unless postmenopausal"."""
    offered = _offered(evaluate(profile, real_knowledge()))
    assert option_line(offered[rule_id].rule, profile).endswith("; with ovarian suppression")


@pytest.mark.parametrize(
    ("changes", "ends"),
    [
        ({"menopausal_status": "postmenopausal"}, "(palbociclib or abemaciclib)"),
        (
            {"menopausal_status": "indeterminate"},
            "; with ovarian suppression unless postmenopause is confirmed",
        ),
        (
            {"menopausal_status": "indeterminate", "ovarian_suppression_current": "yes"},
            "; with ovarian suppression",
        ),
        ({"sex": "male", "menopausal_status": "unknown"}, "(palbociclib or abemaciclib)"),
        ({"sex": "unknown"}, "; OFS unless postmenopausal"),
    ],
)
def test_the_option_line_says_what_this_patient_takes_it_with(changes: dict[str, str], ends: str) -> None:
    """Review 9, finding 7: "OFS unless postmenopausal, GnRH analogue in men" stood on 137 option lines,
    for 71-year-old women too; the line says what this patient needs beside the drugs, or nothing (a man
    takes fulvestrant without a GnRH analogue: ASCO male breast cancer guideline 2020)."""
    rule = real_knowledge().all_rules["fulvestrant-cdk46"]
    line = option_line(rule, _patient(**changes))
    assert line.startswith("Fulvestrant + CDK4/6 inhibitor") and line.endswith(ends)


@pytest.mark.parametrize(
    ("sex", "ends"),
    [
        ("male", "; with a GnRH analogue alongside an aromatase inhibitor"),
        ("unknown", "; OFS unless postmenopausal, GnRH analogue with an AI in men"),
    ],
)
def test_a_man_takes_an_aromatase_inhibitor_with_a_gnrh_analogue(sex: str, ends: str) -> None:
    rule = real_knowledge().all_rules["ai-cdk46-first-line"]
    assert option_line(rule, _patient(sex=sex, menopausal_status="unknown")).endswith(ends)


def test_no_option_line_tells_a_postmenopausal_woman_about_the_menopause() -> None:
    """Review 9, finding 7: "(postmenopausal women and men)" and "OFS unless postmenopausal" stood on the
    option lines of 71-year-old women; the options are offered to the patient at hand."""
    profile = after_letrozole_palbociclib(esr1_status="altered")
    offered = _offered(evaluate(profile, real_knowledge()))
    assert {ELACESTRANT, ALPELISIB, CAPIVASERTIB} <= set(offered)
    lines = [option_line(item.rule, profile) for item in offered.values()]
    assert not [line for line in lines if "menopaus" in line or "ovarian suppression" in line], lines


# --- finding 7: the labels quoted are linked ------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "brand", "first"),
    [
        (INAVOLISIB, "Itovebi", True),
        (ALPELISIB, "Piqray", True),
        (CAPIVASERTIB, "Truqap", True),
        (ELACESTRANT, "Orserdu", False),
        (IMLUNESTRANT, "Inluriyo", False),
    ],
)
def test_a_rule_that_quotes_a_label_links_it(rule_id: str, brand: str, first: bool) -> None:
    """A safety exclusion that quotes the label lists it first (the warning card's source)."""
    sources = real_knowledge().all_rules[rule_id].sources
    labels = [s for s in sources if s.label.startswith(brand)]
    assert labels, rule_id
    assert urlparse(str(labels[0].url)).netloc in ("dailymed.nlm.nih.gov", "www.accessdata.fda.gov")
    assert (sources[0] is labels[0]) == first
