"""ECOG performance status (cds/profile/performance.py), coded the ways EHRs send it: mCODE's
valueInteger, a LOINC answer or SNOMED CT grade, an Epic flowsheet row with the score as text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds.fhir.codes import Terminology
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import PatientProfile
from tests.profile import builders as b

Build = Callable[..., PatientProfile]
SERVICE = Path(__file__).resolve().parents[2] / "cards" / "service.yaml"

_ECOG_LOINC = b.cc(b.LOINC, "89247-1", "ECOG Performance Status score")
_ECOG_SNOMED = b.cc(b.SNOMED, "423740007", "Eastern Cooperative Oncology Group performance status")
_EPIC_ROW = {
    "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.707679", "code": "3041150"}],
    "text": "ECOG Performance Status",
}


def _scored(build: Build, *scores: dict[str, Any], **kw: Any) -> PatientProfile:
    """The profile of a patient with breast cancer and these ECOG observations."""
    return build(b.patient(), b.breast_cancer(), *scores, **kw)


def _ecog(
    code: dict[str, Any] = _ECOG_LOINC,
    *,
    integer: int | None = None,
    date: str | None = "2025-05-02",
    **kw: Any,
) -> dict[str, Any]:
    """An ECOG observation, by default of a month before the tests' today (2025-06-01)."""
    raw = b.observation(code, date=date, **kw)
    return raw | {"valueInteger": integer} if integer is not None else raw


@pytest.mark.parametrize(
    ("observation", "grade"),
    [
        # mCODE ECOGPerformanceStatus: valueInteger, with the LOINC answer as interpretation
        (_ecog(integer=3, interpretation=b.cc(b.LOINC, "LA9625-0", "Capable of only limited selfcare")), 3),
        (_ecog(_ECOG_SNOMED, integer=0), 0),
        # a coded grade: LOINC answer, SNOMED CT finding
        (_ecog(value=b.cc(b.LOINC, "LA9626-8", "Completely disabled")), 4),
        (_ecog(_ECOG_SNOMED, value=b.cc(b.SNOMED, "422894000", "ECOG Grade 2")), 2),
        # an Epic flowsheet row: local code, the score as text
        (_ecog(_EPIC_ROW, value_string="3 - Capable of only limited selfcare"), 3),
        (_ecog(_EPIC_ROW, value_string="ECOG 2 - Symptomatic, <50% in bed during the day"), 2),
        (_ecog(_EPIC_ROW, value_string="1"), 1),
    ],
)
def test_the_score_is_read_however_it_is_coded(build: Build, observation: dict[str, Any], grade: int) -> None:
    profile = _scored(build, observation)
    assert profile.performance_status.value == grade
    assert profile.performance_status.evidence[0].reference == f"Observation/{observation['id']}"


def test_no_score_is_unknown_not_zero(build: Build) -> None:
    profile = _scored(build)
    assert profile.performance_status.value is None


@pytest.mark.parametrize(
    "text",
    ["1-2", "Unable to assess", "ECOG 6", "Karnofsky 40%"],
)
def test_a_text_that_names_no_single_grade_is_reported_not_guessed(build: Build, text: str) -> None:
    profile = _scored(build, _ecog(_EPIC_ROW, value_string=text))
    assert profile.performance_status.value is None
    assert b.issues_of(profile, "performance_status", "unreadable")


def test_the_latest_score_counts_and_the_earlier_one_is_named(build: Build) -> None:
    profile = _scored(build, _ecog(integer=1, date="2024-06-01"), _ecog(integer=3, date="2025-05-02"))
    assert profile.performance_status.value == 3
    assert profile.performance_status.note == "Earlier ECOG 1 on 2024-06-01."
    recovered = _scored(
        build,
        _ecog(_EPIC_ROW, value_string="3", date="2024-11-03"),
        _ecog(_EPIC_ROW, value_string="1", date="2025-05-20"),
    )
    assert recovered.performance_status.value == 1


def test_of_one_days_scores_the_worse_is_read(build: Build) -> None:
    profile = _scored(build, _ecog(integer=2, date="2025-05-02"), _ecog(integer=3, date="2025-05-02"))
    assert profile.performance_status.value == 3


@pytest.mark.parametrize("when", ["2024-05-15", None])
def test_an_old_or_undated_score_is_no_current_one(build: Build, when: str | None) -> None:
    """Review 23, E1: an ECOG 3 of a year and more ago (two lines of therapy since) or with no date is
    unknown now, and the note says what would settle it; a score within the year is read."""
    profile = _scored(build, _ecog(integer=3, date=when), today=date(2025, 6, 1))
    assert profile.performance_status.value is None
    assert "a current assessment would settle it" in (profile.performance_status.note or "")
    assert ("undated" in (profile.performance_status.note or "")) is (when is None)
    recent = _scored(build, _ecog(integer=3, date="2024-06-02"), today=date(2025, 6, 1))
    assert recent.performance_status.value == 3


def test_a_karnofsky_score_is_not_read_as_ecog(terminology: Terminology) -> None:
    """Karnofsky is a 0-100 scale: 40 is not ECOG 4, and the service keeps no mapping of its own."""
    karnofsky = b.observation(b.cc(b.LOINC, "89243-0", "Karnofsky Performance Status score"))
    chart = [b.patient(), b.breast_cancer(), karnofsky | {"valueInteger": 40}]
    profile = build_profile(
        [b.model(r) for r in chart],
        patient_id=b.PATIENT,
        today=b.TODAY,
        terminology=terminology,
        thresholds=MenopauseThresholds(),
    )
    assert profile.performance_status.value is None


def test_the_observations_prefetch_asks_for_every_ecog_code(terminology: Terminology) -> None:
    asked = set(yaml.safe_load(SERVICE.read_text())["observation_codes"])
    uris = {"loinc": "http://loinc.org", "snomed": "http://snomed.info/sct"}
    for system, code in terminology.codes("performance-status-tests").codes:
        assert f"{uris[system]}|{code}" in asked, (system, code)
