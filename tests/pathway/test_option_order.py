"""Options of equal preference are listed in the documented order of cards/option-order.yaml, never by
rule file name; the loader refuses a list that would leave a tie to chance (clinical review 3, C2)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds.errors import KnowledgeError
from cds.pathway.engine import evaluate
from cds.pathway.knowledge import OPTION_ORDER, Knowledge, load_knowledge
from cds.profile.model import PatientProfile
from cds.settings import default_knowledge_dir
from tests.pathway.support import metastatic_profile

REAL = default_knowledge_dir()
AI_CDK46 = frozenset(
    {"endocrine_therapy", "aromatase_inhibitor", "letrozole", "cdk4_6_inhibitor", "palbociclib"}
)
THP = frozenset({"her2_directed", "trastuzumab", "pertuzumab", "chemotherapy", "taxane", "docetaxel"})


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(REAL)


def _listed() -> list[str]:
    data = yaml.safe_load((REAL / OPTION_ORDER).read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return [str(item) for item in data]


def _copy_with(tmp_path: Path, order: object) -> Path:
    """The shipped knowledge base with option-order.yaml replaced by ``order``."""
    folder = tmp_path / "cards"
    shutil.copytree(REAL, folder)
    (folder / OPTION_ORDER).write_text(yaml.safe_dump(order), encoding="utf-8")
    return folder


def _without(rule_id: str) -> Callable[[list[str]], object]:
    return lambda ids: [i for i in ids if i != rule_id]


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [
        pytest.param(
            _without("alpelisib-fulvestrant-pik3ca"), "(file)", "alpelisib-fulvestrant-pik3ca", id="missing"
        ),
        pytest.param(lambda ids: ["no-such-rule", *ids], "[0]", "not an active therapy rule", id="unknown"),
        # a retired rule (kept for old feedback) and an active rule that is not a therapy option
        pytest.param(
            lambda ids: ["abemaciclib-ai-postmenopausal", *ids],
            "[0]",
            "not an active therapy rule",
            id="retired",
        ),
        pytest.param(
            lambda ids: ["bone-modifying-agents", *ids], "[0]", "not an active therapy rule", id="not-therapy"
        ),
        pytest.param(lambda ids: [*ids, ids[0]], "[{n}]", "listed twice", id="twice"),
        pytest.param(lambda ids: {"order": ids}, "(file)", "must be a list", id="not-a-list"),
    ],
)
def test_the_loader_refuses_an_option_order_that_leaves_a_tie_to_chance(
    tmp_path: Path, change: Callable[[list[str]], object], where: str, problem: str
) -> None:
    ids = _listed()
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_copy_with(tmp_path, change(ids)))
    assert err.value.file == OPTION_ORDER
    assert err.value.field == where.format(n=len(ids))
    assert problem in err.value.problem


def test_a_knowledge_base_without_an_option_order_does_not_start(tmp_path: Path) -> None:
    folder = _copy_with(tmp_path, [])
    (folder / OPTION_ORDER).unlink()
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(folder)
    assert err.value.file == OPTION_ORDER


def test_the_order_decides_a_tie_and_the_file_names_do_not(tmp_path: Path) -> None:
    """Reversing the list reverses two options of equal preference: the order is the list's."""
    profile = _post_cdk46(esr1_status="altered", pik3ca_status="altered")
    shipped = _options(load_knowledge(REAL), profile)
    reversed_kb = load_knowledge(_copy_with(tmp_path, list(reversed(_listed()))))
    reversed_options = _options(reversed_kb, profile)
    preferred = [o for o in shipped if o in _PREFERRED_AFTER_CDK46]
    assert [o for o in reversed_options if o in _PREFERRED_AFTER_CDK46] == list(reversed(preferred))


def _patient(**facts: Any) -> PatientProfile:
    defaults = {"sex": "female", "menopausal_status": "postmenopausal", "medication_history": "yes"}
    return metastatic_profile(**{**defaults, "on_therapy": "no", **facts})


def _post_cdk46(**facts: Any) -> PatientProfile:
    """Postmenopausal, HR+/HER2-negative (not HER2-low), progressed on first-line letrozole + palbociclib."""
    return _patient(
        subtype="hr_positive_her2_negative",
        hormone_receptor_status="positive",
        her2_status="negative",
        her2_low="no",
        progressed_on=AI_CDK46,
        completed_metastatic_lines=1,
        metastatic_endocrine_lines=1,
        endocrine_resistance="sensitive",
        **facts,
    )


_PREFERRED_AFTER_CDK46 = {
    "elacestrant-esr1-mutated",
    "imlunestrant-esr1-mutated",
    "capivasertib-fulvestrant-pik3ca-akt1-pten",
    "alpelisib-fulvestrant-pik3ca",
}


def _options(knowledge: Knowledge, profile: PatientProfile) -> list[str]:
    result = evaluate(profile, knowledge)
    return [item.rule.id for item in result.now or result.at_progression]


def test_after_cdk46_with_esr1_and_pik3ca_the_oral_serds_come_first_and_alpelisib_last(
    knowledge: Knowledge,
) -> None:
    """Review 3, C2: alpelisib (SOLAR-1's hyperglycaemia, few patients after a CDK4/6 inhibitor) was
    listed first of the four preferred options because its file name sorts first."""
    options = _options(knowledge, _post_cdk46(esr1_status="altered", pik3ca_status="altered"))
    preferred = [o for o in options if o in _PREFERRED_AFTER_CDK46]
    assert preferred == [
        "elacestrant-esr1-mutated",
        "imlunestrant-esr1-mutated",
        "capivasertib-fulvestrant-pik3ca-akt1-pten",
        "alpelisib-fulvestrant-pik3ca",
    ]
    assert options[: len(preferred)] == preferred  # the preferred options lead the card


def test_her2_positive_t_dm1_before_tucatinib_at_second_line_after_it_at_the_third(
    knowledge: Knowledge,
) -> None:
    """After THP: T-DXd (preferred), then T-DM1 (the pathway table's second-line alternative), then
    tucatinib + trastuzumab + capecitabine. After THP and T-DXd, or with brain metastases: tucatinib
    (HER2CLIMB, OS benefit after T-DM1) before T-DM1."""
    second_line = {
        "subtype": "hr_negative_her2_positive",
        "hormone_receptor_status": "negative",
        "her2_status": "positive",
        "progressed_on": THP,
        "completed_metastatic_lines": 1,
        "metastatic_her2_lines": 1,
    }
    assert _options(knowledge, _patient(**second_line))[:3] == [
        "t-dxd-her2-positive-second-line",
        "t-dm1-after-trastuzumab-taxane",
        "tucatinib-trastuzumab-capecitabine",
    ]
    brain = _patient(**second_line, metastatic_sites=frozenset({"brain"}))
    assert _options(knowledge, brain)[1:3] == [
        "tucatinib-trastuzumab-capecitabine",
        "t-dm1-after-trastuzumab-taxane",
    ]
    third_line = {
        **second_line,
        "progressed_on": THP | {"t_dxd", "antibody_drug_conjugate"},
        "completed_metastatic_lines": 2,
        "metastatic_her2_lines": 2,
    }
    assert _options(knowledge, _patient(**third_line))[:2] == [
        "tucatinib-trastuzumab-capecitabine",
        "t-dm1-after-trastuzumab-taxane",
    ]


def test_first_line_endocrine_alone_comes_before_chemotherapy_for_visceral_crisis(
    knowledge: Knowledge,
) -> None:
    """Both are "in certain circumstances"; the visceral-crisis line is last (alphabetically it was first)."""
    profile = _patient(
        subtype="hr_positive_her2_negative",
        hormone_receptor_status="positive",
        her2_status="negative",
        visceral_metastases="yes",
        completed_metastatic_lines=0,
        metastatic_endocrine_lines=0,
    )
    options = _options(knowledge, profile)
    assert options.index("endocrine-postmenopausal") < options.index("chemotherapy-hr-positive-visceral")
    assert options[-1] == "chemotherapy-hr-positive-visceral"


def test_her2_low_after_chemotherapy_sacituzumab_first_in_tnbc_t_dxd_first_in_hr_positive(
    knowledge: Knowledge,
) -> None:
    """HER2-low after two chemotherapy lines. Triple-negative: sacituzumab first, T-DXd the alternative
    (the pathway table's TNBC second-line row), then chemotherapy. HR-positive after endocrine therapy:
    T-DXd (DESTINY-Breast04's primary cohort) before sacituzumab."""
    chemo = frozenset({"chemotherapy", "taxane", "paclitaxel", "capecitabine"})
    tnbc = _patient(
        subtype="triple_negative",
        hormone_receptor_status="negative",
        her2_status="negative",
        her2_low="yes",
        progressed_on=chemo,
        completed_metastatic_lines=2,
        metastatic_chemotherapy_lines=2,
    )
    assert _options(knowledge, tnbc) == [
        "sacituzumab-govitecan",
        "t-dxd-her2-low-after-chemotherapy",
        "chemotherapy-triple-negative",
    ]
    hr_positive = _patient(
        subtype="hr_positive_her2_negative",
        hormone_receptor_status="positive",
        her2_status="negative",
        her2_low="yes",
        progressed_on=chemo | {"endocrine_therapy", "aromatase_inhibitor", "letrozole"},
        completed_metastatic_lines=3,
        metastatic_chemotherapy_lines=2,
        metastatic_endocrine_lines=1,
    )
    shown = _options(knowledge, hr_positive)
    assert shown.index("t-dxd-her2-low-after-chemotherapy") < shown.index("sacituzumab-govitecan"), shown
