"""Calls carrying a JWT, a FHIR access token and patient data leave none of them in any log output.

Everything is captured: the records themselves (before any redaction filter, so code that *tries* to
log a secret is caught, not just masked) and the bytes written to stdout/stderr by the service's log
handlers, at DEBUG level, for successful and failing calls (bad JWT, 400, 404, 412, 413).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from tests.auth.helpers import BASE, ISS, SigningKey, claims, write_trust
from tests.fixtures_support import SERVICE_PATH, bundle, hook_request, make_settings

PATIENT_NAME = "Zebediah"
PATIENT_FAMILY = "Quixotic-Marmalade"
BIRTH_DATE = "1961-04-23"
MRN = "MRN-99887766"
ACCESS_TOKEN = "sekr1t-access-token-4f0c2a9e"


class Everything(logging.Handler):
    """Keeps every record with its arguments, extra fields and traceback text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.texts.append("\n".join(parts))


def patient_request(patient_id: str = "p1", **changes: Any) -> dict[str, Any]:
    request = hook_request(patient_id)
    request["prefetch"]["patient"] = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": "urn:oid:1.2.3.4", "value": MRN}],
        "name": [{"given": [PATIENT_NAME], "family": PATIENT_FAMILY}],
        "gender": "female",
        "birthDate": BIRTH_DATE,
    }
    request["fhirServer"] = "https://fhir.example.org"
    request["fhirAuthorization"] = {
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }
    request.update(changes)
    return request


@pytest.fixture
def everything() -> Any:
    handler = Everything()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def test_no_token_or_patient_data_in_any_log(
    tmp_path: Path, everything: Everything, capfd: pytest.CaptureFixture[str]
) -> None:
    key = SigningKey.new("ES384", kid="log-test")
    trust = write_trust(tmp_path / "trust.json", {"iss": ISS, "jwks": {"keys": [key.jwk()]}})
    settings = make_settings(
        tmp_path, auth="jwt", trust_file=trust, log_level="DEBUG", max_body_bytes=64 * 1024
    )
    tokens: list[str] = []

    def jwt_for(path: str, **changes: Any) -> dict[str, str]:
        token = key.sign(claims(aud=BASE + path, **changes))
        tokens.append(token)
        return {"Authorization": f"Bearer {token}"}

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        # everything below also runs the app's exception handlers and its own logging (401 reasons)
        statuses = []
        statuses.append(client.post(SERVICE_PATH, json=patient_request(), headers=jwt_for(SERVICE_PATH)))
        forged = SigningKey.new("ES384", kid="log-test").sign(claims(aud=BASE + SERVICE_PATH))
        tokens.append(forged)
        statuses.append(
            client.post(SERVICE_PATH, json=patient_request(), headers={"Authorization": f"Bearer {forged}"})
        )
        statuses.append(
            client.post(SERVICE_PATH, json=patient_request(), headers=jwt_for("/cds-services"))
        )  # aud
        replay = jwt_for(SERVICE_PATH)
        client.post(SERVICE_PATH, json=patient_request(), headers=replay)
        statuses.append(client.post(SERVICE_PATH, json=patient_request(), headers=replay))  # jti replay
        statuses.append(  # 400: invalid hookInstance, with the patient data and token in the body
            client.post(SERVICE_PATH, json=patient_request(hookInstance=MRN), headers=jwt_for(SERVICE_PATH))
        )
        statuses.append(  # 400: a field that echoes patient data
            client.post(
                SERVICE_PATH,
                json=patient_request(
                    context={"userId": "Practitioner/1", "patientId": PATIENT_FAMILY + " " + MRN}
                ),
                headers=jwt_for(SERVICE_PATH),
            )
        )
        missing = patient_request()
        missing["prefetch"] = {"patient": missing["prefetch"]["patient"], "conditions": bundle()}
        statuses.append(
            client.post(SERVICE_PATH, json=missing, headers=jwt_for(SERVICE_PATH))
        )  # 412 or fetch
        statuses.append(
            client.post("/cds-services/nope", json=patient_request(), headers=jwt_for("/cds-services/nope"))
        )
        statuses.append(
            client.post(
                SERVICE_PATH,
                content=b'{"x":"' + (PATIENT_NAME * 10000).encode() + b'"}',
                headers=jwt_for(SERVICE_PATH),
            )
        )
        statuses.append(client.get("/cds-services", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}))

    codes = [r.status_code for r in statuses]
    assert codes[0] == 200
    assert codes[1:4] == [401, 401, 401]
    assert codes[4:6] == [400, 400]
    assert codes[6] in {200, 412}
    assert codes[7:] == [404, 413, 401]

    out, err = capfd.readouterr()
    written = out + err
    records = "\n".join(everything.texts)
    assert records, "no log records were captured"
    assert "client refused" in records or "JWT" in records  # the refusals were logged, with reasons
    secrets = [ACCESS_TOKEN, PATIENT_NAME, PATIENT_FAMILY, BIRTH_DATE, MRN]
    secrets += [part for token in tokens for part in token.split(".")]
    for secret in secrets:
        assert secret not in records, f"{secret[:20]}... appears in a log record"
        assert secret not in written, f"{secret[:20]}... was written to the log output"
