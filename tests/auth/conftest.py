from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cds.auth.clients import ClientAuthenticator
from tests.auth.helpers import ISS, OTHER_ISS, AuthEnv, FakeClock, SigningKey, jwks_server


@pytest.fixture(scope="session")
def session_keys() -> dict[str, SigningKey]:
    # RSA key generation is slow: make the fixed keys once
    return {"es384": SigningKey.new("ES384"), "rs384": SigningKey.new("RS384")}


@pytest.fixture
def auth_env(tmp_path: Path, session_keys: dict[str, SigningKey]) -> Iterator[AuthEnv]:
    with jwks_server() as server:
        es384, rs384 = session_keys["es384"], session_keys["rs384"]
        server.sets["/jwks.json"] = {"keys": [es384.jwk()]}
        issuers: list[dict[str, Any]] = [
            {"iss": ISS, "jwks_url": server.url("/jwks.json"), "jku": [server.url("/rotated/jwks.json")]},
            {"iss": OTHER_ISS, "jwks": {"keys": [rs384.jwk()]}},
        ]
        yield AuthEnv(tmp_path, server, es384, rs384, FakeClock(time.time()), FakeClock(1000.0), issuers)


@pytest.fixture
def make_auth(auth_env: AuthEnv) -> Iterator[Callable[..., ClientAuthenticator]]:
    made: list[ClientAuthenticator] = []

    def build(**overrides: Any) -> ClientAuthenticator:
        auth = auth_env.authenticator(**overrides)
        made.append(auth)
        return auth

    yield build
    for auth in made:
        auth.close()
