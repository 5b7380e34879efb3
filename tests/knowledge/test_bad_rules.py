"""Bad rule files stop the service at start, with a message naming the file and the field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cds.errors import KnowledgeError
from cds.pathway.knowledge import load_knowledge
from cds.settings import default_knowledge_dir
from tests.fixtures_support import write_option_order

CARDS = default_knowledge_dir()
GOOD_RULE = "neratinib-capecitabine"  # a therapy rule from a seed document (CCS)


def _good() -> dict[str, object]:
    data = yaml.safe_load((CARDS / "rules" / f"{GOOD_RULE}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """A knowledge folder with the real service.yaml and codes, and one good rule."""
    root = tmp_path / "cards"
    (root / "rules").mkdir(parents=True)
    shutil.copy(CARDS / "service.yaml", root / "service.yaml")
    shutil.copytree(CARDS / "codes", root / "codes")
    (root / "rules" / f"{GOOD_RULE}.yaml").write_text(
        yaml.safe_dump(_good(), allow_unicode=True), encoding="utf-8"
    )
    write_option_order(root)
    return root


def _write(kb: Path, name: str, data: dict[str, object]) -> None:
    (kb / "rules" / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _bad(rule_id: str, change: Callable[[dict[str, object]], None]) -> dict[str, object]:
    data = _good()
    data["id"] = rule_id
    change(data)
    return data


def test_the_copied_knowledge_base_loads(kb: Path) -> None:
    assert GOOD_RULE in load_knowledge(kb).all_rules


def _set(path: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(data: dict[str, object]) -> None:
        node: dict[str, object] = data
        *parents, last = path.split(".")
        for key in parents:
            child = node[key]
            assert isinstance(child, dict)
            node = child
        node[last] = value

    return change


def _drop(key: str) -> Callable[[dict[str, object]], None]:
    return lambda data: data.pop(key)


CASES = [
    ("unknown-top-field", _set("recommendation", "x"), "recommendation"),
    ("unknown-card-field", _set("card.colour", "red"), "card.colour"),
    ("unknown-condition-field", _set("conditions.tumour_grade", "high"), "conditions.tumour_grade"),
    (
        "bad-enum-value",
        _set("conditions.menopausal_status", "perimenopausal"),
        "conditions.menopausal_status",
    ),
    ("bad-int-test", _set("conditions.metastatic_lines", {"more_than": 1}), "conditions.metastatic_lines"),
    ("bad-indicator", _set("card.indicator", "urgent"), "card.indicator"),
    ("missing-sources", _drop("sources"), "sources"),
    ("empty-sources", _set("sources", []), "sources"),
    ("source-without-url", _set("sources", [{"label": "NCCN"}]), "sources.0.url"),
    ("summary-too-long", _set("card.summary", "Consider " + "x" * 140), "card.summary"),
    ("unknown-drug-class", _set("conditions.prior_therapies", {"includes": "unobtanium"}), "prior_therapies"),
    ("both-seed-and-beyond", _set("evidence.beyond_seed_documents", True), "evidence"),
    ("bad-seed-document", _set("evidence.seed_documents", ["Wikipedia"]), "evidence.seed_documents"),
    ("no-conditions", _set("conditions", {}), "conditions"),
    ("bad-version", _set("version", "1.0"), "version"),
    # therapy rules say where in the journey they apply, how strongly, and what they give
    ("therapy-without-decision-point", _drop("decision_point"), "decision_point"),
    ("therapy-without-preference", _drop("preference"), "preference"),
    ("therapy-without-option", _drop("option"), "option"),
    ("therapy-without-regimen", _drop("regimen"), "regimen"),
    ("bad-decision-point", _set("decision_point", "second_line"), "decision_point"),
    ("empty-progression-list", _set("decision_point", {"after_progression_on": []}), "decision_point"),
    (
        "unknown-progression-class",
        _set("decision_point", {"after_progression_on": ["unobtanium"]}),
        "decision_point.after_progression_on",
    ),
    ("bad-preference", _set("preference", "category_1"), "preference"),
    ("yields-to-an-unknown-rule", _set("yields_to", ["no-such-rule"]), "yields_to"),
    ("yields-to-itself", _set("yields_to", ["yields-to-itself"]), "yields_to"),
    ("replaced-by-an-unknown-rule", _set("replaced_by", ["no-such-rule"]), "replaced_by"),
    ("keeps-place-without-yielding", _set("yields_unless", [{"long_qt": "yes"}]), "yields_unless"),
    (
        "keeps-place-on-an-unknown-field",
        _set("yields_unless", [{"tumour_grade": "high"}]),
        "yields_unless[0].tumour_grade",
    ),
    ("option-too-long", _set("option", "Neratinib " + "x" * 120), "option"),
    ("unknown-regimen-class", _set("regimen", ["neratinib", "unobtanium"]), "regimen"),
    ("warning-with-a-decision-point", _set("category", "data-gap"), "decision_point"),
    ("exclusion-without-reason", _set("exclusions", [{"conditions": {"long_qt": "yes"}}]), "exclusions"),
    (
        "exclusion-on-unknown-field",
        _set("exclusions", [{"reason": "x", "conditions": {"qt_interval": "long"}}]),
        "exclusions[0].conditions.qt_interval",
    ),
]


@pytest.mark.parametrize(("name", "change", "field"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_rule_is_refused_naming_file_and_field(
    kb: Path, name: str, change: Callable[[dict[str, object]], None], field: str
) -> None:
    _write(kb, name, _bad(name, change))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == f"{name}.yaml"
    assert field in str(err.value), str(err.value)


def test_a_field_given_twice_is_refused_not_silently_dropped(kb: Path) -> None:
    # plain YAML keeps the last of two keys: a second yields_to (or exclusions) would replace the first
    data = _good()
    data["id"] = "twice"
    text = yaml.safe_dump(data, allow_unicode=True) + "preference: other_recommended\n"
    (kb / "rules" / "twice.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == "twice.yaml"
    assert "'preference' is given twice" in str(err.value)


def test_a_code_list_key_given_twice_is_refused(kb: Path) -> None:
    path = kb / "codes" / "akt1.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nrole: value\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == path.name and "given twice" in str(err.value)


def test_id_must_equal_the_file_name(kb: Path) -> None:
    _write(kb, "some-file-name", _bad("another-id", lambda d: None))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == "some-file-name.yaml"
    assert err.value.field == "id"


def test_a_yaml_syntax_error_is_refused(kb: Path) -> None:
    (kb / "rules" / "broken.yaml").write_text("id: broken\ncard: {summary: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == "broken.yaml"
    assert "YAML" in str(err.value)


def test_a_rule_that_is_not_a_mapping_is_refused(kb: Path) -> None:
    (kb / "rules" / "a-list.yaml").write_text("- id: a-list\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == "a-list.yaml"


def test_the_app_does_not_start_with_a_bad_rule(kb: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cds.app import create_app
    from cds.settings import Settings

    _write(kb, "bad-app", _bad("bad-app", _set("card.indicator", "urgent")))
    settings = Settings(auth="off", data_dir=tmp_path, knowledge_dir=kb)
    with pytest.raises(KnowledgeError) as err:
        app = create_app(settings)
        with TestClient(app):
            pass
    assert "bad-app.yaml" in str(err.value)
    assert "card.indicator" in str(err.value)
