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
    """Therapy cards say "consider"; data-gap cards are warnings (or info) that name what is missing."""
    for item in knowledge.rules:
        rule = item.rule
        if rule.category == "data-gap":
            continue
        assert "consider" in rule.card.summary.lower(), rule.id
        assert rule.card.indicator == "info", rule.id
        assert rule.applies_to == "metastatic_breast_cancer", f"{rule.id}: therapy only for stage 4"


def test_data_gap_cards_say_what_would_settle_it(knowledge: Knowledge) -> None:
    for item in knowledge.rules:
        rule = item.rule
        if rule.category == "data-gap" and rule.card.indicator == "warning":
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
