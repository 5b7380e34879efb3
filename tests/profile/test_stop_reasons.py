"""Why a cancer medicine was stopped, as clinicians type it into statusReason: a progression written
in oncology shorthand is a progression, so the next line does not offer the class again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]

LETROZOLE, PALBOCICLIB = b.rx("72965"), b.rx("1601374")
BONE_MET = b.cc(b.SNOMED, "94222008", "Secondary malignant neoplasm of bone")


@pytest.mark.parametrize(
    ("reason", "progressed"),
    [
        ("PD on CT", True),  # RECIST 1.1 progressive disease (review 12, P1-2)
        ("POD - new liver lesions", True),
        ("Progressive disease", True),
        ("Stopped: grade 3 neutropenia", False),
        ("Grade 2 pneumonitis", False),  # a side effect (review 12)
        ("Grade 3 neutropenia; no PD on restaging CT", False),  # review 13: a denied progression
        ("No progression but grade 3 rash", False),
        ("Treatment not tolerated", False),
        ("No response", True),  # a phrase of its own, not a denial
        ("Disease progressed, no further benefit expected", True),
        # review 14
        ("Grade 3 neutropenia; PD not confirmed on restaging CT", False),
        ("No toxicity and progressive disease on CT", True),
        ("Progression cannot be excluded", False),  # review 15: a doubt is no reason to stop
        ("Grade 3 neutropenia and PD not excluded on CT", False),
        ("Possible progression", False),
        ("Stopped: intolerant of diarrhoea", False),
        ("Grade 2 fatigue, no longer tolerating", False),
        ("Treatment failure", True),
        # review 16: a verdict after a colon or a dash belongs to its finding
        ("Progression - excluded; grade 3 neutropenia", False),
        ("Disease progression: none. Grade 3 neutropenia", False),
        ("Progression suspected on imaging", False),
        # review 17: only a word next to the finding denies it
        ("Progression: new bone lesions absent on previous scan", True),
        ("Not responding - progressive disease", True),
        ("Progression: no evidence; grade 3 neutropenia", False),
        # review 18: describing words between the negation and the finding
        ("No definite PD; grade 3 neutropenia", False),
        ("No evidence of disease progression; grade 3 neutropenia", False),
        ("Patient moved away", False),
        # "r/o" and "?" doubt; a date after a denial, a comma before it, a denial word before it
        ("r/o PD", False),
        ("?progression", False),
        ("PD excluded 03/2025", False),
        ("Progression, excluded", False),
        ("nil PD", False),
        ("ruled out progression", False),
        ("PD; no further treatment", True),
        ("Progression - not for further chemo", True),
    ],
)
def test_a_first_line_stopped_for_progression_in_shorthand_is_progressed_on(
    build: Build, reason: str, progressed: bool
) -> None:
    records = []
    for drug in (LETROZOLE, PALBOCICLIB):
        record = b.med_statement(drug, start="2024-03-01", end="2025-03-15", status="stopped")
        record["statusReason"] = [{"text": reason}]
        records.append(record)
    profile = build(
        b.patient("1962-03-01"),
        b.breast_cancer(onset="2019-02-01"),
        b.condition(BONE_MET, onset="2024-02-15", rid="met-1"),
        *records,
    )
    assert ({"letrozole", "palbociclib"} <= profile.progressed_on.value) is progressed
    toxic = (
        reason.startswith(("Stopped", "Grade", "Treatment not"))
        or "rash" in reason
        or "neutropenia" in reason
    )
    assert ("palbociclib" in profile.stopped_for_toxicity.value) is toxic


@pytest.mark.parametrize(
    ("reason", "toxic"),
    [
        # review 24, N2: the adverse reactions that most often stop these medicines, named alone
        ("Arthralgia", True),
        ("Grade 2 peripheral neuropathy", True),
        ("Hand-foot syndrome grade 3", True),
        ("QTc prolongation 510 ms", True),
        ("Diarrhoea despite loperamide", True),
        ("Thrombocytopenia", True),
        # denied, or not a side effect
        ("No neuropathy - patient choice", False),
        ("Patient choice", False),
    ],
)
def test_a_side_effect_named_alone_is_a_stop_for_side_effects(build: Build, reason: str, toxic: bool) -> None:
    record = b.med_statement(LETROZOLE, start="2024-03-01", end="2025-03-15", status="stopped")
    record["statusReason"] = [{"text": reason}]
    profile = build(
        b.patient("1962-03-01"),
        b.breast_cancer(onset="2019-02-01"),
        b.condition(BONE_MET, onset="2024-02-15", rid="met-1"),
        record,
    )
    assert ("letrozole" in profile.stopped_for_toxicity.value) is toxic
    assert "letrozole" not in profile.progressed_on.value
