"""A large request is parsed a resource at a time (cds.fhir.split): the same answers, less memory.

Each test compares the service that splits every body (threshold 0) with the one that parses every
body whole: a request must get the same cards, or the same error, whichever way it was parsed.
"""

from __future__ import annotations

import tracemalloc
from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.errors import ServiceError
from cds.fhir.client import NoFetcher
from cds.fhir.prefetch import read_prefetch
from cds.fhir.split import SPLIT_ABOVE_BYTES
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings, default_fixtures_dir
from tests.fixtures_support import load_scenarios
from tests.mutation import SEEDS, mutate

TODAY = date(2026, 11, 22)
SETTINGS = Settings(auth="off")
KNOWLEDGE = load_knowledge(SETTINGS.knowledge_dir)
WHOLE = PatientViewService(SETTINGS, KNOWLEDGE, NoFetcher(), split_above_bytes=2**62)
SPLIT = PatientViewService(SETTINGS, KNOWLEDGE, NoFetcher(), split_above_bytes=0)


@pytest.fixture(autouse=True)
def _no_wire_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain requests are decoded into read models at any size (cds.fhir.wire); these tests hold the
    split path and the whole-body parse to the same answers, so both services skip it."""
    monkeypatch.setattr("cds.service.decode_request", lambda _body: None)


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def outcome(service: PatientViewService, body: bytes) -> Any:
    """The cards (their random uuids left out), or the error's status, text and location."""
    try:
        cards = service.call(body, today=TODAY)["cards"]
    except ServiceError as exc:
        return ("error", exc.status_code, exc.diagnostics, exc.expression)
    return _without_uuids(cards)


def same_either_way(body: bytes) -> Any:
    whole = outcome(WHOLE, body)
    assert outcome(SPLIT, body) == whole
    return whole


@pytest.mark.parametrize("scenario", load_scenarios(), ids=str)
def test_every_fixture_gets_the_same_answer_split(scenario: Any) -> None:
    same_either_way(scenario.body)


BASE = orjson.loads(
    (default_fixtures_dir() / "hr-pos-her2-neg-postmenopausal-first-line" / "request.json").read_bytes()
)


def _request(**changes: Any) -> dict[str, Any]:
    request = orjson.loads(orjson.dumps(BASE))
    request.update(changes)
    return request


def _bundle(entries: Any, **members: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries, **members}


ER_POSITIVE = {
    "resourceType": "Observation",
    "id": "er",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "16112-5"}]},
    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]},
    "effectiveDateTime": "2024-01-01",
}

ODD_SHAPES = {
    "prefetch null": _request(prefetch=None),
    "prefetch not an object": _request(prefetch=[1, 2]),
    "a prefetch value that is a list": _request(prefetch={**BASE["prefetch"], "conditions": [1]}),
    "a prefetch value that is a string": _request(prefetch={**BASE["prefetch"], "conditions": "x"}),
    "a null prefetch value": _request(prefetch={**BASE["prefetch"], "procedures": None}),
    "entry not a list": _request(prefetch={**BASE["prefetch"], "conditions": _bundle({"a": 1})}),
    "entry null": _request(prefetch={**BASE["prefetch"], "conditions": _bundle(None)}),
    "an entry that is not an object": _request(
        prefetch={**BASE["prefetch"], "observations": _bundle([7, {"resource": ER_POSITIVE}])}
    ),
    "an entry with no resource": _request(
        prefetch={**BASE["prefetch"], "observations": _bundle([{}, {"resource": ER_POSITIVE}])}
    ),
    "a resource that is a string": _request(
        prefetch={**BASE["prefetch"], "observations": _bundle([{"resource": "Observation/er"}])}
    ),
    "an outcome entry by search mode": _request(
        prefetch={
            **BASE["prefetch"],
            "observations": _bundle(
                [
                    {"resource": ER_POSITIVE, "search": {"mode": "outcome"}},
                    {"resource": ER_POSITIVE, "search": "match"},
                    {"resource": {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "slow"}]}},
                ]
            ),
        }
    ),
    "a next link": _request(
        prefetch={
            **BASE["prefetch"],
            "observations": _bundle(
                [{"resource": ER_POSITIVE}], link=[{"relation": "next", "url": "https://ehr/p2"}]
            ),
        }
    ),
    "an OperationOutcome for a key": _request(
        prefetch={**BASE["prefetch"], "conditions": {"resourceType": "OperationOutcome", "issue": []}}
    ),
    "an unknown top-level member": _request(vendorThing={"a": [1, 2]}),
    "a member of the wrong type": _request(hookInstance=12),
    "deep nesting outside the prefetch": _request(extension={"a": [[[[[[[[[[[[1]]]]]]]]]]]]}),
}


@pytest.mark.parametrize("request_data", ODD_SHAPES.values(), ids=ODD_SHAPES.keys())
def test_odd_shapes_get_the_same_answer_split(request_data: dict[str, Any]) -> None:
    same_either_way(orjson.dumps(request_data))


BODY = orjson.dumps(BASE)
BYTES = {
    "not JSON": b"{not json",
    "trailing content": BODY + b"x",
    "a byte order mark": b"\xef\xbb\xbf" + BODY,
    "invalid UTF-8 in a resource": BODY.replace(b'"final"', b'"fin\xffal"', 1),
    "a lone surrogate in a resource": BODY.replace(b'"final"', b'"\\ud800"', 1),
    "a number too large for a double": BODY.replace(b'"final"', b"1e400", 1),
    "whitespace everywhere": orjson.dumps(BASE, option=orjson.OPT_INDENT_2),
    "an integer beyond 64 bits": BODY[:-1]
    + b',"fhirAuthorization":{"expires_in":123456789012345678901234567890}}',
    "Bundle spelled with an escape": BODY.replace(b'"Bundle"', b'"\\u0042undle"'),
    "a duplicated member (the last one holds)": BODY[:-1] + b',"hook":"order-select"}',
    "a JSON array": b"[" + BODY + b"]",
}


@pytest.mark.parametrize("body", BYTES.values(), ids=BYTES.keys())
def test_odd_bytes_get_the_same_answer_split(body: bytes) -> None:
    same_either_way(body)


def test_invalid_json_inside_a_resource_is_a_400_either_way() -> None:
    assert same_either_way(BYTES["a lone surrogate in a resource"])[:2] == ("error", 400)


@pytest.mark.skipif(not SEEDS, reason="no fixtures")
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data(), seed=st.sampled_from(SEEDS), rounds=st.integers(1, 8))
def test_mutated_requests_get_the_same_answer_split(data: st.DataObject, seed: Any, rounds: int) -> None:
    try:
        body = orjson.dumps(mutate(data, seed, rounds))
    except (TypeError, orjson.JSONEncodeError):
        return  # not representable as JSON: cannot be sent
    same_either_way(body)


def _large_request(observations: int) -> bytes:
    """The first fixture with ``observations`` more vital-sign Observations (which the service drops)."""
    request = _request()
    vitals = [
        {
            "resource": {
                "resourceType": "Observation",
                "id": f"v{i}",
                "status": "final",
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
                },
                "subject": {"reference": f"Patient/{request['context']['patientId']}"},
                "effectiveDateTime": "2025-01-01",
                "valueQuantity": {"value": 70 + i % 30, "unit": "/min"},
            }
        }
        for i in range(observations)
    ]
    bundle = request["prefetch"]["observations"]
    bundle["entry"] = [*(bundle.get("entry") or []), *vitals]
    return orjson.dumps(request)


def test_only_a_request_above_the_threshold_is_split() -> None:
    service = PatientViewService(SETTINGS, KNOWLEDGE, NoFetcher())
    small = _large_request(10)
    large = _large_request(SPLIT_ABOVE_BYTES // 250)
    assert len(small) < SPLIT_ABOVE_BYTES < len(large)
    for body, split in ((small, False), (large, True)):
        request, _ = service.parse_request(body)
        keyed = read_prefetch(request.prefetch, service.keys)
        assert bool(keyed["observations"].unparsed) is split
        assert (not keyed["observations"].resources) is split


def test_a_split_chart_is_never_all_in_memory_at_once() -> None:
    body = _large_request(5_000)
    peaks = {}
    for name, service in (("whole", WHOLE), ("split", SPLIT)):
        tracemalloc.start()
        cards = service.call(body, today=TODAY)["cards"]
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert cards
    # whole: every resource parsed at once (~10 MB here); split: one resource at a time
    assert peaks["split"] < peaks["whole"] / 4, peaks
