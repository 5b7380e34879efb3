"""Rule conditions, scope gates and card rendering, on hand-built profiles (no HTTP, no FHIR)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from cds.errors import KnowledgeError
from cds.pathway.engine import evaluate
from cds.pathway.ids import card_uuid, key_of, rule_key
from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.pathway.markdown import escape_all, escape_md
from cds.pathway.render import render_cards
from cds.profile.model import Fact, PatientProfile
from tests.fixtures_support import knowledge_with
from tests.pathway.support import metastatic_profile, real_knowledge

SOURCE = [
    {
        "label": "Canadian Cancer Society",
        "url": "https://cancer.ca/en/cancer-information/cancer-types/breast/treatment/stage-4",
    }
]


def rule(rule_id: str, conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "version": "1.0.0",
        "status": "active",
        "title": f"Test rule {rule_id}",
        "category": "supportive",
        "when": "when words",
        "then": "then words",
        "conditions": conditions,
        "card": {
            "summary": f"Consider {rule_id}",
            "indicator": "info",
            "detail": "Detail from the rule file.",
        },
        "sources": SOURCE,
        "evidence": {"note": "test", "seed_documents": ["CCS"]},
        **extra,
    }


metastatic = metastatic_profile


def fired(knowledge: Knowledge, profile: PatientProfile) -> list[str]:
    return [item.rule.id for item in evaluate(profile, knowledge).all_rules()]


def test_equals_one_of_and_integer_bounds(tmp_path: Path) -> None:
    kb = knowledge_with(
        tmp_path,
        rule("first-line", {"menopausal_status": ["postmenopausal"], "metastatic_lines": {"at_most": 0}}),
        rule("later-line", {"metastatic_lines": {"at_least": 1}}),
    )
    assert fired(kb, metastatic(menopausal_status="postmenopausal")) == ["first-line"]
    assert fired(kb, metastatic(menopausal_status="postmenopausal", metastatic_lines=2)) == ["later-line"]
    assert fired(kb, metastatic(menopausal_status="premenopausal")) == []


@pytest.mark.parametrize("status", ["unknown", "conflicting"])
def test_unknown_is_not_negative(tmp_path: Path, status: str) -> None:
    kb = knowledge_with(tmp_path, rule("her2-not-positive", {"her2_status": {"not": "positive"}}))
    assert fired(kb, metastatic(her2_status=status)) == []
    assert fired(kb, metastatic(her2_status="negative")) == ["her2-not-positive"]


def test_set_conditions(tmp_path: Path) -> None:
    kb = knowledge_with(
        tmp_path,
        rule("after-t-dm1", {"metastatic_therapies": {"includes": "t_dm1", "excludes": "t_dxd"}}),
        rule("bone", {"metastatic_sites": {"includes_any": ["bone"]}}),
    )
    assert fired(kb, metastatic(metastatic_therapies=frozenset({"t_dm1", "her2_directed"}))) == [
        "after-t-dm1"
    ]
    assert fired(kb, metastatic(metastatic_therapies=frozenset({"t_dm1", "t_dxd"}))) == []
    assert fired(kb, metastatic(metastatic_sites=frozenset({"bone", "liver"}))) == ["bone"]


def test_any_of_needs_one_group(tmp_path: Path) -> None:
    kb = knowledge_with(
        tmp_path,
        rule(
            "hr-neg-or-visceral",
            {},
            any_of=[{"hormone_receptor_status": "negative"}, {"visceral_metastases": "yes"}],
        ),
    )
    assert fired(kb, metastatic(hormone_receptor_status="negative")) == ["hr-neg-or-visceral"]
    assert fired(kb, metastatic(hormone_receptor_status="positive", visceral_metastases="yes")) == [
        "hr-neg-or-visceral"
    ]
    assert fired(kb, metastatic(hormone_receptor_status="positive", visceral_metastases="no")) == []


def test_no_breast_cancer_or_not_metastatic_gets_no_stage_4_cards(tmp_path: Path) -> None:
    kb = knowledge_with(
        tmp_path,
        rule("therapy", {"hormone_receptor_status": "positive"}),
        rule("staging-gap", {"metastatic": ["unknown"]}, applies_to="breast_cancer"),
    )
    no_cancer = PatientProfile(
        patient_id="p1", breast_cancer=Fact("no"), hormone_receptor_status=Fact("positive")
    )
    assert fired(kb, no_cancer) == []
    early = PatientProfile(
        patient_id="p1",
        breast_cancer=Fact("yes"),
        metastatic=Fact("no"),
        hormone_receptor_status=Fact("positive"),
    )
    assert fired(kb, early) == []
    unknown = PatientProfile(
        patient_id="p1", breast_cancer=Fact("yes"), hormone_receptor_status=Fact("positive")
    )
    assert fired(kb, unknown) == ["staging-gap"]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # metastases recorded, no breast cancer and no other primary found: say why there is no advice
        ({"breast_cancer": "unknown", "metastatic": "yes"}, ["breast-cancer-not-found"]),
        ({"breast_cancer": "no", "metastatic": "yes"}, ["breast-cancer-not-found"]),
        # another primary cancer: the metastases may be its own; no card, as before
        ({"breast_cancer": "unknown", "metastatic": "yes", "other_primary_cancer": "yes"}, []),
        # no breast cancer and no metastases: no card
        ({"breast_cancer": "no", "metastatic": "no"}, []),
        ({"breast_cancer": "unknown", "metastatic": "unknown"}, []),
        # breast cancer found: the stage 4 options, not this warning
        ({"breast_cancer": "yes", "metastatic": "yes", "hormone_receptor_status": "positive"}, None),
        ({"breast_cancer": "unknown", "metastatic": "yes", "deceased": "yes"}, []),
    ],
)
def test_metastases_without_a_breast_cancer_diagnosis_get_one_warning(
    facts: dict[str, str], expected: list[str] | None
) -> None:
    profile = PatientProfile(patient_id="p1", **{k: Fact(v) for k, v in facts.items()})
    rules = fired(real_knowledge(), profile)
    if expected is None:
        assert "breast-cancer-not-found" not in rules and rules
    else:
        assert rules == expected


def test_only_a_warning_rule_can_apply_to_any_patient(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="applies_to"):
        knowledge_with(tmp_path, rule("therapy-for-anyone", {"metastatic": "yes"}, applies_to="any"))


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({"no_such_field": "yes"}, "conditions.no_such_field"),
        ({"her2_status": "maybe"}, "conditions.her2_status"),
        ({"metastatic_lines": {"at_most": "two"}}, "conditions.metastatic_lines"),
        ({"metastatic_sites": "bone"}, "conditions.metastatic_sites"),
        ({"prior_therapies": {"includes": "unobtainium"}}, "conditions.prior_therapies"),
    ],
)
def test_bad_conditions_stop_loading_naming_file_and_field(
    tmp_path: Path, conditions: dict[str, Any], field: str
) -> None:
    with pytest.raises(KnowledgeError) as err:
        knowledge_with(tmp_path, rule("bad-rule", conditions))
    assert err.value.file == "bad-rule.yaml"
    assert err.value.field == field


def test_card_uuids_are_unique_and_carry_the_rule_key() -> None:
    uuids = {card_uuid("some-rule") for _ in range(1000)}
    assert len(uuids) == 1000
    assert {key_of(u) for u in uuids} == {rule_key("some-rule")}
    assert key_of("3fa85f64-5717-4562-b3fc-2c963f66afa6") is None  # a v4 uuid from elsewhere
    assert key_of("not a uuid") is None


def test_escape_md_neutralises_links_and_html() -> None:
    assert escape_md("[click](javascript:x)") == "\\[click\\]\\(javascript:x\\)"
    assert escape_md("a & b") == "a &amp; b"


# Texts made of whitespace of several kinds, Markdown and HTML specials, letters and anything else.
_TOKENS = st.sampled_from(["a", "b", " ", "  ", "\n", "\t", "\xa0", "\u3000", "&", "<", "(", "\\", "_", "*"])
_AWKWARD = st.lists(_TOKENS | st.characters(), max_size=10).map("".join)


@given(st.lists(_AWKWARD, max_size=6))
@example([])
@example([""])
@example(["a", "", "b"])
@example([" a", "b"])
@example(["a", "b "])
@example(["a  b", "c"])
@example(["a\nb", "c"])
def test_escaping_texts_together_is_escaping_each(texts: list[str]) -> None:
    assert escape_all(texts) == [escape_md(text) for text in texts]


def test_escaping_texts_together_collapses_every_kind_of_whitespace() -> None:
    for space in (c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()):
        texts = [f"a{space}b", f"{space}c", "d"]
        assert escape_all(texts) == [escape_md(text) for text in texts], hex(ord(space))


def test_cards_follow_the_knowledge_base_they_were_loaded_from(tmp_path: Path) -> None:
    old = knowledge_with(tmp_path, rule("er-pos", {"er_status": "positive"}))
    service = yaml.safe_load((tmp_path / "service.yaml").read_text())
    service["cards"]["supportive"]["summary"] = "Care beside treatment: {names}"
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(service))
    changed = rule("er-pos", {"er_status": "positive"}, title="Psycho-oncology referral")
    (tmp_path / "rules" / "er-pos.yaml").write_text(yaml.safe_dump(changed))
    new = load_knowledge(tmp_path)
    profile = metastatic(er_status="positive")
    [before] = render_cards(evaluate(profile, old), profile, old)
    [after] = render_cards(evaluate(profile, new), profile, new)
    assert before["summary"] == "Supportive care: test rule er-pos"
    assert after["summary"] == "Care beside treatment: psycho-oncology referral"


def test_a_summary_template_with_an_unknown_field_stops_loading(tmp_path: Path) -> None:
    knowledge_with(tmp_path, rule("er-pos", {"er_status": "positive"}))
    service = yaml.safe_load((tmp_path / "service.yaml").read_text())
    service["cards"]["tests"]["summary"] = "Tests for {patient_name}"
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(service))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(tmp_path)
    assert err.value.file == "service.yaml"


def test_a_therapy_rule_without_a_decision_point_stops_loading(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as err:
        knowledge_with(tmp_path, rule("endocrine", {"er_status": "positive"}, category="endocrine"))
    assert err.value.field == "decision_point"


def test_yes_and_no_in_rule_files_stay_words(tmp_path: Path) -> None:
    """YAML 1.1 would read an unquoted ``yes`` as true; clinicians write yes."""
    knowledge_with(tmp_path, rule("other", {"er_status": "positive"}))
    (tmp_path / "rules" / "visceral.yaml").write_text(
        yaml.safe_dump(rule("visceral", {})).replace(
            "conditions: {}", "conditions:\n  visceral_metastases: yes"
        )
    )
    kb = load_knowledge(tmp_path)
    assert fired(kb, metastatic(visceral_metastases="yes")) == ["visceral"]
