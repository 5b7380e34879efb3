"""Inputs the fuzzers found that made the service answer 500, pinned so they stay fixed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures_support import SERVICE_PATH, bundle, hook_request


def test_a_resource_type_that_is_not_a_string_is_not_a_500(client: TestClient) -> None:
    """cds/fhir/select.py: `rtype not in PROFILE_TYPES` raised TypeError for a list."""
    request = hook_request()
    resource = {"resourceType": ["Observation"], "id": "o1", "status": "final"}
    request["prefetch"]["observations"] = bundle(resource)
    response = client.post(SERVICE_PATH, json=request)
    assert response.status_code in {200, 400}, response.text


def test_a_feedback_timestamp_that_cannot_be_converted_to_utc_is_not_a_500(client: TestClient) -> None:
    """Year 1 with a positive offset is before datetime.min in UTC: astimezone() overflowed in the store."""
    item = {"card": "0", "outcome": "overridden", "outcomeTimestamp": "0001-01-01T00:00:00+09:13"}
    response = client.post(f"{SERVICE_PATH}/feedback", json={"feedback": [item]})
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
