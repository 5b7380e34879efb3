"""The usual request decoded straight into read models (cds.fhir.wire) answers exactly as parsed JSON does.

The service takes the wire path for plain requests and parsed JSON for the rest; a clinician must get
the same cards, with the same reasons and data-quality notes, either way.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from bench.generate import iter_requests, strip_private
from cds.fhir import wire
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings
from tests.fhir.test_split import outcome
from tests.fixtures_support import load_scenarios

TODAY = date(2026, 6, 1)
SETTINGS = Settings(auth="off")
KNOWLEDGE = load_knowledge(SETTINGS.knowledge_dir)
SCENARIOS = [s for s in load_scenarios() if s.status == 200]
CHARTS = [(s.name, s.body) for s in SCENARIOS] + [
    (f"generated-{i}", orjson.dumps(strip_private(r))) for i, r in enumerate(iter_requests(60, seed=11))
]


def _service() -> PatientViewService:
    return PatientViewService(SETTINGS, KNOWLEDGE, fetcher=None)  # type: ignore[arg-type]  # nothing is fetched


def _answer(body: bytes) -> Any:
    return outcome(_service(), body)


@pytest.mark.parametrize(("name", "body"), CHARTS, ids=[name for name, _ in CHARTS])
def test_the_wire_path_gives_the_cards_parsed_json_gives(
    name: str, body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = wire.decode_request(body)
    via_wire = _answer(body)
    monkeypatch.setattr("cds.service.decode_request", lambda _body: None)  # parse with orjson
    assert via_wire == _answer(body)
    if not name.startswith("generated"):
        return
    assert decoded is not None  # the generated charts are plain: the wire path really ran


def test_generated_charts_are_mostly_plain_enough_for_the_wire_path() -> None:
    """The benchmark's charts, coded the many ways EHRs code them, take the fast path."""
    assert all(wire.decode_request(body) is not None for name, body in CHARTS if name.startswith("generated"))


def _chart_with(resource: dict[str, Any]) -> bytes:
    request = strip_private(next(iter(iter_requests(1, seed=3))))
    request["prefetch"]["observations"]["entry"].append({"resource": resource})
    return orjson.dumps(request)


@pytest.mark.parametrize(
    "odd",
    [
        {"resourceType": "Encounter", "id": "e1", "status": "finished"},  # a type the profile never reads
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": "8302-2",
        },  # code not an object
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"text": "ER"},
            "valueBoolean": "yes",
        },
        {"resourceType": "Observation", "id": "o3", "code": {"text": "Body height"}},  # no status
    ],
    ids=["unknown type", "code is a string", "wrong value type", "missing status"],
)
def test_a_chart_the_wire_path_refuses_is_answered_from_parsed_json(odd: dict[str, Any]) -> None:
    body = _chart_with(odd)
    assert wire.decode_request(body) is None
    answer = _service().call(body, today=TODAY)
    assert answer["cards"]  # the rest of the chart still informs the answer


def test_another_patients_observations_are_reported_and_not_used_either_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Observations, most of a chart, are pre-filtered by a shortcut for read models that remembers
    the subject reference last found to name the patient: a stranger's results between the patient's
    own, relevant (a receptor result) or not (a vital sign), are still told apart, both ways."""
    request = strip_private(next(iter(iter_requests(1, seed=5))))
    patient_id = request["context"]["patientId"]
    entries = request["prefetch"]["observations"]["entry"]
    receptor = next(e["resource"] for e in entries if "Estrogen" in orjson.dumps(e["resource"]).decode())
    filler = next(e["resource"] for e in entries if "Body height" in orjson.dumps(e["resource"]).decode())
    strangers = [
        dict(receptor, id="stranger-er", subject={"reference": "Patient/someone-else"}),
        dict(filler, id="stranger-height", subject={"reference": f"Patient/{patient_id}-twin"}),
    ]
    own_by_url = dict(
        filler, id="own-by-url", subject={"reference": f"https://ehr.example/fhir/Patient/{patient_id}"}
    )
    request["prefetch"]["observations"]["entry"] = (
        entries[:3]
        + [{"resource": strangers[0]}]
        + entries[3:]
        + [{"resource": r} for r in (strangers[1], own_by_url)]
    )
    body = orjson.dumps(request)
    assert wire.decode_request(body) is not None  # read models: the shortcut runs
    via_wire = _answer(body)
    details = " ".join(card.get("detail", "") for card in via_wire)
    assert "Observation/stranger-er belongs to a different patient" in details
    assert "Observation/stranger-height belongs to a different patient" in details
    assert "own-by-url" not in details
    monkeypatch.setattr("cds.service.decode_request", lambda _body: None)  # parse with orjson
    assert via_wire == _answer(body)
