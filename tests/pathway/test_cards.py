"""The card set: one card per decision, in a stable order, each option a suggestion traceable to its rule,
short spec-conformant text in a clinician's words, bounded however bad the data."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds.errors import KnowledgeError
from cds.pathway.engine import evaluate
from cds.pathway.ids import key_of
from cds.pathway.issue_summary import ISSUE_LINES
from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.pathway.labels import PHRASES, DrugNames, phrase
from cds.pathway.markdown import fit
from cds.pathway.override_reasons import DEFAULT_OVERRIDE_SYSTEM
from cds.pathway.render import card_rules, render_cards, shown_ids
from cds.profile.model import FIELDS, DataIssue, Fact, PatientProfile
from tests.fixtures_support import knowledge_with
from tests.pathway.support import (
    LETROZOLE_PALBOCICLIB,
    RULES,
    card_knowledge,
    ev,
    hr_positive,
    knowledge_dir,
    on_letrozole_palbociclib,
    real_knowledge,
)
from tests.spec_checks import ORDER, check_card_rules


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Knowledge:
    return card_knowledge(tmp_path_factory.mktemp("cards"))


def cards_for(profile: PatientProfile, kb: Knowledge) -> list[dict[str, Any]]:
    return render_cards(evaluate(profile, kb), profile, kb)


def by_group(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {card["source"]["topic"]["code"]: card for card in cards}


def options(card: dict[str, Any]) -> list[str]:
    return [s["label"] for s in card.get("suggestions", [])]


def test_first_line_patient_gets_one_options_card_in_preference_order(kb: Knowledge) -> None:
    cards = cards_for(hr_positive(), kb)
    check_card_rules(cards)
    groups = [c["source"]["topic"]["code"] for c in cards]
    assert groups == ["options-now", "tests", "supportive"]
    now = by_group(cards)["options-now"]
    assert now["summary"] == (
        "First line for HR-positive, HER2-negative metastatic disease, postmenopausal: 2 options"
    )
    assert options(now) == ["Aromatase inhibitor + CDK4/6 inhibitor", "Fulvestrant + CDK4/6 inhibitor"]
    assert now["selectionBehavior"] == "at-most-one"
    assert all("actions" not in s for s in now["suggestions"])
    detail = now["detail"]
    assert detail.index("1. **Aromatase inhibitor + CDK4/6 inhibitor** (preferred)") < detail.index(
        "2. **Fulvestrant + CDK4/6 inhibitor** (other recommended)"
    )
    # the deciding facts with their values, dates and resources, and each option's source label
    assert "postmenopausal: FSH 62 IU/L (Observation/fsh-1, 2025-02-01)" in detail
    assert "ER-positive: ER 90% of cells (Observation/er-1, 2025-01-10)" in detail
    assert "Source: ASCO endocrine therapy guideline 2024" in detail
    assert detail.count(kb.service.disclaimer) == 1


def test_options_now_and_at_progression_never_share_a_response(kb: Knowledge) -> None:
    cards = cards_for(on_letrozole_palbociclib(), kb)
    check_card_rules(cards)
    groups = [c["source"]["topic"]["code"] for c in cards]
    assert "options-now" not in groups  # the current therapy continues: nothing new "now"
    later = by_group(cards)["at-progression"]
    assert later["summary"] == "If the disease progresses on letrozole + palbociclib: 2 options"
    assert options(later) == ["Capivasertib + fulvestrant", "Trastuzumab deruxtecan (T-DXd)"]
    # what this patient progressed on, of what the rule names: never a drug the patient did not have
    assert "after progression on aromatase inhibitor;" in later["detail"]
    assert "tamoxifen" not in later["detail"]
    assert (
        "on letrozole + palbociclib: letrozole 2.5 mg daily (MedicationRequest/letrozole-1" in later["detail"]
    )


def test_each_option_traces_to_its_rule_through_its_suggestion_uuid(kb: Knowledge) -> None:
    for profile in (hr_positive(), on_letrozole_palbociclib()):
        for card in cards_for(profile, kb):
            assert kb.rule_for_card(key_of(card["uuid"])) == card["source"]["topic"]["code"]
            traced = [kb.rule_for_suggestion(s["uuid"]) or "?" for s in card.get("suggestions", [])]
            assert "?" not in traced
            if card.get("selectionBehavior") == "at-most-one":
                assert traced == card_rules(card)  # one option per rule, in the card's order
                assert [kb.all_rules[r].option for r in traced] == options(card)
            assert set(traced) <= set(card_rules(card))


def test_card_set_order_count_and_no_duplicate_option(kb: Knowledge) -> None:
    issues = (DataIssue("her2_status", "discordant", "HER2 3+ on the primary, IHC 0 on a liver biopsy"),)
    busy = on_letrozole_palbociclib(
        her2_status="conflicting", interstitial_lung_disease="yes", issues=issues, esr1_status="unknown"
    )
    for profile in (hr_positive(), on_letrozole_palbociclib(), busy):
        cards = cards_for(profile, kb)
        groups = [c["source"]["topic"]["code"] for c in cards]
        assert groups == [g for g in ORDER if g in groups] and len(groups) == len(set(groups))
        assert len(cards) <= 6
        labels = [label for card in cards for label in options(card)]
        assert len(labels) == len(set(labels))
        uuids = [c["uuid"] for c in cards] + [s["uuid"] for c in cards for s in c.get("suggestions", [])]
        assert len(uuids) == len(set(uuids))
    assert len(cards_for(hr_positive(), kb)) <= 4


def test_a_safety_finding_names_the_finding_and_the_option_on_the_warnings_card(kb: Knowledge) -> None:
    ild = Fact("yes", ev("Condition/ild-1", "2024-11-02", "Drug-induced pneumonitis"))
    profile = hr_positive(
        progressed_on=frozenset({"endocrine_therapy", "aromatase_inhibitor"}),
        completed_metastatic_lines=1,
        interstitial_lung_disease=ild,
    )
    cards = cards_for(profile, kb)
    groups = by_group(cards)
    assert "Trastuzumab deruxtecan (T-DXd)" not in options(groups["options-now"])
    warning = groups["warnings"]
    assert warning["indicator"] == "warning"
    assert (
        "Trastuzumab deruxtecan not offered: interstitial lung disease or pneumonitis" in (warning["summary"])
    )
    assert "Not offered: **Trastuzumab deruxtecan (T-DXd)**. Interstitial lung disease" in warning["detail"]
    assert "Drug-induced pneumonitis (Condition/ild-1, 2024-11-02)" in warning["detail"]
    assert warning["extension"]["cds-mbc-ruled-out"] == ["t-dxd-her2-low"]
    assert card_rules(warning) == []  # a ruled-out option is not a rule that "fired"
    # without the finding, the option is offered
    fine = cards_for(dataclasses.replace(profile, interstitial_lung_disease=Fact("unknown")), kb)
    assert "Trastuzumab deruxtecan (T-DXd)" in options(by_group(fine)["options-now"])
    assert "Second line" in by_group(fine)["options-now"]["summary"]
    assert "- progressed on aromatase inhibitor" in by_group(fine)["options-now"]["detail"]


def _after_an_ai_with_lung_disease() -> PatientProfile:
    ild = Fact("yes", ev("Condition/ild-1", "2024-11-02", "Interstitial lung disease"))
    return hr_positive(
        progressed_on=frozenset({"endocrine_therapy", "aromatase_inhibitor"}),
        completed_metastatic_lines=1,
        interstitial_lung_disease=ild,
    )


def test_the_warnings_summary_names_a_ruled_out_option_without_its_qualifiers(tmp_path: Path) -> None:
    """Clinical review 7 (finding 9): "Ribociclib + AI ...; OFS unless postmenopausal, GnRH analogue in men
    not offered: long QT" read as if the GnRH analogue were what is withheld; review 8 (F8): a population
    in brackets cut the reason off."""
    rule = yaml.safe_load((RULES / "t-dxd-her2-low.yaml").read_text())
    rule["option"] = "Trastuzumab deruxtecan (HER2-low, after chemotherapy); OFS unless postmenopausal"
    kb = card_knowledge(tmp_path, rule)
    warning = by_group(cards_for(_after_an_ai_with_lung_disease(), kb))["warnings"]
    assert warning["summary"].startswith(
        "Trastuzumab deruxtecan not offered: interstitial lung disease or pneumonitis"
    ), warning["summary"]
    assert "OFS" not in warning["summary"] and "HER2-low" not in warning["summary"]
    # the detail keeps the population in brackets, not the clauses after "; " (verification review 10)
    assert "Not offered: **Trastuzumab deruxtecan (HER2-low, after chemotherapy)**" in warning["detail"]


def test_a_clause_inside_brackets_stays_with_its_bracket_on_the_warnings_card(tmp_path: Path) -> None:
    """Verification review 11: cutting a ruled-out option at its first "; " left "Trastuzumab deruxtecan
    (after trastuzumab and a taxane, DESTINY-Breast03 is not offered", the bracket never closed."""
    rule = yaml.safe_load((RULES / "t-dxd-her2-low.yaml").read_text())
    rule["option"] = "Trastuzumab deruxtecan (HER2-low, after chemotherapy; also after T-DM1); with a note"
    kb = card_knowledge(tmp_path, rule)
    warning = by_group(cards_for(_after_an_ai_with_lung_disease(), kb))["warnings"]
    detail_line = "Not offered: **Trastuzumab deruxtecan (HER2-low, after chemotherapy; also after T-DM1)**"
    assert detail_line in warning["detail"]
    assert warning["summary"].startswith("Trastuzumab deruxtecan not offered"), warning["summary"]


def test_a_ruled_out_option_with_its_own_condition_reads_as_one_sentence(tmp_path: Path) -> None:
    """Review 25: "Trastuzumab emtansine (T-DM1): after T-DXd, or if T-DXd is not suitable is not offered"
    ran the option's own condition into the verdict; the verdict now comes first."""
    rule = yaml.safe_load((RULES / "t-dxd-her2-low.yaml").read_text())
    rule["option"] = "Trastuzumab emtansine (T-DM1): after T-DXd, or if T-DXd is not suitable"
    kb = card_knowledge(tmp_path, rule)
    warning = by_group(cards_for(_after_an_ai_with_lung_disease(), kb))["warnings"]
    option = "Trastuzumab emtansine (T-DM1): after T-DXd, or if T-DXd is not suitable"
    line = f"- Not offered: **{option}**. Interstitial lung disease"
    assert line in warning["detail"]
    assert "suitable is not offered" not in warning["detail"]
    assert warning["summary"].startswith("Trastuzumab emtansine not offered"), warning["summary"]


def test_options_one_finding_rules_out_share_one_line_of_the_warnings_summary(tmp_path: Path) -> None:
    rule = yaml.safe_load((RULES / "t-dxd-her2-low.yaml").read_text())
    dato = {
        **rule,
        "id": "dato-dxd",
        "option": "Datopotamab deruxtecan (Dato-DXd)",
        "regimen": ["datopotamab_deruxtecan"],
    }
    kb = card_knowledge(tmp_path, dato)
    warning = by_group(cards_for(_after_an_ai_with_lung_disease(), kb))["warnings"]
    # the reason reads in full however many options it rules out; the detail names each of them
    assert warning["summary"] == "2 options not offered: interstitial lung disease or pneumonitis"
    assert "Not offered: **Trastuzumab deruxtecan (T-DXd)**" in warning["detail"]
    assert "Not offered: **Datopotamab deruxtecan (Dato-DXd)**" in warning["detail"]
    assert sorted(warning["extension"]["cds-mbc-ruled-out"]) == ["dato-dxd", "t-dxd-her2-low"]


def test_data_problems_are_counted_in_a_few_lines_however_many(kb: Knowledge) -> None:
    many = tuple(
        DataIssue("data", "unreadable", f"observations: Bundle entry {i} holds no resource.")
        for i in range(300_000)
    )
    kinds = tuple(DataIssue(f"field_{i}", "missing", f"Missing thing {i}") for i in range(20))
    discordant = (DataIssue("her2_status", "discordant", "HER2 <b>3+</b> on the primary, 0 on the liver"),)
    profile = hr_positive(issues=many + kinds + discordant)
    [warning] = [c for c in cards_for(profile, kb) if c["source"]["topic"]["code"] == "warnings"]
    block = warning["detail"].split(f"**{kb.service.data_issues_heading}**", 1)[1]
    lines = [line for line in block.splitlines() if line.startswith("- ")]
    assert len(lines) <= ISSUE_LINES + 1
    assert lines[0] == "- HER2 &lt;b&gt;3\\+&lt;/b&gt; on the primary, 0 on the liver"  # discordance first
    assert "(and 299,999 more like it)" in block
    assert "300,021 data problems to check" in warning["summary"]
    assert len(warning["detail"]) < 3000


def test_a_single_data_problem_is_named_in_the_summary(kb: Knowledge) -> None:
    """One data problem: the summary says what it is (the detail names the resource), not "1 data problem";
    two: they are counted."""
    one = DataIssue("pik3ca_status", "missing", "Observation/ngs-1: PIK3CA variant without its significance.")
    other = DataIssue("esr1_status", "missing", "Observation/ngs-2: ESR1 variant without its significance.")

    def warning_summary(*issues: DataIssue) -> str:
        cards = cards_for(hr_positive(issues=issues), kb)
        return next(c["summary"] for c in cards if c["source"]["topic"]["code"] == "warnings")

    assert warning_summary(one) == "Data to check: PIK3CA variant without its significance."
    assert warning_summary(one, other) == "2 data problems to check"


def test_a_data_problem_line_names_the_next_few_resources_it_counts(kb: Knowledge) -> None:
    strangers = tuple(
        DataIssue(
            "data",
            "ignored",
            f"Observation/stranger-{i} belongs to a different patient and was ignored.",
            ev(f"Observation/stranger-{i}", None, "subject is another patient"),
        )
        for i in range(6)
    )
    [warning] = [c for c in cards_for(hr_positive(issues=strangers), kb) if c["uuid"]][:1]
    assert warning["source"]["topic"]["code"] == "warnings"
    assert (
        "- Observation/stranger-0 belongs to a different patient and was ignored. (and 5 more like it: "
        "Observation/stranger-1, Observation/stranger-2, Observation/stranger-3, …)"
    ) in warning["detail"]


def test_chart_text_is_escaped_and_never_a_link(kb: Knowledge) -> None:
    hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold**"
    profile = hr_positive(
        er_status=Fact("positive", ev("Observation/<b>er</b>", "2025-01-10", hostile), note="[x](y)"),
        issues=(DataIssue("data", "unreadable", hostile),),
    )
    cards = cards_for(profile, kb)
    check_card_rules(cards)
    text = "\n".join(c["detail"] for c in cards)
    assert "<img" not in text and "<b>" not in text and "**bold**" not in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt; \\[click\\]\\(javascript:alert\\(1\\)\\)" in text


def test_no_internal_value_reaches_a_clinician(kb: Knowledge) -> None:
    profile = hr_positive(
        progressed_on=frozenset({"endocrine_therapy", "aromatase_inhibitor", "her2_directed"}),
        completed_metastatic_lines=1,
        stopped_for_toxicity=frozenset({"cdk4_6_inhibitor"}),
        er_status="low_positive",
        germline_brca="not_detected",
    )
    text = "\n".join(f"{c['summary']}\n{c['detail']}" for c in cards_for(profile, kb))
    enum_values = {v for spec in FIELDS.values() for v in spec.values if "_" in v}
    leaked = [v for v in enum_values | {"her2 directed", "hr positive"} if v in text]
    assert not leaked, leaked


def test_every_enum_value_has_clinician_words(kb: Knowledge) -> None:
    for name, spec in FIELDS.items():
        for value in spec.values:
            words = phrase(name, frozenset({value}) if spec.kind == "set" else value, kb.drugs)
            assert "_" not in words and not words.startswith(f"{spec.label}:"), (name, value, words)
            if spec.kind == "enum" and name in PHRASES:
                assert value in PHRASES[name], (name, value)
    assert phrase("subtype", "hr_positive_her2_negative", kb.drugs) == "HR-positive, HER2-negative"
    assert phrase("er_status", "low_positive", kb.drugs) == "ER-low positive (1-10%)"


def test_therapies_read_by_their_most_specific_names(kb: Knowledge) -> None:
    drugs: DrugNames = kb.drugs
    assert (
        drugs.regimen(
            {"endocrine_therapy", "aromatase_inhibitor", "letrozole", "cdk4_6_inhibitor", "palbociclib"}
        )
        == "letrozole + palbociclib"
    )
    assert drugs.listing({"endocrine_therapy", "aromatase_inhibitor"}) == "aromatase inhibitor"
    assert drugs.listing({"her2_directed", "t_dxd"}) == "trastuzumab deruxtecan (T-DXd)"
    assert (
        phrase("progressed_on", frozenset({"her2_directed"}), drugs) == "progressed on HER2-directed therapy"
    )


def test_tests_card_lists_tests_and_offers_their_orders(kb: Knowledge) -> None:
    tests = by_group(cards_for(hr_positive(esr1_status="unknown"), kb))["tests"]
    assert tests["summary"] == "Tests that could change the options: ESR1 testing, germline BRCA1/2 testing"
    assert tests["selectionBehavior"] == "any"
    [order] = tests["suggestions"]
    [action] = order["actions"]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["subject"] == {"reference": "Patient/p1"}
    assert kb.rule_for_suggestion(order["uuid"]) == "testing-germline-brca"


def test_a_tests_card_is_based_on_the_facts_that_called_for_the_test_not_on_the_rest() -> None:
    """Review 9, finding 9: the ESR1/PIK3CA test was 'based on' "no recent HbA1c" and "no progression
    recorded", conditions of the rule's other branches; a first-line patient without a PIK3CA result
    is tested because that result is missing."""
    kb = real_knowledge()
    profile = hr_positive(pik3ca_status=Fact("unknown"), esr1_status=Fact("unknown"))
    detail = by_group(cards_for(profile, kb))["tests"]["detail"]
    based_on = detail.split("**Based on**", 1)[1]
    assert "no PIK3CA result" in based_on
    assert "HbA1c" not in based_on and "progression" not in based_on


def test_a_treatment_history_problem_shows_only_where_a_stage_4_choice_is_made(kb: Knowledge) -> None:
    """Third-party round 5 (HL7 IPS): a patient in remission on adjuvant anastrozole, whose medicine is
    named by a code only, got a "Data to check" card about her medication records; the treatment history
    matters where a stage 4 therapy is chosen (or metastatic disease is not settled)."""
    unnamed = DataIssue(
        "prior_therapies", "unreadable", "1 medication record(s) name their medicine only by a code"
    )
    for metastatic, shown in (("no", False), ("unknown", True), ("yes", True)):
        profile = dataclasses.replace(hr_positive(metastatic=Fact(metastatic)), issues=(unnamed,))
        warnings = by_group(cards_for(profile, kb)).get("warnings")
        assert (warnings is not None and "medication record" in warnings["detail"]) is shown, metastatic


@pytest.mark.parametrize(
    ("history", "lines", "starts"),
    [
        ("unknown", 0, "First line, assuming no prior treatment (no medicine on record identified), for"),
        ("yes", 0, "First line (some medicines on record not identified), for"),
        ("yes", 1, "Second line (some medicines on record not identified), for"),
    ],
)
def test_the_options_title_says_when_medicines_on_record_were_not_identified(
    history: str, lines: int, starts: str
) -> None:
    """Verification reviews 10 and 11: a medicine named only by an unknown code may be the therapy that
    decides the line; the title says the line is read without it (the warnings card names the records)."""
    after = {"progressed_on": Fact(LETROZOLE_PALBOCICLIB), "prior_therapies": Fact(LETROZOLE_PALBOCICLIB)}
    profile = hr_positive(
        medication_history=Fact(history),
        medicines_unidentified=Fact("yes"),
        completed_metastatic_lines=Fact(lines),
        **(after if lines else {}),
    )
    card = by_group(cards_for(profile, real_knowledge()))["options-now"]
    assert card["summary"].startswith(starts), card["summary"]


def test_summaries_stay_under_140_characters() -> None:
    assert fit("short") == "short"
    long = "word " * 60
    assert len(fit(long)) < 140 and fit(long).endswith("…")


def test_override_reasons_use_the_deployers_code_system(tmp_path: Path) -> None:
    folder = knowledge_dir(tmp_path)
    profile = hr_positive()
    default = load_knowledge(folder)
    assert {r["system"] for c in cards_for(profile, default) for r in c["overrideReasons"]} == {
        DEFAULT_OVERRIDE_SYSTEM
    }
    hospital = load_knowledge(folder, override_reason_system_uri="https://terminology.hospital.test/override")
    systems = {r["system"] for c in cards_for(profile, hospital) for r in c["overrideReasons"]}
    assert systems == {"https://terminology.hospital.test/override"}
    with pytest.raises(KnowledgeError):
        load_knowledge(folder, override_reason_system_uri="not a uri")


def test_the_setting_reaches_the_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    from cds.app import create_app
    from cds.settings import Settings

    monkeypatch.setenv("CDS_OVERRIDE_REASON_SYSTEM", "urn:oid:2.16.840.1.113883.3.9999")
    app = create_app(Settings(auth="off"))  # type: ignore[call-arg]
    with TestClient(app) as client:
        assert {r["system"] for r in client.app.state.knowledge.override_reasons} == {
            "urn:oid:2.16.840.1.113883.3.9999"
        }


def test_shown_ids_count_each_card_and_each_rule(kb: Knowledge) -> None:
    cards = cards_for(hr_positive(), kb)
    shown = shown_ids(cards)
    assert shown[0] == "options-now" and "ai-cdk46-first-line" in shown and "palliative-care" in shown
    assert len(shown) == len(cards) + sum(len(card_rules(c)) for c in cards)


def test_a_rule_cannot_take_a_card_groups_name(tmp_path: Path) -> None:
    rule = {
        "id": "supportive",
        "version": "1.0.0",
        "status": "active",
        "title": "Named like a card",
        "category": "supportive",
        "when": "always",
        "then": "nothing",
        "conditions": {"metastatic": "yes"},
        "card": {"summary": "x", "indicator": "info", "detail": "x"},
        "sources": [{"label": "x", "url": "https://example.org/x"}],
        "evidence": {"note": "x", "seed_documents": ["DO"]},
    }
    with pytest.raises(KnowledgeError, match="card group"):
        card_knowledge(tmp_path, rule)


def test_no_breast_cancer_gets_no_cards(kb: Knowledge) -> None:
    assert cards_for(PatientProfile(patient_id="p1", breast_cancer=Fact("no")), kb) == []


def test_an_option_whose_drug_class_was_stopped_for_side_effects_says_so(kb: Knowledge) -> None:
    """Palbociclib stopped for grade 4 neutropenia, no progression: both first-line CDK4/6 options stay
    (another CDK4/6 inhibitor may follow toxicity) and each names what was stopped, with its record."""
    stopped = Fact(
        frozenset({"cdk4_6_inhibitor", "palbociclib"}),
        ev("MedicationStatement/palbo-1", "2025-03-02", "Ibrance 125 mg capsule (palbociclib)"),
    )
    now = by_group(cards_for(hr_positive(stopped_for_toxicity=stopped), kb))["options-now"]
    assert options(now) == ["Aromatase inhibitor + CDK4/6 inhibitor", "Fulvestrant + CDK4/6 inhibitor"]
    detail = now["detail"]
    for option in ("1. **Aromatase inhibitor + CDK4/6 inhibitor**", "2. **Fulvestrant + CDK4/6 inhibitor**"):
        line = next(x for x in detail.splitlines() if x.startswith(option))
        assert "Caution: palbociclib stopped for side effects." in line, line
    assert "stopped for side effects: palbociclib: Ibrance 125 mg capsule" in detail
    assert "(MedicationStatement/palbo-1, 2025-03-02)" in detail


def test_a_drug_stopped_for_side_effects_outside_the_regimen_is_no_caution(kb: Knowledge) -> None:
    """Capecitabine stopped for hand-foot syndrome says nothing on the endocrine + CDK4/6 options."""
    stopped = Fact(
        frozenset({"chemotherapy", "capecitabine"}),
        ev("MedicationRequest/cape-1", "2024-06-01", "capecitabine 1000 mg/m2"),
    )
    now = by_group(cards_for(hr_positive(stopped_for_toxicity=stopped), kb))["options-now"]
    assert "Caution" not in now["detail"] and "stopped for side effects" not in now["detail"]


def test_a_rules_caution_is_shown_with_its_option_when_its_finding_is_recorded(tmp_path: Path) -> None:
    """The ILD patient after THP was offered tucatinib + trastuzumab + capecitabine with no word of her
    lung disease: a rule's caution (a label warning that does not rule the option out) is shown on the
    option's line, with the record behind it, and only when the finding is recorded."""
    base = yaml.safe_load((RULES / "ai-cdk46-first-line.yaml").read_text(encoding="utf-8"))
    caution = {
        "reason": "interstitial lung disease is recorded: the label warns of pneumonitis.",
        "conditions": {"interstitial_lung_disease": "yes"},
    }
    rule = {
        **base,
        "id": "ai-cdk46-cautioned",
        "option": "AI + CDK4/6 inhibitor, cautioned",
        "cautions": [caution],
    }
    kb = card_knowledge(tmp_path, rule)
    lung = Fact("yes", ev("Condition/ild-1", "2024-05-01", "Interstitial lung disease"))
    detail = by_group(cards_for(hr_positive(interstitial_lung_disease=lung), kb))["options-now"]["detail"]
    line = next(x for x in detail.splitlines() if "AI + CDK4/6 inhibitor, cautioned" in x)
    assert "Caution: interstitial lung disease is recorded: the label warns of pneumonitis." in line
    assert "Condition/ild-1" in detail
    others = [x for x in detail.splitlines() if x.startswith(("1. ", "2. ", "3. ")) and "cautioned" not in x]
    assert others and not any("pneumonitis" in x for x in others)
    assert "pneumonitis" not in by_group(cards_for(hr_positive(), kb))["options-now"]["detail"]


def test_the_at_progression_card_names_the_tests_that_progression_calls_for(tmp_path: Path) -> None:
    """On first-line letrozole + palbociclib the card 'if the disease progresses' listed only options
    blind to ESR1 and PIK3CA, and the test rule (not on therapy now) was silent: the card now names the
    test for that progression, with its source; nothing is ordered now."""
    base = yaml.safe_load((RULES / "testing-esr1.yaml").read_text(encoding="utf-8"))
    at_progression = {
        **base,
        "id": "testing-esr1-at-progression",
        "conditions": {"hormone_receptor_status": "positive", "on_therapy": "no"},
        "any_of": [{"progressed_on": {"includes": "endocrine_therapy"}}],
        "card": {
            **base["card"],
            "summary": "Consider ESR1 testing (ctDNA) at each progression on endocrine therapy",
        },
    }
    kb = card_knowledge(tmp_path, at_progression)
    cards = by_group(cards_for(on_letrozole_palbociclib(esr1_status=Fact("not_detected")), kb))
    later = cards["at-progression"]
    assert "At that progression: Consider ESR1 testing (ctDNA) at each progression" in later["detail"]
    assert later["extension"]["cds-mbc-tests-at-progression"] == ["testing-esr1-at-progression"]
    assert "testing-esr1-at-progression" not in card_rules(later)  # the card's options stay its rules
    assert "https://doi.org/10.1200/JCO.23.00638" in [link["url"] for link in later["links"]]
    assert "testing-esr1-at-progression" not in card_rules(cards.get("tests", {}))
    not_on_therapy = by_group(cards_for(hr_positive(esr1_status=Fact("not_detected")), kb))
    assert "At that progression" not in str(not_on_therapy)


def test_an_option_built_on_a_medicine_the_disease_progressed_on_is_named_as_not_offered(
    kb: Knowledge,
) -> None:
    """Capivasertib + fulvestrant fits this PIK3CA-mutated patient but would give fulvestrant again after
    progression on anastrozole + fulvestrant: the card says so, so an oncologist who knows the record
    better (a fulvestrant stopped early, say) can overrule it; the option is not among the suggestions."""
    failed = Fact(
        frozenset({"endocrine_therapy", "aromatase_inhibitor", "anastrozole", "serd", "fulvestrant"}),
        ev("Observation/progression-1", "2025-09-01", "disease progression"),
    )
    now = by_group(cards_for(hr_positive(progressed_on=failed, completed_metastatic_lines=Fact(1)), kb))
    card = now["options-now"]
    assert "Capivasertib + fulvestrant" not in options(card)
    assert (
        "Not offered, as it gives fulvestrant again after progression on it: Capivasertib + fulvestrant."
        in (card["detail"])
    )
    assert card["extension"]["cds-mbc-not-offered-again"] == ["capivasertib-fulvestrant"]
    after_anastrozole = frozenset({"endocrine_therapy", "aromatase_inhibitor", "anastrozole"})
    offered = by_group(
        cards_for(hr_positive(progressed_on=Fact(after_anastrozole), completed_metastatic_lines=Fact(1)), kb)
    )
    assert "Capivasertib + fulvestrant" in options(offered["options-now"])
    assert "Not offered" not in offered["options-now"]["detail"]


def test_options_of_one_family_are_one_numbered_option_each_still_selectable(
    tmp_path: Path, kb: Knowledge
) -> None:
    """Review 3 (J2): eight numbered options where a clinician reads three or four. Options of one family
    (two CDK4/6 partners here) offered together are one numbered option with a line for each, and the
    summary counts it once; each stays a suggestion of its own, traced to its rule."""
    base = yaml.safe_load((RULES / "ai-cdk46-first-line.yaml").read_text(encoding="utf-8"))
    family = "CDK4/6 inhibitor + endocrine therapy"
    first = {**base, "family": family}
    second = {**base, "id": "ai-cdk46-ribociclib", "option": "AI + ribociclib", "family": family}
    card = by_group(cards_for(hr_positive(), card_knowledge(tmp_path, first, second)))["options-now"]
    lines = card["detail"].split("\n\n")[0].splitlines()
    numbered = [line for line in lines if re.match(r"\d+\. ", line)]
    assert numbered[0].startswith(f"1. **{family}** (preferred).")
    # the members share one source: it is said once, on the family's line
    assert lines[1:3] == ["    - Aromatase inhibitor + CDK4/6 inhibitor.", "    - AI + ribociclib."]
    assert " Source: " in numbered[0]
    assert f"{len(numbered)} option" in card["summary"]
    assert {"Aromatase inhibitor + CDK4/6 inhibitor", "AI + ribociclib"} <= set(options(card))
    alone = by_group(cards_for(hr_positive(), kb))["options-now"]  # no family: a numbered line each
    assert "1. **Aromatase inhibitor + CDK4/6 inhibitor** (preferred)." in alone["detail"]


@pytest.mark.parametrize("where", ["alone", "apart"])
def test_a_family_of_one_or_apart_in_the_option_order_is_refused(tmp_path: Path, where: str) -> None:
    """A family name with one option is a typo; options of a family must be next to each other in
    option-order.yaml, or they would never be listed together."""
    base = yaml.safe_load((RULES / "ai-cdk46-first-line.yaml").read_text(encoding="utf-8"))
    rules = [{**base, "family": "CDK4/6 inhibitor + endocrine therapy"}]
    if where == "apart":  # capivasertib-fulvestrant is listed between them (file-name order)
        other = yaml.safe_load((RULES / "fulvestrant-cdk46-first-line.yaml").read_text(encoding="utf-8"))
        rules.append({**other, "family": "CDK4/6 inhibitor + endocrine therapy"})
    with pytest.raises(KnowledgeError, match="family"):
        card_knowledge(tmp_path, *rules)


def test_an_option_listed_as_a_note_follows_the_numbered_options_uncounted(tmp_path: Path) -> None:
    """Review 3 (J4): "chemotherapy if visceral crisis" was a numbered option for every patient with liver
    metastases, though metastases are not a crisis. Such an option is a sentence after the numbered ones,
    not counted in the summary, still a suggestion; alone, it is numbered (no empty list and a note)."""
    base = yaml.safe_load((RULES / "ai-cdk46-first-line.yaml").read_text(encoding="utf-8"))
    crisis = {
        **base,
        "id": "chemotherapy-visceral-note",
        "option": "Chemotherapy if visceral crisis",
        "preference": "certain_circumstances",
        "regimen": ["taxane"],
        "conditions": {"visceral_metastases": "yes"},
        "listed_as_note": True,
    }
    kb = card_knowledge(tmp_path, crisis)
    card = by_group(cards_for(hr_positive(visceral_metastases="yes"), kb))["options-now"]
    numbered = re.findall(r"^\d+\. ", card["detail"], re.MULTILINE)
    assert f"{len(numbered)} option" in card["summary"]
    assert "\n\nAlso: **Chemotherapy if visceral crisis** (in certain circumstances)." in card["detail"]
    assert options(card)[-1] == "Chemotherapy if visceral crisis"
    (tmp_path / "only").mkdir()
    only = knowledge_with(tmp_path / "only", crisis)
    alone = by_group(cards_for(hr_positive(visceral_metastases="yes"), only))["options-now"]
    assert alone["detail"].startswith("1. **Chemotherapy if visceral crisis**")
    assert "1 option" in alone["summary"]


def test_a_clause_every_member_ends_with_is_said_once_on_the_familys_line(tmp_path: Path) -> None:
    """Review 5 (F6): a man read "OFS unless postmenopausal, GnRH analogue in men" on each of three
    CDK4/6 lines; the clause they share is said once, beside the family's name."""
    base = yaml.safe_load((RULES / "ai-cdk46-first-line.yaml").read_text(encoding="utf-8"))
    family, clause = "CDK4/6 inhibitor + endocrine therapy", "OFS unless postmenopausal"
    first = {**base, "option": f"AI + palbociclib; {clause}", "family": family}
    second = {**base, "id": "ai-cdk46-ribociclib", "option": f"AI + ribociclib; {clause}", "family": family}
    card = by_group(cards_for(hr_positive(), card_knowledge(tmp_path, first, second)))["options-now"]
    lines = card["detail"].split("\n\n")[0].splitlines()
    assert lines[0].startswith(f"1. **{family}** ({clause}) (preferred).")
    assert lines[1:3] == ["    - AI + palbociclib.", "    - AI + ribociclib."]
    assert {f"AI + palbociclib; {clause}", f"AI + ribociclib; {clause}"} <= set(options(card))
