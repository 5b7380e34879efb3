"""Fixtures for the profile tests: the real code lists and a build() helper over raw dicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from cds.fhir.codes import Terminology
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import PatientProfile
from tests.profile.builders import CODES, PATIENT, TODAY, model


@pytest.fixture(scope="session")
def terminology() -> Terminology:
    return Terminology.load(CODES)


@pytest.fixture
def build(terminology: Terminology) -> Callable[..., PatientProfile]:
    def run(
        *raw: dict[str, Any], today: date = TODAY, thresholds: MenopauseThresholds | None = None
    ) -> PatientProfile:
        for r in raw:
            assert r["resourceType"] == "Patient" or terminology.is_relevant(model(r)), f"not relevant: {r}"
        return build_profile(
            [model(r) for r in raw],
            patient_id=PATIENT,
            today=today,
            terminology=terminology,
            thresholds=thresholds or MenopauseThresholds(),
        )

    return run
