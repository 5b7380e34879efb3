"""HTTP details a client meets (issues 22 and 23): Allow on 405, WWW-Authenticate on 401, JSON only,
UTF-8 only, trailing slashes answered, ids that cannot name a folder, and one log line per CDS call."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.fixtures_support import SERVICE_PATH, bundle, hook_request, load_scenarios

JSON = {"Content-Type": "application/json"}
FEEDBACK_PATH = SERVICE_PATH + "/feedback"
SCENARIO = next(s for s in load_scenarios() if s.name == "hr-pos-her2-neg-second-line-after-ai-cdk46")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", SERVICE_PATH, {"POST"}), ("DELETE", "/cds-services", {"GET"}), ("PUT", FEEDBACK_PATH, {"POST"})],
)
def test_a_wrong_method_is_405_with_allow(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.fixture
def secured(client_factory: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    trust = tmp_path / "trust.json"
    issuer = {"iss": "https://ehr.example.org", "jwks_url": "http://127.0.0.1:9/jwks.json"}
    trust.write_text(json.dumps({"issuers": [issuer]}))
    return client_factory(auth="jwt", trust_file=trust)


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, "Bearer"),
        ("Bearer not-a-jwt", 'Bearer error="invalid_token"'),
        ("Basic dXNlcjpwYXNz", 'Bearer error="invalid_token"'),
    ],
)
def test_401_names_the_bearer_scheme(secured: TestClient, authorization: str | None, challenge: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for response in (
        secured.get("/cds-services", headers=headers),
        secured.post(SERVICE_PATH, json=hook_request(), headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == challenge


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_sent_as_json_is_415(client: TestClient, content_type: str | None) -> None:
    """A browser page can POST text/plain or a form cross-origin without a CORS preflight: refused."""
    headers = {"Content-Type": content_type} if content_type else {}
    for path in (SERVICE_PATH, FEEDBACK_PATH):
        response = client.post(path, content=orjson.dumps(hook_request()), headers=headers)
        assert response.status_code == 415, (path, content_type)


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_with_or_without_charset_is_accepted(client: TestClient, content_type: str) -> None:
    response = client.post(
        SERVICE_PATH, content=orjson.dumps(hook_request()), headers={"Content-Type": content_type}
    )
    assert response.status_code == 200


def test_invalid_utf8_anywhere_is_400(client: TestClient) -> None:
    """Also in an element the service never reads (one answer for the same fault)."""
    body = orjson.dumps(hook_request(extension={"note": "PLACEHOLDER"}))
    unread = body.replace(b"PLACEHOLDER", b"\xff\xfe")
    request = hook_request()
    request["prefetch"]["observations"] = bundle(
        {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "PLACEHOLDER"}}
    )
    skipped = orjson.dumps(request).replace(b"PLACEHOLDER", b"\xc3\x28")
    for content in (unread, skipped):
        response = client.post(SERVICE_PATH, content=content, headers=JSON)
        assert response.status_code == 400
        assert "UTF-8" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("path", ["/cds-services/", SERVICE_PATH + "/", FEEDBACK_PATH + "/"])
def test_a_trailing_slash_is_answered_not_redirected(client: TestClient, path: str) -> None:
    if path == "/cds-services/":
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 200 and response.json()["services"]
    elif path.endswith("feedback/"):
        response = client.post(path, json={"feedback": "x"}, headers={"Host": "evil.example"})
        assert response.status_code == 400  # answered by the endpoint itself
    else:
        response = client.post(path, json=hook_request(), headers={"Host": "evil.example"})
        assert response.status_code == 200 and response.json() == {"cards": []}
    assert "location" not in response.headers


@pytest.mark.parametrize("patient_id", ["..", ".", "a/b", "x" * 65, "p 1"])
def test_a_patient_id_that_is_not_a_fhir_id_is_400(client: TestClient, patient_id: str) -> None:
    request = hook_request()
    request["context"]["patientId"] = patient_id
    response = client.post(SERVICE_PATH, json=request)
    assert response.status_code == 400
    assert "patientId" in response.json()["issue"][0]["diagnostics"]


def test_a_chart_of_another_patient_says_so(client: TestClient) -> None:
    """Not a silent {"cards": []}: the profile knows the data that came was not this patient's."""
    request = SCENARIO.request
    assert request is not None
    request["context"]["patientId"] = "someone-else"
    service = client.app.state.service  # type: ignore[attr-defined]
    pending = service.prepare(orjson.dumps(request))
    profile = service.profile(pending.keyed, "someone-else", date(2026, 11, 21))
    [issue] = [i for i in profile.issues if "another patient" in i.message]
    assert issue.kind == "ignored" and issue.topic == "data"
    n = sum(len(data.resources) for data in pending.keyed.values())
    assert issue.message == f"{n} resources belong to another patient and were not read."


# --- the log line of a CDS call -------------------------------------------------------------------


def call_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cds.call"]


def test_one_info_line_per_cds_call_without_patient_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    request: dict[str, Any] | None = SCENARIO.request
    assert request is not None
    del request["prefetch"]["procedures"]  # not prefetched and no fhirServer: optional, so missing
    caplog.set_level(logging.INFO, logger="cds.call")
    client.get("/cds-services")
    call = client.post(SERVICE_PATH, json=request)
    client.post(FEEDBACK_PATH, json={"feedback": "x"})
    client.get("/healthz")
    lines = call_lines(caplog)
    assert [r.levelno for r in lines] == [logging.INFO] * 3  # discovery, hook, feedback; not /healthz
    discovery, hook, feedback = (vars(r) for r in lines)
    assert discovery["endpoint"] == "GET /cds-services" and discovery["status"] == 200
    assert hook["endpoint"] == "POST /cds-services/{service_id}" and hook["status"] == 200
    assert hook["hookInstance"] == request["hookInstance"]
    assert "conditions" in hook["prefetch_given"] and hook["prefetch_missing"] == ["procedures"]
    assert hook["cards"] == len(call.json()["cards"]) > 0
    assert hook["duration_ms"] > 0
    assert feedback["status"] == 400
    text = " ".join(str(vars(r)) for r in lines)
    patient = request["prefetch"]["patient"]
    for secret in (patient["id"], patient.get("birthDate", "1900-01-01"), request["context"]["userId"]):
        assert secret not in text


def test_beyond_the_calls_in_processing_a_call_gets_503_with_retry_after(client: TestClient) -> None:
    limit = client.app.state.limit  # type: ignore[attr-defined]
    limit.in_flight = limit.limit  # every slot taken by calls in processing
    try:
        busy = client.post(SERVICE_PATH, json=hook_request())
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert client.post(FEEDBACK_PATH, json={"feedback": "x"}).status_code in {400, 503}
        assert client.get("/healthz").status_code == 200  # probes are never limited
        assert client.get("/readyz").status_code == 200
    finally:
        limit.in_flight = 0
    assert client.post(SERVICE_PATH, json=hook_request()).status_code == 200
