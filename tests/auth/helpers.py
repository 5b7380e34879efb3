"""Test keys, tokens and a loopback JWKS server: the suite mints everything it verifies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds.auth.clients import ClientAuthenticator
from cds.settings import Settings
from tests.servers.hostile import loopback_http

BASE = "http://testserver"
SERVICE_PATH = "/cds-services/mbc-treatment-options"
ISS = "https://ehr.example.org"
OTHER_ISS = "https://other.example.org"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    alg: str
    kid: str
    private: Any

    @classmethod
    def new(cls, alg: str = "ES384", kid: str | None = None) -> SigningKey:
        if alg.startswith("ES"):
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
            private: Any = ec.generate_private_key(curve)
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(alg, kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", private)

    def jwk(self, **extra: Any) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        data.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        data.update(extra)
        return {k: v for k, v in data.items() if v is not None}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """Compact JWS, built by hand so tests can mint tokens a JWT library would refuse to make."""
        headers = {"alg": self.alg, "typ": "JWT", "kid": self.kid, **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        signing_input = f"{b64(json.dumps(headers).encode())}.{b64(json.dumps(claims).encode())}"
        signature = jwt.get_algorithm_by_name(self.alg).sign(signing_input.encode(), self.private)
        return f"{signing_input}.{b64(signature)}"


def claims(
    aud: str = BASE + SERVICE_PATH, iss: str = ISS, now: float | None = None, **changes: Any
) -> dict[str, Any]:
    """The Sandbox's payload: iss, aud (the exact URL called), exp = iat + 300, iat, jti."""
    now = time.time() if now is None else now
    values: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": int(now),
        "exp": int(now) + 300,
        "jti": str(uuid.uuid4()),
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def unsigned(payload: dict[str, Any], kid: str = "any") -> str:
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


def hs256_with(secret: bytes, payload: dict[str, Any], kid: str) -> str:
    """The classic key-confusion attack: HMAC "signed" with the issuer's *public* key as the secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def write_trust(path: Path, *issuers: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"issuers": list(issuers)}))
    return path


@dataclass
class JwksServer:
    """Loopback JWKS host: serves ``sets[path]``, counts every request per path."""

    base: str
    sets: dict[str, Any] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    status: int = 200
    delay_s: float = 0.0

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] += 1
            if state.delay_s:
                time.sleep(state.delay_s)
            document = state.sets.get(self.path)
            if document is None or state.status != 200:
                self.send_response(404 if document is None else state.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with loopback_http(Handler) as origin:
        state.base = origin
        yield state


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


def authenticate(auth: ClientAuthenticator, authorization: str | None, audience: str) -> None:
    """``auth.authenticate`` run to completion, for tests outside an event loop."""
    asyncio.run(auth.authenticate(authorization, audience))
