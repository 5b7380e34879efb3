"""Property-based tests: random and mutated FHIR through the profile code and whole hook calls.

Seeds are the realistic requests in fhir_fixtures/ (ER/PR/HER2 observations, conditions, medications,
procedures); hypothesis mutates values, codes, dates and types, deletes and duplicates. The profile
code must never raise, and what it could not read must show up as an issue instead of vanishing.
"""

from __future__ import annotations

import copy
import sys
from datetime import date
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.errors import ServiceError
from cds.fhir import issues as bounded_issues
from cds.fhir.client import NoFetcher
from cds.fhir.older import upgrade
from cds.fhir.request import reference
from cds.fhir.select import PROFILE_TYPES, select_resources
from cds.pathway.knowledge import load_knowledge
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.service import PatientViewService
from cds.settings import Settings
from tests.mutation import JSON_VALUES, SEEDS, mutate
from tests.profile.builders import read_chart, read_model

TODAY = date(2026, 11, 21)
SETTINGS = Settings(auth="off")
KNOWLEDGE = load_knowledge(SETTINGS.knowledge_dir)
SERVICE = PatientViewService(SETTINGS, KNOWLEDGE, NoFetcher())
THRESHOLDS = MenopauseThresholds(fsh_min_iu_l=30.0, estradiol_max_pg_ml=20.0, age_years=60)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


def resources_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found.extend(
                e["resource"] for e in value.get("entry", []) if isinstance(e, dict) and "resource" in e
            )
        elif isinstance(value, dict):
            found.append(value)
    return found


# --- profile code ------------------------------------------------------------------------------------


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@PROPERTY_SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(SEEDS)), rounds=st.integers(1, 8))
def test_mutated_fhir_never_breaks_the_profile_and_is_reported(
    data: st.DataObject, name: str, rounds: int
) -> None:
    seed = SEEDS[name]
    patient_id = seed["context"]["patientId"]
    raw = [r for r in (mutate(data, r, rounds) for r in resources_of(seed)) if isinstance(r, dict)]
    # Issues are bounded per kind of problem (cds.fhir.issues): past the first few, a summary counts
    # the rest and names only EVIDENCE_PER_SUMMARY of them, so a mutated large chart (mbc-307 has 73
    # resources) legitimately leaves unreadable resources counted but unnamed. The bound is tested in
    # test_bounded_answers; here it is lifted so that every resource not read must be named.
    with mock.patch.object(bounded_issues, "EVIDENCE_PER_SUMMARY", sys.maxsize):
        resources, unread = read_chart(raw)
        selection = select_resources(resources, patient_id=patient_id, terminology=KNOWLEDGE.terminology)
        profile = build_profile(
            selection.resources,
            patient_id=patient_id,
            today=TODAY,
            terminology=KNOWLEDGE.terminology,
            thresholds=THRESHOLDS,
            issues=[*unread, *selection.issues],
        )
    # every issue found while reading and selecting reaches the profile
    for issue in [*unread, *selection.issues]:
        assert issue in profile.issues
    # nothing relevant vanishes: each resource the profile would use was either read or reported
    chosen = {f"{type(r).__resource_type__}/{r.id or '?'}" for r in selection.resources}
    reported = {e.reference for issue in profile.issues for e in issue.evidence}
    for resource in raw:
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or kind not in PROFILE_TYPES or upgrade(resource) is None:
            continue  # a type the profile does not read
        model = read_model(resource)  # None: unreadable, so it must be reported
        if kind == "Patient" or model is None or KNOWLEDGE.terminology.is_relevant(model):
            ref = reference(kind, resource.get("id"))
            assert ref in chosen or ref in reported, f"{ref} vanished"


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@PROPERTY_SETTINGS
@given(resources=st.lists(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6), max_size=6))
def test_random_json_objects_never_break_the_profile(resources: list[dict[str, Any]]) -> None:
    types = sorted(PROFILE_TYPES)
    for i, resource in enumerate(resources):
        resource.setdefault("resourceType", types[i % len(types)])
    models, unread = read_chart(resources)
    selection = select_resources(models, patient_id="p1", terminology=KNOWLEDGE.terminology)
    build_profile(
        selection.resources,
        patient_id="p1",
        today=TODAY,
        terminology=KNOWLEDGE.terminology,
        thresholds=THRESHOLDS,
        issues=[*unread, *selection.issues],
    )


def test_an_invalid_relevant_resource_is_reported_not_dropped() -> None:
    """The property above, pinned on one case: an ER observation with an impossible date."""
    seed = next(
        s for s in SEEDS.values() if any(r.get("resourceType") == "Observation" for r in resources_of(s))
    )
    patient_id = seed["context"]["patientId"]
    raw = copy.deepcopy(resources_of(seed))
    target = next(
        r
        for r in raw
        if r.get("resourceType") == "Observation"
        and (model := read_model(r)) is not None
        and KNOWLEDGE.terminology.is_relevant(model)
    )
    target["effectiveDateTime"] = "2020-13-45"
    resources, unread = read_chart(raw)
    selection = select_resources(resources, patient_id=patient_id, terminology=KNOWLEDGE.terminology)
    assert any(
        issue.kind == "unreadable" and issue.evidence[0].reference == reference("Observation", target["id"])
        for issue in [*unread, *selection.issues]
    )


# --- whole hook calls --------------------------------------------------------------------------------


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@PROPERTY_SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(SEEDS)), rounds=st.integers(1, 10))
def test_mutated_requests_get_only_200_400_or_412(data: st.DataObject, name: str, rounds: int) -> None:
    request = mutate(data, SEEDS[name], rounds)
    try:
        body = orjson.dumps(request)
    except (TypeError, orjson.JSONEncodeError):
        return  # not representable as JSON (e.g. huge integers): cannot be sent
    try:
        result = SERVICE.call(body, today=TODAY)
    except ServiceError as exc:
        assert exc.status_code in {400, 412}, (exc.status_code, exc.diagnostics)
        return
    assert isinstance(result["cards"], list)
