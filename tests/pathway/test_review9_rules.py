"""The shipped rules changed for clinical review 9: what the cards say to a HER2-positive patient with a
weak heart (finding 1), to a triple-negative germline BRCA carrier (finding 3) and to an endocrine-naive
patient offered fulvestrant with palbociclib or abemaciclib (finding 2)."""

from __future__ import annotations

from typing import Any

from cds.pathway.engine import CompiledRule, Evaluation, evaluate
from cds.profile.model import PatientProfile
from tests.pathway.support import real_knowledge, woman

HEART_REVIEW = "her2-positive-heart-function-review"
THP = "pertuzumab-trastuzumab-docetaxel-first-line"


def _patient(**facts: Any) -> PatientProfile:
    values: dict[str, Any] = {
        "completed_metastatic_lines": 0,
        "metastatic_lines": 0,
        "metastatic_her2_lines": 0,
        "metastatic_chemotherapy_lines": 0,
    }
    values.update(facts)
    return woman(**values)


def _offered(result: Evaluation) -> dict[str, CompiledRule]:
    return {item.rule.id: item for item in result.now}


def _warnings(result: Evaluation) -> set[str]:
    return {item.rule.id for item in result.warnings}


# --- finding 1: HER2-positive disease with heart failure or LVEF below 50% ---------------------------


def her2_positive_hr_negative(**facts: Any) -> PatientProfile:
    return _patient(
        subtype="hr_negative_her2_positive",
        hormone_receptor_status="negative",
        er_status="negative",
        pr_status="negative",
        her2_status="positive",
        **facts,
    )


def test_a_weak_heart_gets_a_warning_that_says_what_to_do() -> None:
    """Review 9, F1: an untreated HER2+/HR- patient with LVEF 38% saw only "2 options not offered": the
    warning now asks for a cardio-oncology review (ASCO: case by case), and each exclusion says so."""
    result = evaluate(her2_positive_hr_negative(cardiac_dysfunction="yes"), real_knowledge())
    assert HEART_REVIEW in _warnings(result)
    (rule,) = [item.rule for item in result.warnings if item.rule.id == HEART_REVIEW]
    assert "cardio-oncology" in rule.card.summary and "case by case" in rule.card.summary
    assert "HR-negative disease no option is listed" in rule.card.detail
    # said once, by the warning, not again with each option it rules out (verification review 10)
    reasons = [out.exclusion.reason for out in result.ruled_out if out.item.rule.id == THP]
    assert reasons and not any("cardio-oncology" in r for r in reasons)


def test_no_heart_warning_with_a_normal_lvef_or_for_her2_negative_disease() -> None:
    fine = evaluate(her2_positive_hr_negative(cardiac_dysfunction="no"), real_knowledge())
    assert HEART_REVIEW not in _warnings(fine) and THP in _offered(fine)
    her2_low = _patient(
        subtype="hr_positive_her2_negative",
        hormone_receptor_status="positive",
        er_status="positive",
        her2_status="negative",
        cardiac_dysfunction="yes",
    )
    assert HEART_REVIEW not in _warnings(evaluate(her2_low, real_knowledge()))


# --- finding 5a: the PARP inhibitor labels are for a germline BRCA mutation --------------------------


def test_the_parp_option_asks_for_a_germline_report_when_the_record_does_not_say_germline() -> None:
    """Review 9, F5a: a problem-list "BRCA2 gene mutation detected" drove talazoparib as preferred; the
    option says what the labels require, as a caution beside it, when no result states the variant is
    germline (verification review 11: not beside a report that says so)."""

    def cautions(origin: str) -> list[str]:
        profile = triple_negative(germline_brca="pathogenic", germline_origin_stated=origin)
        result = evaluate(profile, real_knowledge())
        item = _offered(result)["parp-inhibitor-gbrca"]
        return [c.reason for c in item.cautions_holding(result.profile)]

    assert any("germline BRCA" in c and "confirm a germline test report" in c for c in cautions("no"))
    assert not any("germline test report" in c for c in cautions("yes"))


# --- finding 3: single-agent carboplatin for triple-negative disease with a germline BRCA1/2 variant --

TN_CHEMO = "chemotherapy-triple-negative"
PACLITAXEL = frozenset({"chemotherapy", "taxane", "paclitaxel"})


def triple_negative(**facts: Any) -> PatientProfile:
    """Triple-negative disease that progressed on first-line paclitaxel."""
    values: dict[str, Any] = {
        "subtype": "triple_negative",
        "hormone_receptor_status": "negative",
        "er_status": "negative",
        "pr_status": "negative",
        "her2_status": "negative",
        "her2_low": "no",
        "prior_therapies": PACLITAXEL,
        "metastatic_therapies": PACLITAXEL,
        "progressed_on": PACLITAXEL,
        "completed_metastatic_lines": 1,
        "metastatic_lines": 1,
        "metastatic_chemotherapy_lines": 1,
    }
    values.update(facts)
    return _patient(**values)


def _tn_chemo_cautions(profile: PatientProfile) -> list[str]:
    result = evaluate(profile, real_knowledge())
    item = _offered(result)[TN_CHEMO]
    assert "carboplatin" in (item.rule.option or "")
    return [c.reason for c in item.cautions_holding(result.profile)]


def test_a_gbrca_carrier_is_told_carboplatin_is_favoured() -> None:
    """Review 9, F3: TNT, carboplatin vs docetaxel, response 68% vs 33% in gBRCA carriers."""
    (caution,) = _tn_chemo_cautions(triple_negative(germline_brca="pathogenic"))
    assert "carboplatin is favoured" in caution and "TNT" in caution


def test_no_carboplatin_caution_without_gbrca_or_after_a_platinum() -> None:
    assert not _tn_chemo_cautions(triple_negative(germline_brca="not_detected"))
    olaparib = PACLITAXEL | {"parp_inhibitor", "olaparib"}  # TNT enrolled no one after a PARP inhibitor
    after_parp = triple_negative(germline_brca="pathogenic", prior_therapies=olaparib, progressed_on=olaparib)
    assert not _tn_chemo_cautions(after_parp)
    on_carboplatin = PACLITAXEL | {"platinum", "carboplatin"}
    after_platinum = triple_negative(
        germline_brca="pathogenic", prior_therapies=on_carboplatin, progressed_on=on_carboplatin
    )
    assert not _tn_chemo_cautions(after_platinum)


# --- finding 2: fulvestrant + palbociclib or abemaciclib with no endocrine therapy before -----------

FULVESTRANT_CDK46 = "fulvestrant-cdk46"
ANASTROZOLE = frozenset({"endocrine_therapy", "aromatase_inhibitor", "anastrozole"})


def hr_positive_first_line(**facts: Any) -> PatientProfile:
    values: dict[str, Any] = {
        "subtype": "hr_positive_her2_negative",
        "hormone_receptor_status": "positive",
        "er_status": "positive",
        "her2_status": "negative",
        "her2_low": "no",
        "pik3ca_status": "not_detected",
        "endocrine_resistance": "unknown",
    }
    values.update(facts)
    return _patient(**values)


def _fulvestrant_cdk46_cautions(profile: PatientProfile) -> list[str]:
    result = evaluate(profile, real_knowledge())
    return [c.reason for c in _offered(result)[FULVESTRANT_CDK46].cautions_holding(result.profile)]


def test_endocrine_naive_first_line_is_told_what_the_labels_say() -> None:
    """Review 9, F2: the Ibrance and Verzenio fulvestrant indications follow progression on endocrine
    therapy; only ribociclib is labelled with fulvestrant as initial endocrine-based therapy."""
    (caution,) = _fulvestrant_cdk46_cautions(hr_positive_first_line())
    assert "no endocrine therapy is recorded" in caution and "ribociclib" in caution


def test_no_label_caution_after_relapse_on_an_adjuvant_aromatase_inhibitor() -> None:
    profile = hr_positive_first_line(
        prior_therapies=ANASTROZOLE,
        progressed_on=ANASTROZOLE,
        early_relapse_after=ANASTROZOLE,
        endocrine_resistance="primary",
    )
    assert not _fulvestrant_cdk46_cautions(profile)
