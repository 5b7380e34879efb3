"""The engine weighs therapy options at the patient's decision point on the journey (cds.pathway.engine).

Hand-built profiles and small rule sets: no HTTP, no FHIR. Each test is a way a clinician was shown the
wrong option before: a drug the patient is on or progressed on, a next-line option shown as "now", an
option a safety finding rules out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cds.errors import KnowledgeError
from cds.pathway.engine import Evaluation, evaluate
from cds.profile.model import PatientProfile
from tests.fixtures_support import knowledge_with
from tests.pathway.support import metastatic_profile

SOURCE = [{"label": "Test label", "url": "https://www.accessdata.fda.gov/scripts/cder/daf/"}]


def therapy(rule_id: str, conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "version": "1.0.0",
        "status": "active",
        "title": f"Test rule {rule_id}",
        "category": "cdk4-6",
        "when": "when words",
        "then": "then words",
        "conditions": conditions,
        "decision_point": "first_line",
        "preference": "preferred",
        "option": f"Option {rule_id}",
        "regimen": ["aromatase_inhibitor", "cdk4_6_inhibitor"],
        "card": {"summary": f"Consider {rule_id}", "indicator": "info", "detail": "Detail."},
        "sources": SOURCE,
        "evidence": {"note": "test", "beyond_seed_documents": True},
        **extra,
    }


def patient(**facts: Any) -> PatientProfile:
    return metastatic_profile(**{"subtype": "hr_positive_her2_negative", "on_therapy": "no", **facts})


def ids(items: list[Any]) -> list[str]:
    return [item.rule.id for item in items]


SUBTYPE = {"subtype": "hr_positive_her2_negative"}
FIRST = therapy("ai-cdk46-first-line", SUBTYPE)
NEXT = therapy(
    "fulvestrant-after-cdk46",
    SUBTYPE,
    decision_point={"after_progression_on": ["cdk4_6_inhibitor"]},
    regimen=["fulvestrant"],
    preference="other_recommended",
)
NEXT_PREFERRED = therapy(
    "elacestrant-after-cdk46",
    SUBTYPE,
    decision_point={"after_progression_on": ["cdk4_6_inhibitor"]},
    regimen=["elacestrant"],
)
ON_AI_CDK46 = frozenset(
    {"endocrine_therapy", "aromatase_inhibitor", "letrozole", "cdk4_6_inhibitor", "palbociclib"}
)


def test_untreated_patient_gets_first_line_options_now(tmp_path: Path) -> None:
    kb = knowledge_with(tmp_path, FIRST, NEXT)
    result = evaluate(patient(), kb)
    assert ids(result.now) == ["ai-cdk46-first-line"] and result.at_progression == []


def test_initial_endocrine_therapy_also_follows_first_line_chemotherapy(tmp_path: Path) -> None:
    """After induction chemotherapy with no endocrine therapy yet, an option given "as initial
    endocrine-based therapy" (the CDK4/6 labels) still applies; a first-line-only option does not, and
    neither does once an endocrine line for metastatic disease has been completed."""
    initial = therapy("ai-cdk46-initial", SUBTYPE, decision_point="initial_endocrine")
    kb = knowledge_with(tmp_path, initial, FIRST)
    after_chemo = patient(completed_metastatic_lines=1, metastatic_endocrine_lines=0)
    assert ids(evaluate(after_chemo, kb).now) == ["ai-cdk46-initial"]
    assert set(ids(evaluate(patient(), kb).now)) == {"ai-cdk46-initial", "ai-cdk46-first-line"}
    after_endocrine = patient(completed_metastatic_lines=1, metastatic_endocrine_lines=1)
    assert ids(evaluate(after_endocrine, kb).now) == []


def test_on_a_responding_first_line_no_option_is_shown_now_and_next_line_is_for_progression(
    tmp_path: Path,
) -> None:
    kb = knowledge_with(tmp_path, FIRST, NEXT, NEXT_PREFERRED)
    profile = patient(on_therapy="yes", current_therapies=ON_AI_CDK46, metastatic_lines=1)
    result = evaluate(profile, kb)
    assert result.now == []
    # preference order: preferred before other recommended
    assert ids(result.at_progression) == ["elacestrant-after-cdk46", "fulvestrant-after-cdk46"]
    assert result.progression_profile is not None
    assert "palbociclib" in result.progression_profile.progressed_on.value


def test_an_option_the_guideline_puts_after_another_offered_one_is_listed_after_it(tmp_path: Path) -> None:
    # "aa-chemotherapy" comes first in the knowledge base and is preferred; the guideline prefers the
    # biomarker-directed option to it when that fits (yields_to)
    chemo = therapy("aa-chemotherapy", SUBTYPE, regimen=["taxane"], yields_to=["pembrolizumab-chemo"])
    pembro = therapy(
        "pembrolizumab-chemo", {**SUBTYPE, "pd_l1_cps": {"at_least": 10}}, regimen=["pembrolizumab"]
    )
    kb = knowledge_with(tmp_path, chemo, pembro)
    both = evaluate(patient(pd_l1_cps=12), kb)
    assert ids(both.now) == ["pembrolizumab-chemo", "aa-chemotherapy"]
    assert [both.preference_of(item) for item in both.now] == ["preferred", "other_recommended"]
    alone = evaluate(patient(pd_l1_cps=3), kb)  # nothing it yields to is offered: it keeps its place
    assert ids(alone.now) == ["aa-chemotherapy"] and alone.preference_of(alone.now[0]) == "preferred"


EVEROLIMUS = {"progressed_on": frozenset({"everolimus"})}  # the option it yields to has failed


def test_an_option_keeps_its_place_when_its_yields_unless_holds(tmp_path: Path) -> None:
    # T-DXd before chemotherapy yields to the endocrine options, unless the disease is endocrine resistant
    endocrine = therapy(
        "aa-everolimus-exemestane", SUBTYPE, regimen=["everolimus"], preference="other_recommended"
    )
    t_dxd = therapy(
        "bb-t-dxd",
        SUBTYPE,
        regimen=["t_dxd"],
        yields_to=["aa-everolimus-exemestane"],
        yields_unless=[{"endocrine_resistance": "primary"}, {"metastatic_endocrine_lines": {"at_least": 2}}],
    )
    kb = knowledge_with(tmp_path, endocrine, t_dxd)
    responsive = evaluate(patient(endocrine_resistance="secondary", metastatic_endocrine_lines=1), kb)
    assert ids(responsive.now) == ["aa-everolimus-exemestane", "bb-t-dxd"]
    assert responsive.preference_of(responsive.now[1]) == "other_recommended"
    for facts in ({"endocrine_resistance": "primary"}, {"metastatic_endocrine_lines": 2}):
        resistant = evaluate(patient(**facts), kb)
        assert ids(resistant.now) == ["bb-t-dxd", "aa-everolimus-exemestane"], facts
        assert resistant.preference_of(resistant.now[0]) == "preferred"
    # review 5 (F2): with nothing left to yield to, it is still not preferred outside its population
    alone = evaluate(
        patient(endocrine_resistance="secondary", metastatic_endocrine_lines=1, **EVEROLIMUS), kb
    )
    assert ids(alone.now) == ["bb-t-dxd"]
    assert alone.preference_of(alone.now[0]) == "other_recommended"


def test_an_option_another_offered_option_replaces_is_not_shown(tmp_path: Path) -> None:
    # the visceral-crisis chemotherapy steps aside when chemotherapy is offered whatever the sites
    visceral = therapy("aa-chemo-visceral", SUBTYPE, regimen=["taxane"], replaced_by=["bb-chemo-refractory"])
    refractory = therapy(
        "bb-chemo-refractory", {**SUBTYPE, "metastatic_endocrine_lines": {"at_least": 2}}, regimen=["taxane"]
    )
    kb = knowledge_with(tmp_path, visceral, refractory)
    assert ids(evaluate(patient(metastatic_endocrine_lines=2), kb).now) == ["bb-chemo-refractory"]
    assert ids(evaluate(patient(metastatic_endocrine_lines=1), kb).now) == ["aa-chemo-visceral"]


def test_an_option_whose_replacement_carries_a_caution_for_the_patient_stays(tmp_path: Path) -> None:
    """Review 5 (F1): with lung disease on record, fulvestrant alone was hidden behind a combination whose
    card carried a pneumonitis caution, though it was the one option without that risk."""
    caution = {"reason": "lung disease is recorded", "conditions": {"interstitial_lung_disease": "yes"}}
    alone = therapy("aa-fulvestrant-alone", SUBTYPE, regimen=["fulvestrant"], replaced_by=["bb-combination"])
    combination = therapy(
        "bb-combination", SUBTYPE, regimen=["fulvestrant", "cdk4_6_inhibitor"], cautions=[caution]
    )
    kb = knowledge_with(tmp_path, alone, combination)
    assert ids(evaluate(patient(), kb).now) == ["bb-combination"]
    assert ids(evaluate(patient(interstitial_lung_disease="yes"), kb).now) == [
        "aa-fulvestrant-alone",
        "bb-combination",
    ]


def test_options_that_replace_each_other_in_a_circle_are_refused(tmp_path: Path) -> None:
    one = therapy("one-option", SUBTYPE, replaced_by=["two-option"])
    two = therapy("two-option", SUBTYPE, regimen=["fulvestrant"], replaced_by=["one-option"])
    with pytest.raises(KnowledgeError, match="replaced_by in a circle"):
        knowledge_with(tmp_path, one, two)


def test_an_option_that_yields_to_a_yielded_one_is_listed_under_both(tmp_path: Path) -> None:
    # "aa-fulvestrant" yields to "bb-fulvestrant-cdk46", which yields to "cc-inavolisib": listed in that
    # order whatever the file names say
    inavolisib = therapy("cc-inavolisib", SUBTYPE, regimen=["inavolisib"])
    combination = therapy(
        "bb-fulvestrant-cdk46", SUBTYPE, regimen=["cdk4_6_inhibitor"], yields_to=["cc-inavolisib"]
    )
    alone = therapy(
        "aa-fulvestrant",
        SUBTYPE,
        regimen=["fulvestrant"],
        preference="other_recommended",
        yields_to=["bb-fulvestrant-cdk46"],
    )
    result = evaluate(patient(), knowledge_with(tmp_path, alone, combination, inavolisib))
    assert ids(result.now) == ["cc-inavolisib", "bb-fulvestrant-cdk46", "aa-fulvestrant"]


def test_options_that_yield_to_each_other_in_a_circle_are_refused(tmp_path: Path) -> None:
    one = therapy("one-option", SUBTYPE, yields_to=["two-option"])
    two = therapy("two-option", SUBTYPE, regimen=["fulvestrant"], yields_to=["one-option"])
    with pytest.raises(KnowledgeError, match="circle"):
        knowledge_with(tmp_path, one, two)


def test_progressed_on_the_first_line_gets_the_next_line_now(tmp_path: Path) -> None:
    kb = knowledge_with(tmp_path, FIRST, NEXT)
    profile = patient(progressed_on=ON_AI_CDK46, completed_metastatic_lines=1, metastatic_lines=1)
    result = evaluate(profile, kb)
    assert ids(result.now) == ["fulvestrant-after-cdk46"]


def test_never_the_regimen_the_patient_is_on_or_progressed_on(tmp_path: Path) -> None:
    any_time = therapy("fulvestrant-any-time", SUBTYPE, decision_point="any_time", regimen=["fulvestrant"])
    kb = knowledge_with(tmp_path, any_time)
    assert ids(evaluate(patient(), kb).now) == ["fulvestrant-any-time"]
    failed = patient(
        progressed_on=frozenset({"fulvestrant", "endocrine_therapy"}), completed_metastatic_lines=1
    )
    assert evaluate(failed, kb).now == []
    toxic = patient(stopped_for_toxicity=frozenset({"fulvestrant"}), completed_metastatic_lines=1)
    assert evaluate(toxic, kb).now == []
    continued = therapy(
        "keep-fulvestrant",
        SUBTYPE,
        decision_point="any_time",
        regimen=["fulvestrant"],
        continues_current=True,
    )
    (tmp_path / "two").mkdir()
    kb2 = knowledge_with(tmp_path / "two", continued)
    assert ids(evaluate(failed, kb2).now) == ["keep-fulvestrant"]


def test_never_a_combination_built_on_a_medicine_the_disease_progressed_on(tmp_path: Path) -> None:
    """Alpelisib + fulvestrant after progression on fulvestrant + palbociclib was listed first, with only
    a caution: the combination gives fulvestrant again."""
    after_cdk46 = {"after_progression_on": ["cdk4_6_inhibitor"]}
    doublet = therapy(
        "alpelisib-fulvestrant", SUBTYPE, decision_point=after_cdk46, regimen=["alpelisib", "fulvestrant"]
    )
    kb = knowledge_with(tmp_path, doublet)
    after_ai = patient(progressed_on=ON_AI_CDK46, completed_metastatic_lines=1)
    assert ids(evaluate(after_ai, kb).now) == ["alpelisib-fulvestrant"]
    on_fulvestrant = frozenset(
        {"endocrine_therapy", "serd", "fulvestrant", "cdk4_6_inhibitor", "palbociclib"}
    )
    after_fulvestrant = patient(progressed_on=on_fulvestrant, completed_metastatic_lines=1)
    assert evaluate(after_fulvestrant, kb).now == []
    # stopped for side effects is not progression: the option stays, with a caution on the card
    toxic = patient(
        progressed_on=ON_AI_CDK46,
        stopped_for_toxicity=frozenset({"fulvestrant"}),
        completed_metastatic_lines=1,
    )
    assert ids(evaluate(toxic, kb).now) == ["alpelisib-fulvestrant"]


def test_a_combination_continues_what_its_decision_point_follows_and_chooses_within_a_class(
    tmp_path: Path,
) -> None:
    """Tucatinib + trastuzumab + capecitabine follows progression on anti-HER2 therapy and keeps
    trastuzumab (HER2CLIMB), but not after capecitabine; a class leaves the medicine open; alternatives
    (a taxane, capecitabine or eribulin) hold while one of them has not failed."""
    her2 = {"subtype": "hr_negative_her2_positive"}
    after_her2 = {"after_progression_on": ["her2_directed"]}
    tucatinib = therapy(
        "tucatinib-trastuzumab-capecitabine",
        her2,
        decision_point=after_her2,
        regimen=["tucatinib", "trastuzumab", "capecitabine"],
    )
    fulvestrant_cdk46 = therapy(
        "fulvestrant-cdk46", SUBTYPE, decision_point="any_time", regimen=["fulvestrant", "cdk4_6_inhibitor"]
    )
    chemotherapy = therapy(
        "chemotherapy",
        {"breast_cancer": "yes"},
        decision_point="any_time",
        regimen=["taxane", "capecitabine", "eribulin"],
        regimen_alternatives=True,
    )
    kb = knowledge_with(tmp_path, tucatinib, fulvestrant_cdk46, chemotherapy)
    after_thp = frozenset(
        {"her2_directed", "trastuzumab", "pertuzumab", "chemotherapy", "taxane", "docetaxel"}
    )
    her2_patient = {"subtype": "hr_negative_her2_positive", "completed_metastatic_lines": 1}
    assert set(ids(evaluate(patient(progressed_on=after_thp, **her2_patient), kb).now)) == {
        "tucatinib-trastuzumab-capecitabine",
        "chemotherapy",
    }
    after_capecitabine = after_thp | {"capecitabine"}
    assert ids(evaluate(patient(progressed_on=after_capecitabine, **her2_patient), kb).now) == [
        "chemotherapy"
    ]
    after_letrozole_palbociclib = patient(progressed_on=ON_AI_CDK46, completed_metastatic_lines=1)
    assert "fulvestrant-cdk46" in ids(evaluate(after_letrozole_palbociclib, kb).now)
    every_chemotherapy = after_capecitabine | {"eribulin"}
    assert ids(evaluate(patient(progressed_on=every_chemotherapy, **her2_patient), kb).now) == []


def test_a_safety_exclusion_removes_the_option_and_is_kept_for_the_warning(tmp_path: Path) -> None:
    rule = therapy(
        "capivasertib-like",
        SUBTYPE,
        regimen=["capivasertib", "fulvestrant"],
        exclusions=[
            {
                "reason": "Type 1, insulin-treated or uncontrolled diabetes (label)",
                "conditions": {"hyperglycaemia_risk": "yes"},
                "safety": True,
            },
            {
                "reason": "Progressed on capivasertib",
                "conditions": {"progressed_on": {"includes": "capivasertib"}},
            },
        ],
    )
    kb = knowledge_with(tmp_path, rule)
    assert ids(evaluate(patient(hyperglycaemia_risk="unknown"), kb).now) == ["capivasertib-like"]
    result = evaluate(patient(hyperglycaemia_risk="yes"), kb)
    assert result.now == []
    assert [(r.item.rule.id, r.exclusion.reason) for r in result.ruled_out] == [
        ("capivasertib-like", "Type 1, insulin-treated or uncontrolled diabetes (label)")
    ]
    # a non-safety exclusion removes the option without a warning
    quiet = evaluate(patient(progressed_on=frozenset({"capivasertib"})), kb)
    assert quiet.now == [] and quiet.ruled_out == []


@pytest.mark.parametrize(
    "facts",
    [
        {"deceased": "yes"},
        {"breast_cancer": "no"},
        {"metastatic": "no"},
        {"metastatic": "unknown"},
        {"other_primary_cancer": "yes"},
    ],
)
def test_no_stage_4_therapy_options(tmp_path: Path, facts: dict[str, str]) -> None:
    kb = knowledge_with(tmp_path, FIRST)
    result: Evaluation = evaluate(patient(**facts), kb)
    assert result.all_rules() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision_point": None}, "decision_point"),
        ({"preference": None}, "preference"),
        ({"option": None}, "option"),
        ({"regimen": []}, "regimen"),
        ({"regimen": ["not_a_drug_class"]}, "regimen"),
        ({"decision_point": {"after_progression_on": ["nonsense"]}}, "decision_point.after_progression_on"),
    ],
)
def test_the_loader_refuses_a_therapy_rule_without_its_place_in_the_journey(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    rule = therapy("incomplete", SUBTYPE)
    for key, value in change.items():
        if value is None:
            rule.pop(key)
        else:
            rule[key] = value
    with pytest.raises(KnowledgeError) as refused:
        knowledge_with(tmp_path, rule)
    assert refused.value.file == "incomplete.yaml" and refused.value.field == field
