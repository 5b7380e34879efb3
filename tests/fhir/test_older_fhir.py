"""Resources in an older FHIR shape (DSTU2, STU3), as the CDS Hooks Sandbox's default servers still
serve them: read where their meaning is unambiguous, named as not FHIR R4 otherwise, never dropped
without a word."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import orjson
import pytest

from cds.fhir.client import NoFetcher
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings
from tests.fixtures_support import load_scenarios

TODAY = date(2026, 11, 21)
SETTINGS = Settings(auth="off")
SERVICE = PatientViewService(SETTINGS, load_knowledge(SETTINGS.knowledge_dir), NoFetcher())
SCENARIO = next(s for s in load_scenarios() if s.name == "hr-pos-her2-neg-second-line-after-ai-cdk46")


def entries(request: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in request["prefetch"][key]["entry"]]


def dstu2_condition(condition: dict[str, Any]) -> dict[str, Any]:
    """A Condition as DSTU2 wrote it: ``patient``, status codes as strings, ``dateRecorded``."""
    old = {k: v for k, v in condition.items() if k not in ("subject", "recordedDate")}
    old["patient"] = condition["subject"]
    for name in ("clinicalStatus", "verificationStatus"):
        if name in condition:
            old[name] = condition[name]["coding"][0]["code"]
    if "recordedDate" in condition:
        old["dateRecorded"] = condition["recordedDate"]
    return old


def dstu2_order(request: dict[str, Any]) -> dict[str, Any]:
    """A MedicationRequest as the DSTU2 MedicationOrder it was: no intent, ``dateWritten``, ``patient``."""
    old = {k: v for k, v in request.items() if k not in ("subject", "authoredOn", "intent")}
    old["resourceType"] = "MedicationOrder"
    old["patient"] = request["subject"]
    if "authoredOn" in request:
        old["dateWritten"] = request["authoredOn"]
    return old


def cards_of(request: dict[str, Any]) -> list[str]:
    answer = SERVICE.call(orjson.dumps(request), today=TODAY)
    return sorted(card["summary"] for card in answer["cards"])


def test_the_fixture_is_metastatic_with_cards() -> None:
    request = SCENARIO.request
    assert request is not None
    assert cards_of(request), "the R4 chart gets cards"


def test_a_dstu2_chart_gets_the_cards_of_its_r4_twin() -> None:
    """Today's bug: DSTU2 Conditions were dropped silently and a metastatic patient got no cards."""
    request = SCENARIO.request
    assert request is not None
    old = copy.deepcopy(request)
    old["prefetch"]["conditions"]["entry"] = [
        {"resource": dstu2_condition(c)} for c in entries(request, "conditions")
    ]
    old["prefetch"]["medicationRequests"]["entry"] = [
        {"resource": dstu2_order(m)} for m in entries(request, "medicationRequests")
    ]
    assert all("patient" in c and isinstance(c["clinicalStatus"], str) for c in entries(old, "conditions"))
    assert cards_of(old) == cards_of(request)


def test_a_dstu2_metastasis_makes_the_patient_metastatic() -> None:
    request = SCENARIO.request
    assert request is not None
    old = copy.deepcopy(request)
    old["prefetch"]["conditions"]["entry"] = [
        {"resource": dstu2_condition(c)} for c in entries(request, "conditions")
    ]
    pending = SERVICE.prepare(orjson.dumps(old))
    profile = SERVICE.profile(pending.keyed, pending.context.patientId, TODAY)
    assert profile.metastatic.value == "yes"
    assert not [i for i in profile.issues if i.kind == "unreadable"]


@pytest.mark.parametrize(
    ("resource", "named"),
    [
        (  # DSTU2 Condition whose code is a bare string: no R4 reading of it is safe
            {
                "resourceType": "Condition",
                "id": "old-met",
                "patient": {"reference": "Patient/p1"},
                "code": "C79.51",
                "clinicalStatus": "active",
            },
            "Condition/old-met",
        ),
        (  # DSTU2 MedicationOrder with a dosage in DSTU2's shape
            {
                "resourceType": "MedicationOrder",
                "id": "old-order",
                "patient": {"reference": "Patient/p1"},
                "status": "active",
                "medicationCodeableConcept": {"text": "letrozole 2.5 mg"},
                "dosageInstruction": {"text": "daily"},
            },
            "MedicationOrder/old-order",
        ),
    ],
)
def test_what_cannot_be_read_as_r4_is_named_as_not_r4(resource: dict[str, Any], named: str) -> None:
    request = SCENARIO.request
    assert request is not None
    key = "conditions" if resource["resourceType"] == "Condition" else "medicationRequests"
    request = copy.deepcopy(request)
    request["prefetch"][key]["entry"].append({"resource": resource})
    pending = SERVICE.prepare(orjson.dumps(request))
    issues = [i for data in pending.keyed.values() for i in data.issues.list()]
    found = [i for i in issues if named in i.message]
    assert found and found[0].kind == "unreadable" and found[0].topic == "data"
    assert "not FHIR R4" in found[0].message
