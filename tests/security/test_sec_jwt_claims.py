"""Issue 23, finding 6: crafted numeric claims (iat = -1.79e308, exp = 1.79e308) overflowed the
lifetime check before the signature was verified: a 500 with a traceback on every endpoint. Each
NumericDate is range-checked before any arithmetic; every refusal is a bare 401."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from tests.auth.helpers import BASE, ISS, SERVICE_PATH, AuthEnv, FakeClock, SigningKey, claims, jwks_server
from tests.fixtures_support import hook_request

UNAUTHORIZED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "Unauthorized"}],
}
HUGE = 1.79e308
CRAFTED: list[dict[str, Any]] = [
    {"iat": -HUGE, "exp": HUGE},  # the attack as run
    {"iat": -HUGE},
    {"exp": HUGE},
    {"nbf": -HUGE},
    {"nbf": HUGE},
    {"iat": 0, "exp": HUGE},
    {"iat": 10**30, "exp": 10**30 + 1},
    {"exp": 10**400},  # an integer no double holds
    {"iat": -1},
    {"exp": "9999999999"},
    {"iat": "now"},
    {"exp": True},
    {"iat": False},
    {"nbf": None, "exp": None},
    {"exp": [1]},
    {"iat": {"$date": 1}},
    {"exp": 1e-300},
    {"exp": 253_402_300_800},  # just after 9999-12-31
]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AuthEnv]:
    key = SigningKey.new("ES384")
    with jwks_server() as server:
        server.sets["/jwks.json"] = {"keys": [key.jwk()]}
        issuers: list[dict[str, Any]] = [{"iss": ISS, "jwks_url": server.url("/jwks.json")}]
        yield AuthEnv(tmp_path, server, key, key, FakeClock(time.time()), FakeClock(1000.0), issuers)


@pytest.fixture
def client(env: AuthEnv) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def _payload(env: AuthEnv, changes: dict[str, Any], aud: str) -> dict[str, Any]:
    """Validly signed claims with ``changes``; json.dumps writes 10**400 as digits, as an attacker would."""
    values = claims(aud=aud, now=env.wall.now)
    values.update(changes)
    return values


def test_crafted_numeric_claims_get_a_bare_401_on_every_endpoint(
    client: TestClient, env: AuthEnv, caplog: pytest.LogCaptureFixture
) -> None:
    for path in ["/cds-services", SERVICE_PATH, SERVICE_PATH + "/feedback"]:
        for changes in CRAFTED:
            token = env.es384.sign(_payload(env, changes, BASE + path))  # validly signed
            headers = {"Authorization": f"Bearer {token}"}
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                if path == "/cds-services":
                    response = client.get(path, headers=headers)
                else:
                    body = hook_request() if path == SERVICE_PATH else {}
                    response = client.post(path, json=body, headers=headers)
            assert (path, changes, response.status_code) == (path, changes, 401)
            assert response.json() == UNAUTHORIZED
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback logged
            assert token not in caplog.text
