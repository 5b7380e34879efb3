"""The shipped tumour-agnostic pembrolizumab rule (cards/rules/pembrolizumab-msi-h-tmb-h.yaml) on the
journeys a clinician meets: where it is offered, and where offering it would be wrong."""

from __future__ import annotations

from typing import Any

import pytest

from cds.evidence import Fact
from cds.pathway.engine import evaluate
from cds.profile.model import PatientProfile
from tests.pathway.support import metastatic_profile, real_knowledge

RULE = "pembrolizumab-msi-h-tmb-h"
PACLITAXEL = frozenset({"chemotherapy", "taxane", "paclitaxel"})
CAPECITABINE = frozenset({"chemotherapy", "capecitabine"})
PEMBROLIZUMAB = frozenset({"immunotherapy", "pembrolizumab"})
ATEZOLIZUMAB = frozenset({"immunotherapy", "atezolizumab"})
LETROZOLE_PALBOCICLIB = frozenset(
    {"endocrine_therapy", "aromatase_inhibitor", "letrozole", "cdk4_6_inhibitor", "palbociclib"}
)


def after_chemotherapy(**facts: Any) -> PatientProfile:
    """Triple-negative disease that progressed on paclitaxel, then capecitabine; not on therapy."""
    values: dict[str, Any] = {
        "subtype": "triple_negative",
        "medication_history": "yes",
        "on_therapy": "no",
        "progressed_on": PACLITAXEL | CAPECITABINE,
        "completed_metastatic_lines": 2,
        "metastatic_lines": 2,
        "metastatic_chemotherapy_lines": 2,
    }
    values.update(facts)
    return metastatic_profile(**{k: v if isinstance(v, Fact) else Fact(v) for k, v in values.items()})


def now(profile: PatientProfile) -> list[str]:
    return [item.rule.id for item in evaluate(profile, real_knowledge()).now]


@pytest.mark.parametrize(
    "markers",
    [{"msi_status": "high"}, {"tmb_status": "high"}, {"msi_status": "stable_or_low", "tmb_status": "high"}],
    ids=["MSI-H/dMMR", "TMB-high", "TMB-high with MSS"],
)
def test_offered_after_progression_with_either_marker(markers: dict[str, str]) -> None:
    options = now(after_chemotherapy(**markers))
    assert RULE in options
    assert options[-1] == RULE  # no satisfactory alternative: after every option that fits


@pytest.mark.parametrize(
    "markers",
    [
        {},
        {"msi_status": "stable_or_low"},
        {"tmb_status": "low"},
        {"msi_status": "unknown", "tmb_status": "unknown"},
    ],
    ids=["no result", "MSS or MSI-L", "TMB below 10", "unknown is not positive"],
)
def test_not_offered_without_the_marker(markers: dict[str, str]) -> None:
    assert RULE not in now(after_chemotherapy(**markers))


def test_not_offered_first_line() -> None:
    profile = after_chemotherapy(
        msi_status="high",
        progressed_on=frozenset(),
        completed_metastatic_lines=0,
        metastatic_lines=0,
        metastatic_chemotherapy_lines=0,
    )
    assert RULE not in now(profile)


def test_any_subtype_after_endocrine_therapy() -> None:
    profile = after_chemotherapy(
        subtype="hr_positive_her2_negative",
        tmb_status="high",
        progressed_on=LETROZOLE_PALBOCICLIB,
        completed_metastatic_lines=1,
        metastatic_lines=1,
        metastatic_chemotherapy_lines=0,
    )
    assert RULE in now(profile)


@pytest.mark.parametrize("given", [PEMBROLIZUMAB, ATEZOLIZUMAB], ids=["pembrolizumab", "atezolizumab"])
def test_not_offered_after_progression_on_a_checkpoint_inhibitor(given: frozenset[str]) -> None:
    profile = after_chemotherapy(msi_status="high", progressed_on=PACLITAXEL | CAPECITABINE | given)
    assert RULE not in now(profile)


def test_weighed_at_progression_for_a_patient_on_first_line_chemotherapy() -> None:
    profile = after_chemotherapy(
        msi_status="high",
        on_therapy="yes",
        current_therapies=PACLITAXEL,
        progressed_on=frozenset(),
        completed_metastatic_lines=0,
        metastatic_lines=1,
        metastatic_chemotherapy_lines=1,
    )
    result = evaluate(profile, real_knowledge())
    assert RULE not in [item.rule.id for item in result.now]
    assert RULE in [item.rule.id for item in result.at_progression]


def test_not_offered_again_while_on_pembrolizumab() -> None:
    profile = after_chemotherapy(
        msi_status="high",
        on_therapy="yes",
        current_therapies=PEMBROLIZUMAB,
        metastatic_lines=3,
    )
    result = evaluate(profile, real_knowledge())
    assert RULE not in [item.rule.id for item in result.at_progression]


def test_shown_as_a_note_with_what_to_confirm_and_the_lung_caution() -> None:
    """Review 6: the rule's warnings never reached the card (N2), no pneumonitis caution with lung disease
    on record (N4), and a numbered option at the first progression against "no satisfactory
    alternative" (N5): it is an "Also:" note after the numbered options, naming what to confirm."""
    from cds.pathway.render import render_cards

    profile = after_chemotherapy(msi_status="high", interstitial_lung_disease="yes")
    cards = render_cards(evaluate(profile, real_knowledge()), profile, real_knowledge())
    detail = next(c for c in cards if c["source"]["topic"]["code"] == "options-now")["detail"]
    (line,) = [x for x in detail.split("\n\n") if "Pembrolizumab alone" in x]
    assert line.startswith("Also: **Pembrolizumab alone")
    assert "confirm MSI-H or dMMR on the molecular report" in line
    assert "immune-mediated pneumonitis" in line
    assert "confirm TMB" not in line  # only the marker on record
