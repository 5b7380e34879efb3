"""Authentication through the HTTP API: every CDS endpoint needs the JWT, ops endpoints do not."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.api import routes
from cds.api.deps import authenticate
from cds.app import create_app
from cds.auth.trust import TrustFileError
from cds.pathway.ids import card_uuid
from tests.auth.helpers import BASE, SERVICE_PATH, AuthEnv, claims
from tests.fixtures_support import hook_request, make_settings

FEEDBACK_PATH = SERVICE_PATH + "/feedback"
UNAUTHORIZED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "Unauthorized"}],
}
FEEDBACK = {
    "feedback": [
        {
            "card": card_uuid("hr-pos-postmenopausal-ai-cdk46"),
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-20T10:00:00Z",
        }
    ]
}


@pytest.fixture
def secured(auth_env: AuthEnv) -> Iterator[TestClient]:
    app = create_app(auth_env.settings())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def call(client: TestClient, path: str, token: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if path == "/cds-services":
        return client.get(path, headers=headers)
    return client.post(path, json=body, headers=headers)


ENDPOINTS: list[tuple[str, Callable[[], Any]]] = [
    ("/cds-services", lambda: None),
    (SERVICE_PATH, hook_request),
    (FEEDBACK_PATH, lambda: FEEDBACK),
]


@pytest.mark.parametrize(("path", "body"), ENDPOINTS)
def test_every_cds_endpoint_requires_a_valid_jwt(
    auth_env: AuthEnv, secured: TestClient, path: str, body: Callable[[], Any]
) -> None:
    missing = call(secured, path, None, body())
    assert missing.status_code == 401
    assert missing.json() == UNAUTHORIZED
    assert missing.headers["content-type"].startswith("application/json")

    ok = call(secured, path, auth_env.es384.sign(claims(aud=BASE + path)), body())
    assert ok.status_code == 200, ok.text


def test_every_route_of_the_cds_router_authenticates() -> None:
    """Authentication is the router's dependency, so an endpoint added to the router cannot skip it."""
    assert [d.dependency for d in routes.router.dependencies] == [authenticate]
    paths = {route.path.rstrip("/") for route in routes.router.routes}  # type: ignore[attr-defined]
    # the endpoints the tests above call are all
    assert paths == {"/cds-services", "/cds-services/{service_id}", "/cds-services/{service_id}/feedback"}


@pytest.mark.parametrize(("path", "body"), ENDPOINTS)
def test_a_token_for_another_endpoint_is_refused_without_detail(
    auth_env: AuthEnv,
    secured: TestClient,
    path: str,
    body: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    others = [p for p, _ in ENDPOINTS if p != path]
    for other in others:
        response = call(secured, path, auth_env.es384.sign(claims(aud=BASE + other)), body())
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED  # the reason is in the log only
    assert "aud" in caplog.text


def test_a_401_from_an_unknown_service_id_does_not_reveal_the_service(secured: TestClient) -> None:
    """Auth runs before routing details: an anonymous caller learns nothing, not even a 404."""
    assert secured.post("/cds-services/nope", json={}).status_code == 401
    assert secured.post("/cds-services/nope/feedback", json={}).status_code == 401


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_ops_endpoints_stay_open_for_the_platform(secured: TestClient, path: str) -> None:
    assert secured.get(path).status_code == 200


def test_metrics_is_open_but_not_in_the_public_api_description(secured: TestClient) -> None:
    assert secured.get("/metrics").status_code == 200
    assert "/metrics" not in secured.get("/openapi.json").json()["paths"]


def test_cors_preflight_needs_no_token(secured: TestClient) -> None:
    response = secured.options(
        SERVICE_PATH,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_a_401_carries_cors_and_security_headers(secured: TestClient) -> None:
    response = secured.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


# --- start-up ------------------------------------------------------------------------------------


def test_jwt_mode_without_a_trust_file_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(TrustFileError, match="CDS_TRUST_FILE"):
        create_app(make_settings(tmp_path, auth="jwt", trust_file=None))


def test_a_bad_trust_file_stops_start_up_naming_file_and_field(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(
        '{"issuers": [{"iss": "https://ehr.example.org", "jwks_url": "http://ehr.example.org/k"}]}'
    )
    with pytest.raises(TrustFileError) as caught:
        create_app(make_settings(tmp_path, auth="jwt", trust_file=trust))
    assert str(trust) in str(caught.value)
    assert "issuers[0].jwks_url" in str(caught.value)


def test_jwt_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cds.settings import Settings

    monkeypatch.delenv("CDS_AUTH", raising=False)
    assert Settings().auth == "jwt"
