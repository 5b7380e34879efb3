"""Helpers of the fetch tests: sample charts, searchset Bundles, prefetch and hook requests."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cds.fhir.prefetch import prefetch_keys
from cds.settings import default_fixtures_dir, default_knowledge_dir
from cds.yaml_files import read_yaml

TOKEN = "tok-SECRET-4f1c9e-do-not-leak"  # distinctive: searched for in every error body and log


PATIENT = "pt-fetch-1"


KEYS = tuple(key.name for key in prefetch_keys(()))  # the service's prefetch keys


def _ref(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def sample_resources(pid: str = PATIENT) -> list[dict[str, Any]]:
    """A realistic metastatic HR+/HER2- patient (used until/alongside fhir_fixtures)."""
    snomed, loinc = "http://snomed.info/sct", "http://loinc.org"
    active = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
    }
    final = "final"
    return [
        {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1957-03-02"},
        {
            "resourceType": "Condition",
            "id": f"{pid}-bc",
            "clinicalStatus": active,
            "code": {
                "coding": [{"system": snomed, "code": "254837009", "display": "Malignant neoplasm of breast"}]
            },
            "subject": _ref(pid),
            "onsetDateTime": "2020-01-10",
        },
        {
            "resourceType": "Condition",
            "id": f"{pid}-met",
            "clinicalStatus": active,
            "code": {
                "coding": [
                    {"system": snomed, "code": "94222008", "display": "Secondary malignant neoplasm of bone"}
                ]
            },
            "subject": _ref(pid),
            "onsetDateTime": "2024-05-01",
        },
        {
            "resourceType": "Observation",
            "id": f"{pid}-er",
            "status": final,
            "code": {
                "coding": [
                    {"system": loinc, "code": "16112-5", "display": "Estrogen receptor [Interpretation]"}
                ]
            },
            "subject": _ref(pid),
            "effectiveDateTime": "2024-05-03",
            "valueCodeableConcept": {
                "coding": [{"system": snomed, "code": "10828004", "display": "Positive"}]
            },
        },
        {
            "resourceType": "Observation",
            "id": f"{pid}-pr",
            "status": final,
            "code": {
                "coding": [
                    {"system": loinc, "code": "16113-3", "display": "Progesterone receptor [Interpretation]"}
                ]
            },
            "subject": _ref(pid),
            "effectiveDateTime": "2024-05-03",
            "valueCodeableConcept": {
                "coding": [{"system": snomed, "code": "10828004", "display": "Positive"}]
            },
        },
        {
            "resourceType": "Observation",
            "id": f"{pid}-her2",
            "status": final,
            "code": {"coding": [{"system": loinc, "code": "48676-1", "display": "HER2 [Interpretation]"}]},
            "subject": _ref(pid),
            "effectiveDateTime": "2024-05-03",
            "valueCodeableConcept": {
                "coding": [{"system": snomed, "code": "260385009", "display": "Negative"}]
            },
        },
        {
            "resourceType": "Procedure",
            "id": f"{pid}-ooph",
            "status": "completed",
            "code": {"coding": [{"system": snomed, "code": "83152002", "display": "Oophorectomy"}]},
            "subject": _ref(pid),
            "performedDateTime": "2015-06-01",
        },
    ]


KEY_OF_TYPE = {key.resource_type: key.name for key in prefetch_keys(())}


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def _template_codes() -> frozenset[str]:
    service = read_yaml(default_knowledge_dir() / "service.yaml")
    return frozenset(service["observation_codes"])


def matches_observation_template(observation: Mapping[str, Any]) -> bool:
    """Would ``Observation?patient=..&code=<system|code list>`` return it (as a FHIR server would)?"""
    codings = (observation.get("code") or {}).get("coding") or []
    return any(f"{c.get('system')}|{c.get('code')}" in _template_codes() for c in codings)


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """What a client that honoured every template would send for these resources.

    The spec says prefetched data MUST equal what the service would get by running the template
    itself, so Observations outside the template's code list are left out, as a server would.
    """
    out: dict[str, Any] = {k: searchset([]) for k in KEYS if k != "patient"}
    for r in resources:
        if r["resourceType"] == "Medication":
            continue  # no template asks for one: the records name them, the service reads them itself
        key = KEY_OF_TYPE[r["resourceType"]]
        if key == "observations" and not matches_observation_template(r):
            continue
        if key == "patient":
            out["patient"] = r
        else:
            out[key]["entry"].append({"resource": r, "search": {"mode": "match"}})
    return out


def hook_request(
    *,
    patient: str = PATIENT,
    server: str | None = None,
    token: str | None = None,
    prefetch: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/onc-1", "patientId": patient},
    }
    if server is not None:
        body["fhirServer"] = server
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-mbc",
        }
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


def fixture_requests() -> list[tuple[str, dict[str, Any]]]:
    """fhir_fixtures/*/request.json whose prefetch is complete (every key present, none an
    OperationOutcome, none holding one as a search entry: a server's notice is not data a FHIR server
    stores): the ones where prefetch and fetch must give the same cards. Bad-input fixtures (malformed
    JSON, wrong hook, no patient) are not about fetching and are left out."""
    out = []
    for path in sorted(Path(default_fixtures_dir()).glob("*/request.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        prefetch = data.get("prefetch") if isinstance(data, dict) else None
        patient = (data.get("context") or {}).get("patientId") if isinstance(data, dict) else None
        if (
            data.get("hook") != "patient-view"
            or not isinstance(patient, str)
            or not isinstance(prefetch, dict)
        ):
            continue
        if any(k not in prefetch for k in KEYS):
            continue
        if any(r.get("resourceType") == "OperationOutcome" for r in _prefetched(prefetch)):
            continue
        out.append((path.parent.name, data))
    return out


def _prefetched(prefetch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each prefetch value, and each entry's resource of a Bundle value."""
    out: list[dict[str, Any]] = []
    for value in prefetch.values():
        if isinstance(value, dict):
            out.append(value)
            entries = value.get("entry") if value.get("resourceType") == "Bundle" else None
            out += [e["resource"] for e in entries or () if isinstance(e, dict) and "resource" in e]
    return out


def resources_of(prefetch: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in prefetch.values():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            out.extend(copy.deepcopy(e["resource"]) for e in value.get("entry") or () if "resource" in e)
        elif value.get("resourceType") != "OperationOutcome":
            out.append(copy.deepcopy(value))
    return out


def _cases() -> list[tuple[str, str, list[dict[str, Any]]]]:
    cases = [("sample", PATIENT, sample_resources())]
    for name, request in fixture_requests():
        cases.append((name, request["context"]["patientId"], resources_of(request["prefetch"])))
    return cases


CASES_FOR_FETCH = _cases()  # (name, patient id, resources): the patients fetched and compared


def card_keys(response_json: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """What must be identical between prefetch and fetch: rule id, summary, indicator (not uuids)."""
    return sorted(
        (c["source"]["topic"]["code"], c["summary"], c["indicator"]) for c in response_json["cards"]
    )


AppFactory = Callable[..., AbstractContextManager[TestClient]]


def call(client: TestClient, body: Mapping[str, Any]) -> Any:
    service_id = client.get("/cds-services").json()["services"][0]["id"]
    return client.post(f"/cds-services/{service_id}", json=body)
