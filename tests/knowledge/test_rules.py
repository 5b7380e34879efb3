"""The knowledge base itself: every rule file loads and follows the house rules for clinical content."""

from __future__ import annotations

from pathlib import Path

import yaml

from cds.pathway.knowledge import Knowledge
from cds.settings import default_knowledge_dir

CARDS = default_knowledge_dir()
RULES = sorted((CARDS / "rules").glob("*.yaml"))
CCS_URL = "https://cancer.ca/en/cancer-information/cancer-types/breast/treatment/stage-4"
DO_URLS = (
    "https://www.nccn.org/guidelines/guidelines-detail?category=1&id=1419",
    "https://www.accessdata.fda.gov/",
)
SET_FIELDS = {"prior_therapies", "metastatic_therapies"}


def _drug_classes() -> set[str]:
    data = yaml.safe_load((CARDS / "codes" / "medications.yaml").read_text(encoding="utf-8"))
    return set(data["classes"])


def _class_names(conditions: dict[str, object]) -> set[str]:
    names: set[str] = set()
    for field, expected in conditions.items():
        if field in SET_FIELDS and isinstance(expected, dict):
            for value in expected.values():
                names.update(value if isinstance(value, list) else [value])
    return {str(n) for n in names}


def test_every_rule_file_loads(knowledge: Knowledge) -> None:
    assert len(knowledge.all_rules) == len(RULES)
    assert len(knowledge.rules) >= 25  # active rules: the seed documents' therapies and the data gaps


def test_rule_ids_are_unique_and_match_file_names(knowledge: Knowledge) -> None:
    ids = [yaml.safe_load(p.read_text(encoding="utf-8"))["id"] for p in RULES]
    assert len(ids) == len(set(ids))
    assert {p.stem for p in RULES} == set(ids) == set(knowledge.all_rules)


def test_summaries_are_short(knowledge: Knowledge) -> None:
    for rule in knowledge.all_rules.values():
        assert 0 < len(rule.card.summary) < 140, rule.id


def test_every_rule_has_an_https_source(knowledge: Knowledge) -> None:
    for rule in knowledge.all_rules.values():
        assert rule.sources, rule.id
        for source in rule.sources:
            assert str(source.url).startswith("https://"), (rule.id, str(source.url))
            assert source.label.strip(), rule.id


def test_seed_and_beyond_seed_flags_are_consistent(knowledge: Knowledge) -> None:
    for rule in knowledge.all_rules.values():
        ev = rule.evidence
        urls = [str(s.url) for s in rule.sources]
        assert bool(ev.seed_documents) != ev.beyond_seed_documents, rule.id
        if ev.beyond_seed_documents:
            assert ev.trials or ev.unverified, f"{rule.id}: beyond-seed rules name their trials"
        if "CCS" in ev.seed_documents and rule.status == "active":
            assert CCS_URL in urls, f"{rule.id}: cites CCS in evidence but not as a source"
        if ev.seed_documents == ["DO"]:
            assert any(u.startswith(DO_URLS) for u in urls), f"{rule.id}: DO content cites NCCN or the label"


def test_every_drug_class_in_a_condition_exists() -> None:
    classes = _drug_classes()
    for path in RULES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        groups = [data.get("conditions") or {}, *(data.get("any_of") or [])]
        for group in groups:
            missing = _class_names(group) - classes
            assert not missing, f"{path.name}: unknown drug classes {sorted(missing)}"


def test_cards_suggest_and_never_decide(knowledge: Knowledge) -> None:
    """Therapy cards say "consider"; warnings (data gaps, safety findings) name what is missing or found."""
    for item in knowledge.rules:
        rule = item.rule
        if item.group == "warning":
            continue
        assert "consider" in rule.card.summary.lower(), rule.id
        assert rule.card.indicator == "info", rule.id
        assert rule.applies_to == "metastatic_breast_cancer", f"{rule.id}: therapy only for stage 4"


def test_warnings_say_what_would_settle_them(knowledge: Knowledge) -> None:
    for item in knowledge.rules:
        rule = item.rule
        if item.group == "warning" and rule.card.indicator == "warning":
            detail = rule.card.detail.lower()
            assert "settle" in detail or "listed below" in detail, rule.id


def test_rules_for_unsettled_data_name_it_explicitly(knowledge: Knowledge) -> None:
    """Unknown is not negative: no active therapy rule may fire on an unknown receptor or HER2 status."""
    unsettled = {"unknown", "conflicting", "equivocal", "indeterminate"}
    for item in knowledge.rules:
        rule = item.rule
        if rule.category == "data-gap":
            continue
        for field in (
            "hormone_receptor_status",
            "er_status",
            "pr_status",
            "her2_status",
            "menopausal_status",
        ):
            expected = rule.conditions.get(field)
            values = set(expected) if isinstance(expected, list) else {expected}
            assert not (values & unsettled), f"{rule.id}: {field} {expected}"


def test_rule_files_are_utf8_yaml_mappings() -> None:
    for path in RULES:
        assert isinstance(yaml.safe_load(Path(path).read_text(encoding="utf-8")), dict), path.name


# Where a recommendation may come from: the label, the primary trial report, the guideline itself, or
# the seed documents. Not press releases, trade press, an NCCN transparency submission or a search page.
SOURCE_HOSTS = {
    "doi.org",  # trial reports and guideline articles (NEJM, Lancet, JCO, ...)
    "www.accessdata.fda.gov",  # FDA label PDFs
    "fda.gov",  # FDA approval notices
    "www.fda.gov",
    "dailymed.nlm.nih.gov",
    "ace.asco.org",  # ASCO guideline pages
    "www.esmo.org",
    "www.nccn.org",
    "cancer.ca",  # seed document (CCS)
    "www.astro.org",  # ASTRO guideline pages (the joint ASCO-ASTRO-SNO brain metastases guideline)
    "old-prod.asco.org",  # ASCO's own pages (its Choosing Wisely list)
    "www.choosingwisely.org.au",  # Choosing Wisely Australia (the oncology society's recommendations)
}
NOT_A_SOURCE = (
    "transparency-submission",
    "/scripts/cder/daf",
    "/search",
    "search=",
    "query=",
    "press-release",
    "/news/",
)


def test_active_rules_cite_labels_trials_or_guidelines(knowledge: Knowledge) -> None:
    from urllib.parse import urlparse

    for item in knowledge.rules:
        for source in item.rule.sources:
            url = str(source.url)
            assert urlparse(url).netloc in SOURCE_HOSTS, (item.rule.id, url)
            assert not any(bad in url.lower() for bad in NOT_A_SOURCE), (item.rule.id, url)
            if urlparse(url).netloc == "www.accessdata.fda.gov":
                assert "/drugsatfda_docs/label/" in url, (item.rule.id, url)


def test_therapy_rules_place_each_option_in_the_journey(knowledge: Knowledge) -> None:
    """Every therapy option says where it applies, how strongly, what it gives, and why it is excluded."""
    for item in knowledge.rules:
        rule = item.rule
        if item.group != "therapy":
            assert rule.decision_point is None and not rule.exclusions, rule.id
            continue
        assert rule.decision_point and rule.preference and rule.option and rule.regimen, rule.id
        assert len(rule.option) <= 120, rule.id
        for exclusion in rule.exclusions:
            assert exclusion.reason and exclusion.conditions, rule.id
            if exclusion.safety:  # a safety exclusion rests on a recorded finding, never on its absence
                assert all(v == "yes" for v in exclusion.conditions.values()), rule.id


def test_retired_rules_say_why(knowledge: Knowledge) -> None:
    retired = [r for r in knowledge.all_rules.values() if r.status == "retired"]
    assert retired  # replaced rules are kept so feedback on their cards still maps
    for rule in retired:
        assert "retired" in rule.evidence.note.lower(), rule.id


def test_sacituzumab_in_tnbc_follows_the_label_two_prior_therapies_one_metastatic(
    knowledge: Knowledge,
) -> None:
    """Trodelvy's US indication in mTNBC: two or more prior systemic therapies, at least one of them
    for metastatic disease. (Neo)adjuvant therapy counts; one prior therapy in all does not, nor two
    (neo)adjuvant therapies before any metastatic line."""
    from cds.pathway.engine import evaluate
    from cds.profile.model import Fact, PatientProfile

    def now(completed: int, early: int) -> list[str]:
        profile = PatientProfile(
            patient_id="p1",
            breast_cancer=Fact("yes"),
            metastatic=Fact("yes"),
            sex=Fact("female"),
            subtype=Fact("triple_negative"),
            medication_history=Fact("yes"),
            on_therapy=Fact("no"),
            progressed_on=Fact(frozenset({"parp_inhibitor", "olaparib"})),
            completed_metastatic_lines=Fact(completed),
            early_systemic_therapies=Fact(early),
        )
        return [item.rule.id for item in evaluate(profile, knowledge).now]

    assert "sacituzumab-govitecan" in now(completed=1, early=1)  # AC-T, then olaparib
    assert "sacituzumab-govitecan" in now(completed=2, early=0)
    assert "sacituzumab-govitecan" not in now(completed=1, early=0)  # one prior therapy in all
    assert "sacituzumab-govitecan" not in now(completed=0, early=2)  # none for metastatic disease


def test_ribociclib_names_the_partner_left_after_progression_on_fulvestrant(knowledge: Knowledge) -> None:
    """Kisqali pairs ribociclib with an aromatase inhibitor (initial endocrine-based therapy) or
    fulvestrant: after progression on fulvestrant alone the card must not leave "+ fulvestrant" as the
    partner; after progression on both partners ribociclib is not offered at all (the fixture
    hr-pos-her2-neg-progressed-on-ai-fulvestrant-two-chemo-cdk46-naive)."""
    from cds.pathway.engine import evaluate
    from cds.pathway.render import render_cards
    from tests.pathway.support import hr_positive

    fulvestrant = frozenset({"endocrine_therapy", "serd", "fulvestrant"})
    profile = hr_positive(
        pik3ca_status="not_detected",
        progressed_on=fulvestrant,
        prior_therapies=fulvestrant,
        metastatic_therapies=fulvestrant,
        metastatic_endocrine_lines=1,
        completed_metastatic_lines=1,
    )
    evaluation = evaluate(profile, knowledge)
    assert "ribociclib-endocrine" in [item.rule.id for item in evaluation.now]
    card = next(c for c in render_cards(evaluation, profile, knowledge) if "options" in c["summary"])
    line = next(line for line in card["detail"].splitlines() if "Ribociclib" in line)
    assert "the partner would be an aromatase inhibitor" in line and "no trial studied it" in line, line


def test_a_triple_negative_patients_tests_card_does_not_cite_the_hr_positive_guideline(
    knowledge: Knowledge,
) -> None:
    """Clinical review 7 (finding 10): the test card of a triple-negative patient named the HR+/HER2-
    guideline as its source; the HER2-negative guideline that covers HR-negative disease comes first."""
    from cds.pathway.engine import evaluate
    from cds.pathway.render import render_cards
    from tests.pathway.support import metastatic_profile

    profile = metastatic_profile(
        sex="female",
        subtype="triple_negative",
        hormone_receptor_status="negative",
        her2_status="negative",
        germline_brca="unknown",
        medication_history="yes",
    )
    cards = render_cards(evaluate(profile, knowledge), profile, knowledge)
    tests = next(c for c in cards if c["summary"].startswith("Tests that could change the options"))
    assert "germline BRCA1/2" in tests["summary"]
    assert "HR+" not in tests["source"]["label"] and "Moy" in tests["source"]["label"]


def test_a_reason_that_quotes_a_drug_label_links_that_label(knowledge: Knowledge) -> None:
    """Clinical review 7 (finding 7): exclusions quoted "Piqray label", "Truqap label", "Enhertu label"...
    while the card linked only trials, or another drug's label; the clinician could not check the quote."""
    import re

    quoted = re.compile(r"\b([A-Z][a-z]+) (?:US )?label\b")
    missing = []
    for rule in (item.rule for item in knowledge.rules):
        labels = " ".join(source.label for source in rule.sources)
        reasons = [e.reason for e in rule.exclusions] + [c.reason for c in rule.cautions]
        for brand in {b for reason in reasons for b in quoted.findall(reason)}:
            if brand not in labels:
                missing.append((rule.id, brand))
    assert not missing


def test_her2_positive_first_line_follows_prior_chemotherapy_not_prior_endocrine_therapy(
    knowledge: Knowledge,
) -> None:
    """Review 8 (F2): after an endocrine-only line, HER2-positive disease still gets the first-line anti-HER2
    regimens (CLEOPATRA allowed a prior hormonal therapy; the Perjeta label excludes prior chemotherapy or
    anti-HER2 therapy for metastatic disease), not trastuzumab "alone" (Herceptin's single-agent indication
    is after chemotherapy); after a chemotherapy-only line, trastuzumab and not THP."""
    from cds.pathway.engine import evaluate
    from tests.pathway.support import metastatic_profile

    letrozole = frozenset({"endocrine_therapy", "aromatase_inhibitor", "letrozole"})
    paclitaxel = frozenset({"chemotherapy", "taxane", "paclitaxel"})

    def now(given: frozenset[str], chemotherapy_lines: int, endocrine_lines: int) -> set[str]:
        profile = metastatic_profile(
            sex="female",
            menopausal_status="postmenopausal",
            subtype="hr_positive_her2_positive",
            hormone_receptor_status="positive",
            her2_status="positive",
            medication_history="yes",
            on_therapy="no",
            progressed_on=given,
            prior_therapies=given,
            metastatic_therapies=given,
            completed_metastatic_lines=1,
            metastatic_lines=1,
            metastatic_chemotherapy_lines=chemotherapy_lines,
            metastatic_endocrine_lines=endocrine_lines,
            metastatic_her2_lines=0,
        )
        return {item.rule.id for item in evaluate(profile, knowledge).now}

    after_endocrine = now(letrozole, chemotherapy_lines=0, endocrine_lines=1)
    assert {"pertuzumab-trastuzumab-docetaxel-first-line", "t-dxd-pertuzumab-first-line"} <= after_endocrine
    assert "trastuzumab-her2-positive-after-chemotherapy-only" not in after_endocrine
    after_chemotherapy = now(paclitaxel, chemotherapy_lines=1, endocrine_lines=0)
    assert "trastuzumab-her2-positive-after-chemotherapy-only" in after_chemotherapy
    assert "pertuzumab-trastuzumab-docetaxel-first-line" not in after_chemotherapy


def test_a_first_line_card_does_not_assume_no_prior_treatment_when_procedures_record_some(
    knowledge: Knowledge,
) -> None:
    """Review 8 (F7): with therapy recorded only as procedures, the options card said "First line, assuming
    no prior treatment"."""
    from cds.evidence import Evidence
    from cds.pathway.engine import evaluate
    from cds.pathway.render import render_cards
    from cds.profile.model import Fact
    from tests.pathway.support import hr_positive

    chemo = Evidence("Procedure/chemo-1", "2023-02-01", "Systemic therapy (procedure): Chemotherapy")
    for history, heading in (
        (Fact("unknown"), "First line, assuming no prior treatment"),
        (
            Fact("unknown", (chemo,)),
            "First line by the medicines recorded (prior therapy sent only as procedures)",
        ),
    ):
        profile = hr_positive(medication_history=history)
        cards = render_cards(evaluate(profile, knowledge), profile, knowledge)
        assert any(c["summary"].startswith(heading) for c in cards), [c["summary"] for c in cards]


def test_the_ihc_0_re_review_is_not_asked_while_her2_results_conflict(knowledge: Knowledge) -> None:
    """Review 8 (F8): with HER2 results in conflict the tests card also asked to re-review an IHC 0 for
    membrane staining, a question that only matters once HER2 is negative."""
    from cds.pathway.engine import evaluate
    from tests.pathway.support import hr_positive

    def asked(her2_status: str) -> bool:
        profile = hr_positive(her2_status=her2_status, her2_ihc="0", her2_ultralow="unknown", her2_low="no")
        return "testing-her2-ihc-0-membrane-staining" in {
            i.rule.id for i in evaluate(profile, knowledge).tests
        }

    assert asked("negative")
    assert not asked("conflicting")
