"""The hook call's authentication by CallRoute is its FastAPI route's (tests/api/test_call_route.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from tests.api.test_call_route import both_ways
from tests.auth.conftest import AuthEnv
from tests.auth.helpers import BASE, SERVICE_PATH, claims
from tests.conftest import hook_request


@pytest.fixture
def secured(auth_env: AuthEnv) -> Iterator[Any]:
    with TestClient(create_app(auth_env.settings()), raise_server_exceptions=False) as client:
        yield client.app


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (lambda env: None, 401),
        (lambda env: "Basic dXNlcjpwYXNz", 401),
        (lambda env: "Bearer " + env.es384.sign(claims(aud=BASE + SERVICE_PATH)), 200),
        (lambda env: "Bearer " + env.es384.sign(claims(aud=BASE + "/cds-services")), 401),
        (lambda env: "Bearer " + env.rs384.sign(claims(aud=BASE + "/cds-services/nope")), 401),
    ],
    ids=["none", "basic", "valid", "other-endpoint", "unknown-issuer"],
)
def test_a_call_is_authenticated_as_by_its_route(
    auth_env: AuthEnv, secured: Any, token: Callable[[AuthEnv], str | None], status: int
) -> None:
    def headers() -> list[tuple[bytes, bytes]]:
        authorization = token(auth_env)
        return [(b"authorization", authorization.encode())] if authorization else []

    assert both_ways(secured, SERVICE_PATH, orjson.dumps(hook_request()), headers)[0]["status"] == status


def test_an_unknown_service_with_a_valid_token_is_a_404_as_from_its_route(
    auth_env: AuthEnv, secured: Any
) -> None:
    path = "/cds-services/nope"

    def headers() -> list[tuple[bytes, bytes]]:
        return [(b"authorization", ("Bearer " + auth_env.es384.sign(claims(aud=BASE + path))).encode())]

    assert both_ways(secured, path, orjson.dumps(hook_request()), headers)[0]["status"] == 404
