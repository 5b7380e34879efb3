"""The CDS Hooks 2.0.1 MUSTs and SHALLs for discovery, calls and errors (cds-hooks.md 1.1-1.6, 1.9)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures_support import SERVICE_PATH, hook_request
from tests.spec_checks import assert_no_empty_values


def assert_operation_outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and all(i["severity"] in {"error", "fatal"} for i in body["issue"])
    assert all(i.get("diagnostics") for i in body["issue"])
    return body


# --- discovery ---------------------------------------------------------------------------------


def test_discovery_lists_the_patient_view_service(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    assert_no_empty_values(body)
    [service] = body["services"]
    assert service["hook"] == "patient-view"
    assert service["id"] == "mbc-treatment-options"
    assert service["title"] and service["description"] and service["usageRequirements"]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    for key in (
        "conditions",
        "observations",
        "medicationRequests",
        "medicationStatements",
        "medicationAdministrations",
    ):
        assert key in prefetch


def test_prefetch_templates_keep_the_spec_query_restrictions(client: TestClient) -> None:
    """Only context tokens, reference params and token equality (system|code, comma = OR)."""
    prefetch = client.get("/cds-services").json()["services"][0]["prefetch"]
    for template in prefetch.values():
        tokens = [t.strip() for t in template.split("{{")[1:]]
        assert all(t.startswith("context.") for t in tokens)
        if "?" in template:
            for param in template.split("?", 1)[1].split("&"):
                name, value = param.split("=", 1)
                assert name in {"patient", "code"}
                if name == "code":
                    assert all("|" in v for v in value.split(","))
    assert "code=http://loinc.org|85337-4" in prefetch["observations"].replace(",", "&code=")


# --- request checking: 400 with an OperationOutcome ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_bodies_get_400(client: TestClient, body: bytes, where: str) -> None:
    response = client.post(SERVICE_PATH, content=body, headers={"Content-Type": "application/json"})
    outcome = assert_operation_outcome(response, 400)
    assert where in outcome["issue"][0]["diagnostics"]


def _without(request: dict[str, Any], *path: str) -> dict[str, Any]:
    target = request
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return request


@pytest.mark.parametrize(
    ("mutate", "expression"),
    [
        (lambda r: _without(r, "hook"), "hook"),
        (lambda r: _without(r, "hookInstance"), "hookInstance"),
        (lambda r: _without(r, "context"), "context"),
        (lambda r: _without(r, "context", "patientId"), "context.patientId"),
        (lambda r: _without(r, "context", "userId"), "context.userId"),
        (lambda r: {**r, "hookInstance": "not-a-uuid"}, "hookInstance"),
        (lambda r: {**r, "hookInstance": 12}, "hookInstance"),
        (lambda r: {**r, "context": {"userId": "dr-1", "patientId": "p1"}}, "context.userId"),
        (lambda r: {**r, "context": {"userId": "Device/x", "patientId": "p1"}}, "context.userId"),
        (lambda r: {**r, "context": {"userId": "Practitioner/dr-1", "patientId": 7}}, "context.patientId"),
        (lambda r: {**r, "context": "p1"}, "context"),
        (lambda r: {**r, "prefetch": []}, "prefetch"),
        (lambda r: {**r, "fhirServer": "ftp://x"}, "fhirServer"),
        (
            lambda r: {
                **r,
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "patient/*.read",
                    "subject": "cds",
                },
            },
            "fhirAuthorization",
        ),
    ],
)
def test_missing_or_wrong_fields_get_400_naming_the_field(
    client: TestClient, mutate: Any, expression: str
) -> None:
    response = client.post(SERVICE_PATH, json=mutate(hook_request()))
    outcome = assert_operation_outcome(response, 400)
    issue = outcome["issue"][0]
    assert expression in issue["diagnostics"] or expression in issue.get("expression", [""])[0]


def test_a_hook_other_than_patient_view_gets_400(client: TestClient) -> None:
    response = client.post(SERVICE_PATH, json=hook_request(hook="order-sign"))
    outcome = assert_operation_outcome(response, 400)
    assert "patient-view" in outcome["issue"][0]["diagnostics"]


def test_a_prefetch_value_that_is_not_a_resource_gets_400(client: TestClient) -> None:
    request = hook_request()
    request["prefetch"]["conditions"] = "Condition?patient=p1"
    outcome = assert_operation_outcome(client.post(SERVICE_PATH, json=request), 400)
    assert "prefetch.conditions" in outcome["issue"][0]["diagnostics"]


def test_unknown_service_gets_404(client: TestClient) -> None:
    assert_operation_outcome(client.post("/cds-services/nope", json=hook_request()), 404)
    assert_operation_outcome(client.post("/cds-services/nope/feedback", json={"feedback": []}), 404)
    assert_operation_outcome(client.get("/no-such-path"), 404)


def test_wrong_method_is_an_operation_outcome_too(client: TestClient) -> None:
    assert_operation_outcome(client.get(SERVICE_PATH), 405)


# --- prefetch decision table ---------------------------------------------------------------------


def test_null_prefetch_means_no_data_and_is_answered(client: TestClient) -> None:
    request = hook_request()
    request["prefetch"] = dict.fromkeys(request["prefetch"])
    request["prefetch"]["patient"] = {"resourceType": "Patient", "id": "p1"}
    response = client.post(SERVICE_PATH, json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}  # a patient with no breast cancer gets no cards


@pytest.mark.parametrize("key", ["patient", "conditions", "observations"])
def test_missing_required_key_without_fhir_server_is_412_naming_the_key(client: TestClient, key: str) -> None:
    request = hook_request()
    del request["prefetch"][key]
    outcome = assert_operation_outcome(client.post(SERVICE_PATH, json=request), 412)
    assert f"'{key}'" in outcome["issue"][0]["diagnostics"]


def test_operation_outcome_in_a_required_key_counts_as_missing(client: TestClient) -> None:
    request = hook_request()
    request["prefetch"]["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "upstream timed out"}],
    }
    outcome = assert_operation_outcome(client.post(SERVICE_PATH, json=request), 412)
    assert "'observations'" in outcome["issue"][0]["diagnostics"]


def test_an_operation_outcome_of_any_shape_is_reported_not_a_500(client: TestClient) -> None:
    """A client's failed prefetch as an odd OperationOutcome (``details`` a string, not a CodeableConcept;
    an issue that is not an object) is still read: the call is answered, the outcome's words kept."""
    request = hook_request()
    request["prefetch"]["procedures"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "details": "upstream failed"}, "garbled"],
    }
    response = client.post(SERVICE_PATH, json=request)
    assert response.status_code == 200, response.text
    assert "processing" in response.text  # the issue's code, as the server's word for the problem


def test_no_prefetch_at_all_and_no_fhir_server_is_412(client: TestClient) -> None:
    request = hook_request()
    del request["prefetch"]
    outcome = assert_operation_outcome(client.post(SERVICE_PATH, json=request), 412)
    assert "'patient'" in outcome["issue"][0]["diagnostics"]


# --- CORS (1.9) ------------------------------------------------------------------------------------

ORIGIN = {"Origin": "https://sandbox.cds-hooks.org"}


@pytest.mark.parametrize(
    ("path", "request_headers"),
    [
        ("/cds-services", "authorization"),
        (SERVICE_PATH, "authorization,content-type"),
        (f"{SERVICE_PATH}/feedback", "authorization,content-type"),
    ],
)
def test_preflight_as_the_sandbox_sends_it(client: TestClient, path: str, request_headers: str) -> None:
    response = client.options(
        path,
        headers={
            **ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": request_headers,
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in {"*", ORIGIN["Origin"]}
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]


def test_cors_headers_on_success_errors_and_feedback(client: TestClient) -> None:
    responses = [
        client.get("/cds-services", headers=ORIGIN),
        client.post(SERVICE_PATH, json=hook_request(), headers=ORIGIN),
        client.post(SERVICE_PATH, content=b"{bad", headers={**ORIGIN, "Content-Type": "application/json"}),
        client.post("/cds-services/unknown", json=hook_request(), headers=ORIGIN),
        client.post(SERVICE_PATH, json=_without(hook_request(), "prefetch"), headers=ORIGIN),
        client.post(f"{SERVICE_PATH}/feedback", json={"feedback": "x"}, headers=ORIGIN),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 404, 412, 400]
    for response in responses:
        assert response.headers.get("access-control-allow-origin") in {"*", ORIGIN["Origin"]}


# --- response JSON rules ----------------------------------------------------------------------------


def test_empty_guidance_is_exactly_cards_empty_list(client: TestClient) -> None:
    response = client.post(SERVICE_PATH, json=hook_request())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"cards": []}


def test_body_over_the_limit_is_413(client_factory: Any) -> None:
    client = client_factory(max_body_bytes=4096)
    request = hook_request()
    request["prefetch"]["patient"]["text"] = {"status": "generated", "div": "x" * 5000}
    assert_operation_outcome(client.post(SERVICE_PATH, json=request), 413)


def test_json_nested_too_deep_is_400(client: TestClient) -> None:
    request = hook_request()
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    request["extension"] = {"org.example.deep": deep}
    outcome = assert_operation_outcome(client.post(SERVICE_PATH, json=request), 400)
    assert "nested" in outcome["issue"][0]["diagnostics"]
