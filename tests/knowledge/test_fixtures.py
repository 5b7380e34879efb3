"""Every fixture scenario through the real app: status, the cards it must and must not get, coverage of
every active rule (fires somewhere, and stays silent in a deliberate near miss), and the CDS Hooks card
rules on every card returned."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest

from cds.pathway.knowledge import Knowledge
from tests.fixtures_support import Scenario, load_scenarios, rule_ids
from tests.spec_checks import assert_no_empty_values

SCENARIOS = load_scenarios()
OK = [s for s in SCENARIOS if s.status == 200]


def _cases(scenarios: list[Scenario]) -> list[Any]:
    return [pytest.param(s, id=s.name) for s in scenarios]


def _cards(responses: dict[str, Any], scenario: Scenario) -> list[dict[str, Any]]:
    response = responses[scenario.name]
    assert response.status_code == 200, f"{scenario.name}: {response.status_code} {response.text[:500]}"
    cards = response.json()["cards"]
    assert isinstance(cards, list)
    return cards


def test_there_are_enough_scenarios() -> None:
    assert len(OK) >= 20
    assert len(SCENARIOS) - len(OK) >= 4  # bad inputs: 400s and a 412


def test_expected_files_name_real_rules(knowledge: Knowledge) -> None:
    for scenario in SCENARIOS:
        named = set(scenario.must) | set(scenario.must_not) | set(scenario.near_miss)
        assert named <= set(knowledge.all_rules), (scenario.name, named - set(knowledge.all_rules))
        assert not set(scenario.must) & set(scenario.must_not), scenario.name
        assert set(scenario.near_miss) <= set(scenario.must_not), (
            f"{scenario.name}: a near miss is a must_not"
        )
        assert scenario.description, scenario.name


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_scenario_status(scenario: Scenario, responses: dict[str, Any]) -> None:
    response = responses[scenario.name]
    assert response.status_code == scenario.status, response.text[:500]
    if scenario.status != 200:
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"] and all(i.get("diagnostics") for i in body["issue"])


@pytest.mark.parametrize("scenario", _cases(OK))
def test_scenario_cards(scenario: Scenario, responses: dict[str, Any]) -> None:
    got = rule_ids(_cards(responses, scenario))
    assert len(got) == len(set(got)), f"duplicate cards: {got}"
    missing = [r for r in scenario.must if r not in got]
    unwanted = [r for r in scenario.must_not if r in got]
    assert not missing and not unwanted, f"missing {missing}, unwanted {unwanted}; got {sorted(got)}"


def test_every_active_rule_fires_in_some_fixture(knowledge: Knowledge, responses: dict[str, Any]) -> None:
    active = {item.rule.id for item in knowledge.rules}
    required = {r for s in OK for r in s.must}
    assert not active - required, f"active rules no fixture requires: {sorted(active - required)}"
    fired = {r for s in OK for r in rule_ids(_cards(responses, s))}
    assert not active - fired, f"active rules that never fire: {sorted(active - fired)}"
    assert fired <= active


def test_every_active_rule_has_a_near_miss(knowledge: Knowledge, responses: dict[str, Any]) -> None:
    active = {item.rule.id for item in knowledge.rules}
    near = {r for s in OK for r in s.near_miss}
    assert not active - near, f"active rules without a near-miss scenario: {sorted(active - near)}"
    for scenario in OK:
        got = set(rule_ids(_cards(responses, scenario)))
        assert not got & set(scenario.near_miss), (scenario.name, got & set(scenario.near_miss))


def test_each_warning_explains_itself_and_says_what_would_settle_it(
    knowledge: Knowledge, responses: dict[str, Any]
) -> None:
    """A warning's summary alone ("check the endocrine partner") left the clinician without the reason
    or the test or record that would settle it: the warnings card's detail carries each rule's detail."""
    shown = 0
    for scenario in OK:
        for card in _cards(responses, scenario):
            if card["source"]["topic"]["code"] != "warnings":
                continue
            for rule_id in rule_ids([card]):
                rule = knowledge.all_rules[rule_id]
                last = rule.card.detail.split("\n\n")[-1].strip()  # "What would settle it: ..."
                assert last in card["detail"], (scenario.name, rule_id)
                shown += "settle" in last
    assert shown >= 40


@pytest.mark.parametrize(
    ("name", "a_break"),
    [
        # first-line pembrolizumab stopped for a side effect, paclitaxel completed, no progression
        ("triple-negative-cps-15-pembrolizumab-stopped-for-colitis-paclitaxel-completed", True),
        # induction paclitaxel completed: endocrine maintenance follows now, no break
        ("hr-pos-her2-neg-age-48-labs-postmenopausal-after-induction-paclitaxel", False),
        # the first line progressed
        ("triple-negative-cps-22-progressed-on-first-line-pembrolizumab", False),
        # the course completed, then a new brain metastasis with no progression result (review 29, P2-3)
        ("triple-negative-paclitaxel-completed-then-new-brain-metastasis-no-progression-result", False),
        # stopped with no reason recorded: it may have progressed (the warnings card asks)
        ("hr-pos-her2-neg-first-line-letrozole-palbociclib-stopped-no-reason-nothing-after", False),
    ],
)
def test_the_next_line_after_a_line_ended_without_progression_is_for_when_needed(
    name: str, a_break: bool, responses: dict[str, Any]
) -> None:
    """Review 27, P2-6: after a course completed with no progression and nothing since, "Second line ...:
    chemotherapy (preferred)" read as a switch to make now, in a treatment-free interval."""
    [scenario] = [s for s in OK if s.name == name]
    [card] = [c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now"]
    assert ("when needed (no progression recorded)" in card["summary"]) is a_break, card["summary"]


def test_cdk46_options_say_a_cdk46_inhibitor_was_stopped_for_side_effects(responses: dict[str, Any]) -> None:
    """Review 29, P1-1: palbociclib held for neutropenia after two years and never restarted, letrozole
    going on: the options whose trials enrolled CDK4/6-inhibitor-naive patients were offered with no word
    of it, palbociclib again included, and fulvestrant alone was not shown. Review 30, P1-1: they keep
    their place (after eight weeks of one CDK4/6 inhibitor, another is the routine choice)."""
    name = "hr-pos-her2-neg-palbociclib-held-for-anc-never-restarted-letrozole-goes-on"
    [scenario] = [s for s in OK if s.name == name]
    [card] = [c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "at-progression"]
    numbered = [line for line in card["detail"].splitlines() if re.match(r"\d+\. ", line)]
    assert numbered[0].startswith("1. **CDK4/6 inhibitor + endocrine therapy** (preferred)"), numbered
    assert "stopped for side effects (see Based on)" in numbered[0]
    assert "a different CDK4/6" in numbered[0]
    assert any("Fulvestrant alone" in line for line in numbered)


# --- CDS Hooks card rules (cds-hooks.md 3, Inferno cards_validation.rb) ------------------------------


def _absolute(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


@pytest.mark.parametrize("scenario", OK, ids=str)
def test_cards_obey_the_cds_hooks_card_rules(scenario: Scenario, responses: dict[str, Any]) -> None:
    body = responses[scenario.name].json()
    cards = _cards(responses, scenario)
    if cards:
        assert_no_empty_values(body)
    else:
        assert body == {"cards": []}
    for card in cards:
        where = f"{scenario.name}/{card.get('source', {}).get('topic', {}).get('code')}"
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140, where
        assert card["indicator"] in {"info", "warning", "critical"}, where
        source = card["source"]
        assert source["label"] and _absolute(source["url"]), where
        assert source["topic"]["system"] and source["topic"]["code"], where
        assert isinstance(card.get("uuid"), str), where
        assert isinstance(card.get("detail"), str), where
        for link in card.get("links", []):
            assert link["label"] and _absolute(link["url"]) and link["type"] == "absolute", where
            assert "appContext" not in link, where
        for reason in card.get("overrideReasons", []):
            assert reason["code"] and reason["system"] and reason["display"], where
        if card.get("suggestions"):
            assert card.get("selectionBehavior") in {"at-most-one", "any"}, where
            for suggestion in card["suggestions"]:
                assert suggestion["label"], where
                if "actions" in suggestion:
                    assert isinstance(suggestion["actions"], list) and suggestion["actions"], where


@pytest.mark.parametrize("scenario", OK, ids=str)
def test_card_detail_carries_the_deciding_facts_and_no_link(
    scenario: Scenario, responses: dict[str, Any], knowledge: Knowledge
) -> None:
    """Options cards say what they are based on; no card's detail holds a link (Markdown links navigate
    the Sandbox's own tab away: sources are in ``links`` and ``source``)."""
    for card in _cards(responses, scenario):
        assert "](" not in card["detail"] and card["source"]["url"] not in card["detail"]
        if card["source"]["topic"]["code"] in {"options-now", "at-progression"}:
            assert f"**{knowledge.service.based_on_heading}**" in card["detail"]


def test_a_recorded_pik3ca_result_is_not_ordered_again(responses: dict[str, Any]) -> None:
    """PIK3CA is tested once (ASCO 2024): a patient whose chart holds a PIK3CA result (here "not
    detected", at a progression) is offered the AKT1/PTEN panel and no separate PIK3CA order."""
    scenario = next(s for s in SCENARIOS if s.name == "hr-pos-her2-neg-esr1-progressed-on-imlunestrant")
    tests_card = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "tests")
    ordered = [
        coding["code"]
        for suggestion in tests_card["suggestions"]
        for action in suggestion.get("actions", [])
        for coding in action["resource"]["code"]["coding"]
    ]
    assert "69548-6" in ordered  # the PIK3CA/AKT1/PTEN panel, for the results not yet recorded
    assert "63419-6" not in ordered  # PIK3CA gene mutations tested for


def test_no_esr1_test_is_asked_for_without_a_progression_on_endocrine_therapy(
    responses: dict[str, Any],
) -> None:
    """Palbociclib stopped for grade 4 neutropenia, no progression: PIK3CA/AKT1/PTEN testing is asked for
    (no result before the first line), ESR1 testing, which ASCO ties to recurrence and progression on
    endocrine therapy, is not, and the card speaks of no progression."""
    scenario = next(
        s for s in SCENARIOS if s.name == "hr-pos-her2-neg-statement-stopped-for-toxicity-not-progression"
    )
    tests_card = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "tests")
    text = f"{tests_card['summary']}\n{tests_card['detail']}"
    assert "PIK3CA, AKT1 and PTEN testing" in text
    assert "ESR1" not in text and "progression" not in text


def test_cdk46_options_after_palbociclib_toxicity_name_what_was_stopped(responses: dict[str, Any]) -> None:
    """The same patient's CDK4/6 options stay (a switch is allowed after toxicity) and say palbociclib
    was stopped for side effects; ribociclib and endocrine therapy alone carry no such caution."""
    scenario = next(
        s for s in SCENARIOS if s.name == "hr-pos-her2-neg-statement-stopped-for-toxicity-not-progression"
    )
    now = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now")
    # one line per option: numbered, or under its family's numbered line
    options = [line for line in now["detail"].splitlines() if re.match(r"\d\. |    - ", line)]
    cautioned = [line for line in options if "Caution: palbociclib stopped for side effects." in line]
    assert len(cautioned) == 2 and all("CDK4/6 inhibitor" in line for line in cautioned), options
    others = [line for line in options if "Ribociclib" in line or "Endocrine therapy alone" in line]
    assert len(others) == 2 and not any("Caution" in line for line in others), options


def test_an_option_sharing_a_drug_the_disease_progressed_on_names_it(responses: dict[str, Any]) -> None:
    """After tucatinib + trastuzumab + capecitabine: trastuzumab with another chemotherapy stays (its rule
    is for progression on HER2-directed therapy) and says the disease progressed on capecitabine;
    trastuzumab, kept beyond progression by the guideline, is not named. Neratinib + capecitabine, which
    would repeat capecitabine itself, is not offered."""
    scenario = next(s for s in SCENARIOS if s.name == "her2-pos-brain-metastases-progressed-on-tucatinib")
    now = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now")
    options = [line for line in now["detail"].splitlines() if line[:3] in {"1. ", "2. ", "3. ", "4. "}]
    assert not any("**Neratinib + capecitabine" in x for x in options)
    for option in ("**Trastuzumab + a non-anthracycline chemotherapy",):
        line = next(x for x in options if option in x)
        caution = line.split("Caution: ", 1)[1].split(".", 1)[0]
        assert caution.startswith("the disease progressed on") and "capecitabine" in caution, line
        assert "trastuzumab" not in caution and "tucatinib" not in caution, line


def test_a_choice_of_one_chemotherapy_says_which_drugs_not_to_choose(responses: dict[str, Any]) -> None:
    """Review 9 (#10): a patient on eribulin after capecitabine (stopped for side effects) was offered, at
    progression, "single-agent chemotherapy (e.g. capecitabine, a taxane, eribulin)" with the drug her
    disease would then have progressed on among the examples. The option, as listed and as the
    suggestion a clinician picks, says not to choose it; the capecitabine toxicity stays a caution."""
    scenario = next(s for s in SCENARIOS if s.name == "hr-pos-her2-neg-long-history-four-lines")
    later = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "at-progression")
    labels = [s["label"] for s in later["suggestions"]]
    label = next(x for x in labels if x.startswith("Single-agent chemotherapy"))
    assert label.endswith("; of these, not eribulin (the disease progressed on it)"), label
    line = next(x for x in later["detail"].splitlines() if "**Single-agent chemotherapy" in x)
    assert "not eribulin (the disease progressed on it)**" in line, line
    assert "Caution: capecitabine stopped for side effects." in line, line
    assert "Caution: the disease progressed on" not in line, line


def test_t_dxd_stays_preferred_after_the_option_it_yields_to_failed(responses: dict[str, Any]) -> None:
    """Review 12: in triple-negative HER2-low disease T-DXd is listed after sacituzumab govitecan; after
    progression on sacituzumab it was still demoted to "other recommended", and the card had no preferred
    option."""
    scenario = next(
        s
        for s in SCENARIOS
        if s.name == "tnbc-her2-low-progressed-on-sacituzumab-after-pembrolizumab-paclitaxel"
    )
    now = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now")
    first = now["detail"].splitlines()[0]
    assert first.startswith("1. **Trastuzumab deruxtecan") and "(preferred)" in first, first


def test_a_man_on_a_gnrh_analogue_is_not_said_to_be_on_ovarian_suppression(responses: dict[str, Any]) -> None:
    """Review 12: a man on leuprolide + anastrozole + palbociclib read "on anastrozole + ovarian
    suppression (GnRH agonist) + palbociclib"; the drug class is named for what it is in both sexes."""
    scenario = next(
        s for s in SCENARIOS if s.name == "male-hr-pos-her2-low-on-leuprolide-anastrozole-palbociclib"
    )
    text = "\n".join(f"{c['summary']}\n{c.get('detail', '')}" for c in _cards(responses, scenario))
    assert "on anastrozole + GnRH agonist + palbociclib" in text
    assert "ovarian" not in text.lower()


def test_pneumonitis_recorded_only_as_a_stop_reason_rules_out_t_dm1(responses: dict[str, Any]) -> None:
    """Review 12: T-DXd stopped for grade 2 pneumonitis (its statusReason, no Condition) left no safety
    finding: the warnings card must name the pneumonitis and rule T-DM1 out, named by its drug alone."""
    scenario = next(s for s in SCENARIOS if s.name == "her2-pos-t-dxd-stopped-for-pneumonitis-after-thp")
    warnings = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "warnings")
    summary = "Trastuzumab emtansine not offered: interstitial lung disease or pneumonitis"
    assert warnings["summary"] == summary, warnings["summary"]
    assert "stopped: Drug-induced pneumonitis" in warnings["detail"], warnings["detail"]


def test_a_withheld_medication_search_is_listed_with_what_it_costs(responses: dict[str, Any]) -> None:
    """Third-party round 6 (Epic): the "Outside Record" notice of the MedicationRequest search was shown
    as "1 more like it" behind the Observation one, and each notice ended in "..": each is a line of its
    own, the medication one saying a cancer medicine given elsewhere may be missing."""
    scenario = next(
        s for s in SCENARIOS if s.name == "epic-sandbox-hr-pos-her2-low-outside-record-orders-withheld"
    )
    warnings = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "warnings")
    detail = warnings["detail"]
    lines = [line for line in detail.splitlines() if "reported a problem reading medicationRequests" in line]
    assert len(lines) == 1 and "Cancer medicines recorded there may be missing" in lines[0], detail
    assert ".." not in detail and "more like it" not in detail, detail


def test_an_option_after_a_pi3k_inhibitor_stopped_for_side_effects_says_so(responses: dict[str, Any]) -> None:
    """Review 13 (P2-4): alpelisib stopped for grade 3 hyperglycaemia, fulvestrant going on: everolimus at
    progression carries a caution; it read as if nothing had happened."""
    scenario = next(
        s
        for s in SCENARIOS
        if s.name == "hr-pos-her2-neg-pik3ca-on-fulvestrant-alpelisib-stopped-for-hyperglycaemia"
    )
    later = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "at-progression")
    line = next(x for x in later["detail"].splitlines() if "**Everolimus + exemestane" in x)
    assert "Caution: another PI3K/AKT/mTOR pathway inhibitor was stopped for side effects" in line, line


def test_an_option_giving_again_a_line_that_ended_without_a_reason_is_not_preferred(
    responses: dict[str, Any],
) -> None:
    """Review 14 (P2-2): letrozole + palbociclib recorded 'completed' with no reason and nothing after: the
    CDK4/6 options carry a caution and are not ranked preferred (the line may have progressed)."""
    scenario = next(
        s
        for s in SCENARIOS
        if s.name == "hr-pos-her2-neg-first-line-letrozole-palbociclib-completed-no-reason-nothing-after"
    )
    now = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now")
    lines = now["detail"].splitlines()
    family = [x for x in lines if re.match(r"\d\. \*\*CDK4/6 inhibitor \+ endocrine therapy", x)]
    assert len(family) == 1 and "(preferred)" not in family[0], lines
    members = [x for x in lines if x.startswith("    - ") and ("Ribociclib" in x or "CDK4/6" in x)]
    assert len(members) == 2, lines
    # the caution every member carries is written once, on the family's line
    assert "Caution: palbociclib recorded as completed" in family[0], family
    assert not any("Caution: palbociclib recorded as completed" in x for x in members), members


def test_imlunestrant_after_fulvestrant_says_its_trial_followed_an_aromatase_inhibitor(
    responses: dict[str, Any],
) -> None:
    """Review 5 (F5): after first-line fulvestrant + palbociclib both oral SERDs were listed as equals;
    EMBER-3 enrolled patients after an aromatase inhibitor, with fulvestrant in its control arm."""
    scenario = next(
        s
        for s in SCENARIOS
        if s.name == "hr-pos-her2-neg-pik3ca-esr1-progressed-on-first-line-fulvestrant-palbociclib"
    )
    now = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now")
    lines = {line.split(" (")[0].strip(" -"): line for line in now["detail"].splitlines() if "    - " in line}
    assert "EMBER-3 enrolled patients after an aromatase inhibitor" in lines["Imlunestrant"]
    assert "Caution" not in lines["Elacestrant"]


def test_a_cdk46_inhibitor_again_after_adjuvant_use_carries_a_caution_once(responses: dict[str, Any]) -> None:
    """Review 19 P2-4: relapse 2 years after adjuvant abemaciclib: the CDK4/6 options say that the evidence
    for one again is limited, once for the family, not on each of its three members."""
    scenario = next(
        s
        for s in SCENARIOS
        if s.name == "hr-pos-her2-neg-relapse-two-years-after-adjuvant-letrozole-abemaciclib"
    )
    now = next(c for c in _cards(responses, scenario) if c["source"]["topic"]["code"] == "options-now")
    caution = "Caution: a CDK4/6 inhibitor was given as (neo)adjuvant therapy"
    assert now["detail"].count(caution) == 1, now["detail"]
    family = next(x for x in now["detail"].splitlines() if "CDK4/6 inhibitor + endocrine therapy**" in x)
    assert caution in family and "(preferred)" in family, family
