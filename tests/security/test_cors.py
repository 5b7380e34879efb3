"""CORS as a browser (the CDS Hooks Sandbox) meets it: preflights answered for the allowed origins only."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.fixtures_support import SERVICE_PATH, hook_request

SANDBOX = "https://sandbox.cds-hooks.org"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def test_a_preflight_from_an_allowed_origin_is_answered(client_factory: Callable[..., TestClient]) -> None:
    client = client_factory(cors_origins=SANDBOX)
    response = client.options(SERVICE_PATH, headers={"Origin": SANDBOX, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SANDBOX
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_a_preflight_from_another_origin_is_refused(client_factory: Callable[..., TestClient]) -> None:
    client = client_factory(cors_origins=SANDBOX)
    response = client.options(SERVICE_PATH, headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_a_call_from_an_allowed_origin_can_be_read_by_the_page(
    client_factory: Callable[..., TestClient],
) -> None:
    client = client_factory(cors_origins=SANDBOX)
    response = client.post(SERVICE_PATH, json=hook_request(), headers={"Origin": SANDBOX})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SANDBOX
    assert "X-Request-Id" in response.headers["access-control-expose-headers"]
    assert "Origin" in response.headers["vary"]  # caches keep answers to different origins apart


def test_a_call_without_an_origin_gets_no_cors_grant(client: TestClient) -> None:
    response = client.post(SERVICE_PATH, json=hook_request())
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
