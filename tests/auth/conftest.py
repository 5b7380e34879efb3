from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cds.auth.clients import ClientAuthenticator
from cds.settings import Settings
from tests.auth.helpers import BASE, ISS, OTHER_ISS, JwksServer, SigningKey, jwks_server, write_trust


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class AuthEnv:
    tmp_path: Path
    server: JwksServer
    es384: SigningKey  # served from ISS's jwks_url
    rs384: SigningKey  # in OTHER_ISS's inline jwks
    wall: FakeClock
    mono: FakeClock
    issuers: list[dict[str, Any]]

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "auth": "jwt",
            "trust_file": write_trust(self.tmp_path / "trust.json", *self.issuers),
            "public_base_url": BASE,
            "data_dir": self.tmp_path,
            "jwks_timeout_s": 2.0,
        }
        values.update(overrides)
        return Settings(**values)

    def authenticator(self, **overrides: Any) -> ClientAuthenticator:
        return ClientAuthenticator(self.settings(**overrides), clock=self.wall, monotonic=self.mono)


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
