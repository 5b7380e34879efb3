"""The shipped receptor warnings (cards/rules/er-status-missing-hr-positive.yaml and its neighbours) on the
receptor results a clinician meets: an HR-positive reading whose ER is not known keeps its options and
gets one warning naming ER, never two (review 7 finding 5)."""

from __future__ import annotations

from typing import Any

import pytest

from cds.evidence import Fact
from cds.pathway.engine import evaluate
from cds.profile.model import PatientProfile
from tests.pathway.support import ev, hr_positive, real_knowledge

RULE = "er-status-missing-hr-positive"
_RECEPTOR_WARNINGS = {
    RULE,
    "er-negative-pr-positive-caution",
    "receptor-status-missing",
    "er-low-positive-caution",
}
PR_POSITIVE = Fact("positive", ev("Observation/pr-1", "2026-09-22", "PR 60% of cells"))
Z17_411 = Fact(
    "positive",
    ev(
        "Condition/hr-1",
        "2026-05-06",
        "Hormone receptor positive with HER2 negative status (ICD-10-CM Z17.411)",
    ),
    "recorded as hormone receptor positive (problem-list or billing entry)",
)


def first_line(**facts: Any) -> PatientProfile:
    """Untreated HR-positive, HER2-low disease in bone and liver, postmenopausal; ``facts`` replace these."""
    values: dict[str, Any] = {
        "medication_history": "yes",
        "progressed_on": frozenset(),
        "completed_metastatic_lines": 0,
        "pik3ca_status": "unknown",
    }
    values.update(facts)
    return hr_positive(**{k: v if isinstance(v, Fact) else Fact(v) for k, v in values.items()})


def warnings(profile: PatientProfile) -> set[str]:
    return {item.rule.id for item in evaluate(profile, real_knowledge()).warnings} & _RECEPTOR_WARNINGS


def now(profile: PatientProfile) -> list[str]:
    return [item.rule.id for item in evaluate(profile, real_knowledge()).now]


@pytest.mark.parametrize(
    "facts",
    [
        {"er_status": "unknown", "pr_status": PR_POSITIVE},
        {"er_status": "conflicting", "pr_status": PR_POSITIVE},
        {"er_status": "unknown", "pr_status": "unknown", "hormone_receptor_status": Z17_411},
    ],
    ids=[
        "ER not known, PR positive",
        "ER results conflict, PR positive",
        "HR-positive from a billing code only",
    ],
)
def test_hr_positive_without_a_settled_er_keeps_its_options_and_warns_once(facts: dict[str, Any]) -> None:
    profile = first_line(**facts)
    assert warnings(profile) == {RULE}
    assert "ai-cdk46-first-line" in now(profile)  # the PR-positive (or coded) result stands


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"er_status": "positive", "pr_status": PR_POSITIVE}, set()),
        ({"er_status": "negative", "pr_status": PR_POSITIVE}, {"er-negative-pr-positive-caution"}),
        ({"er_status": "low_positive", "pr_status": "unknown"}, {"er-low-positive-caution"}),
        (
            {"er_status": "unknown", "pr_status": "negative", "hormone_receptor_status": "unknown"},
            {"receptor-status-missing"},
        ),
    ],
    ids=["ER known", "ER negative", "ER-low", "HR not known"],
)
def test_the_other_receptor_readings_keep_their_own_warning(
    facts: dict[str, Any], expected: set[str]
) -> None:
    assert warnings(first_line(**facts)) == expected


def test_the_warning_asks_for_er_and_says_the_options_stay() -> None:
    rule = real_knowledge().all_rules[RULE]
    assert "ER not known" in rule.card.summary and "ER immunohistochemistry" in rule.card.summary
    assert "HR-positive" in rule.card.summary  # the options shown are not withdrawn
