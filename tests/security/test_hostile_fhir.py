"""Property-based tests: random and mutated FHIR through the profile code and whole hook calls.

Seeds are the realistic requests in fhir_fixtures/ (ER/PR/HER2 observations, conditions, medications,
procedures); hypothesis mutates values, codes, dates and types, deletes and duplicates. The profile
code must never raise, and what it could not read must show up as an issue instead of vanishing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.errors import ServiceError
from cds.fhir.client import NoFetcher
from cds.fhir.select import PROFILE_TYPES, reference_of, select_resources
from cds.pathway.knowledge import load_knowledge
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.service import PatientViewService
from cds.settings import Settings, default_fixtures_dir

TODAY = date(2026, 11, 21)
SETTINGS = Settings(auth="off")
KNOWLEDGE = load_knowledge(SETTINGS.knowledge_dir)
SERVICE = PatientViewService(SETTINGS, KNOWLEDGE, NoFetcher())
THRESHOLDS = MenopauseThresholds(fsh_min_iu_l=30.0, estradiol_max_pg_ml=20.0, age_years=60)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


def _seed_requests() -> list[dict[str, Any]]:
    seeds = []
    for path in sorted(Path(default_fixtures_dir()).glob("*/request.json")):
        try:
            request = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue  # the malformed-JSON fixture
        context = request.get("context") if isinstance(request, dict) else None
        if (
            isinstance(context, dict)
            and context.get("patientId")
            and isinstance(request.get("prefetch"), dict)
        ):
            seeds.append(request)
    return seeds


SEEDS = _seed_requests()


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


# --- mutation strategies ---------------------------------------------------------------------------

WEIRD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "2020-13-45",
        "2020-02-30",
        "0000-00-00",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00+09:13",
        "1960",
        "1960-07",
        "not a date",
        "http://loinc.org",
        "16112-5",
        "85319-2",
        "48676-1",
        "LA6576-8",
        "positive",
        "Negative",
        "3+",
        "< 1.8",
        "> 2.2",
        "NaN",
        "-1",
        "1e309",
        "\u0000",
        "\ud7ff",
        "a" * 5000,
        "Patient/other",
        "Patient/",
        "#contained",
    ]
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    WEIRD_STRINGS,
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _mutate(data: st.DataObject, target: Any, rounds: int) -> Any:
    target = copy.deepcopy(target)
    for _ in range(rounds):
        paths = [p for p in _paths(target) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = target
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = data.draw(st.sampled_from(["replace", "replace", "weird", "delete", "wrap", "unwrap"]))
        if action == "replace":
            parent[last] = data.draw(JSON_VALUES)
        elif action == "weird":
            parent[last] = data.draw(WEIRD_STRINGS)
        elif action == "delete":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif action == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent[last], list) and parent[last]:
            parent[last] = parent[last][0]
    return target


# --- profile code ------------------------------------------------------------------------------------


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@PROPERTY_SETTINGS
@given(data=st.data(), seed=st.sampled_from(SEEDS), rounds=st.integers(1, 8))
def test_mutated_fhir_never_breaks_the_profile_and_is_reported(
    data: st.DataObject, seed: dict[str, Any], rounds: int
) -> None:
    patient_id = seed["context"]["patientId"]
    raw = [r for r in (_mutate(data, r, rounds) for r in resources_of(seed)) if isinstance(r, dict)]
    selection = select_resources(raw, patient_id=patient_id, terminology=KNOWLEDGE.terminology)
    profile = build_profile(
        selection.resources,
        patient_id=patient_id,
        today=TODAY,
        terminology=KNOWLEDGE.terminology,
        thresholds=THRESHOLDS,
        issues=selection.issues,
    )
    # every issue found while selecting reaches the profile
    for issue in selection.issues:
        assert issue in profile.issues
    # nothing relevant vanishes: each resource the profile would use was either read or reported
    chosen = {f"{type(r).__resource_type__}/{r.id or '?'}" for r in selection.resources}
    reported = {e.reference for issue in profile.issues for e in issue.evidence}
    for resource in raw:
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or kind not in PROFILE_TYPES:
            continue
        try:
            relevant = resource.get("resourceType") == "Patient" or KNOWLEDGE.terminology.is_relevant(
                resource
            )
        except Exception:
            relevant = True
        if relevant:
            ref = reference_of(resource)
            assert ref in chosen or ref in reported, f"{ref} vanished"


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@PROPERTY_SETTINGS
@given(resources=st.lists(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6), max_size=6))
def test_random_json_objects_never_break_the_profile(resources: list[dict[str, Any]]) -> None:
    types = sorted(PROFILE_TYPES)
    for i, resource in enumerate(resources):
        resource.setdefault("resourceType", types[i % len(types)])
    selection = select_resources(resources, patient_id="p1", terminology=KNOWLEDGE.terminology)
    build_profile(
        selection.resources,
        patient_id="p1",
        today=TODAY,
        terminology=KNOWLEDGE.terminology,
        thresholds=THRESHOLDS,
        issues=selection.issues,
    )


def test_an_invalid_relevant_resource_is_reported_not_dropped() -> None:
    """The property above, pinned on one case: an ER observation with an impossible date."""
    seed = next(s for s in SEEDS if any(r.get("resourceType") == "Observation" for r in resources_of(s)))
    patient_id = seed["context"]["patientId"]
    raw = copy.deepcopy(resources_of(seed))
    target = next(
        r for r in raw if r.get("resourceType") == "Observation" and KNOWLEDGE.terminology.is_relevant(r)
    )
    target["effectiveDateTime"] = "2020-13-45"
    selection = select_resources(raw, patient_id=patient_id, terminology=KNOWLEDGE.terminology)
    assert any(
        issue.kind == "unreadable" and issue.evidence[0].reference == reference_of(target)
        for issue in selection.issues
    )


# --- whole hook calls --------------------------------------------------------------------------------


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@PROPERTY_SETTINGS
@given(data=st.data(), seed=st.sampled_from(SEEDS), rounds=st.integers(1, 10))
def test_mutated_requests_get_only_200_400_or_412(
    data: st.DataObject, seed: dict[str, Any], rounds: int
) -> None:
    request = _mutate(data, seed, rounds)
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
