"""The cyclic garbage collector is paused while a parsed chart is alive, and always resumed.

A large chart is hundreds of thousands of acyclic objects; were the collector to run while they are
alive, it would trace them all for nothing (cds.service.collector_paused). A collector left paused
would be worse: cyclic garbage would pile up for the life of the worker.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds.api.routes import _answer_from_prefetch
from cds.service import PendingCall, collector_paused
from tests.fixtures_support import SERVICE_PATH, bundle, hook_request, load_scenarios


def vitals(n: int, patient_id: str = "p1") -> list[dict[str, Any]]:
    """Blood pressure readings: the bulk of a real chart, none of it read by the pathway."""
    return [
        {
            "resourceType": "Observation",
            "id": f"bp-{i}",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "Blood pressure"},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "component": [
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "valueQuantity": {"value": 120 + i % 20, "unit": "mm[Hg]"},
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                    "valueQuantity": {"value": 70 + i % 15, "unit": "mm[Hg]"},
                },
            ],
        }
        for i in range(n)
    ]


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """For every collection that starts while the test runs, how many objects it is to trace."""
    started: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(sum(len(gc.get_objects(g)) for g in range(info["generation"] + 1)))

    gc.callbacks.append(record)
    try:
        yield started
    finally:
        gc.callbacks.remove(record)


def test_a_large_chart_is_answered_without_tracing_it(client: TestClient, collections: list[int]) -> None:
    body = orjson.dumps(
        hook_request(prefetch={**hook_request()["prefetch"], "observations": bundle(*vitals(3000))})
    )
    service = client.app.state.service  # type: ignore[attr-defined]
    gc.collect()
    collections.clear()
    answer = _answer_from_prefetch(service, body)
    assert not isinstance(answer, PendingCall)
    assert answer == {"cards": []}  # vitals only, no breast cancer: nothing to suggest
    # The parsed chart is ~40,000 objects: no collection may trace it (the answer is a handful).
    assert all(traced < 20_000 for traced in collections), collections
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (orjson.dumps(hook_request()), 200),
        (b'{"hook": "patient-view", "prefetch": ', 400),  # malformed JSON
        (orjson.dumps(hook_request(prefetch={"patient": [1, 2]})), 400),  # not a resource
        (orjson.dumps(hook_request(prefetch={})), 412),  # nothing prefetched, no fhirServer
    ],
)
def test_every_outcome_leaves_the_collector_running(client: TestClient, body: bytes, status: int) -> None:
    response = client.post(SERVICE_PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert gc.isenabled()


def test_pauses_nest_and_only_the_outermost_resumes() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled(), "an inner pause must not resume a collection the outer one paused"
    assert gc.isenabled()


def test_an_error_inside_a_pause_still_resumes_the_collector() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_call_leaves_no_garbage_for_the_collector(client: TestClient) -> None:
    """Refcounting alone frees what a call made: garbage in reference cycles (a compiled closure that
    holds itself, say) would wait for the collector, which then traces and frees it on a later call.
    """
    service = client.app.state.service  # type: ignore[attr-defined]
    bodies = [s.body for s in load_scenarios() if s.status == 200]
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what a collection finds, to name it
    try:
        with collector_paused():
            answered = sum(not isinstance(_answer_from_prefetch(service, b), PendingCall) for b in bodies)
        gc.collect()
        garbage = sorted({type(o).__qualname__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert answered >= len(bodies) // 2  # the rest stop before the profile, to fetch what the prefetch lacks
    assert garbage == [], f"{answered} calls left cyclic garbage: {garbage}"
