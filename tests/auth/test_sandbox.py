"""The public CDS Hooks Sandbox as a client (issue 22): its trust entry, its token shape, and the log
lines that say why a call it sends is refused (the Sandbox itself shows only "All clear")."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds.auth.clients import ClientAuthenticator, TokenRefused
from cds.auth.keys import parse_jwk
from cds.auth.sandbox import SANDBOX_ISS, SANDBOX_JKU, SANDBOX_KID, sandbox_trust_entry
from cds.auth.trust import load_trust_file
from cds.errors import Unauthorized
from cds.settings import Settings
from tests.auth.helpers import SERVICE_PATH, SigningKey, authenticate, claims, write_trust

CALLED = "http://localhost:8080" + SERVICE_PATH  # the exact URL the Sandbox was given


@pytest.fixture(scope="module")
def stand_in() -> SigningKey:
    """Signs as the Sandbox does (ES384, its kid); a key of our own: the suite never holds the
    Sandbox's private key, and no test fetches its published set."""
    return SigningKey.new("ES384", kid=SANDBOX_KID)


def sandbox_token(key: SigningKey, aud: str = CALLED, **header: Any) -> str:
    """The Sandbox's token shape: header alg ES384, typ JWT, kid, jku; payload iss, aud = the exact
    URL called, exp = iat + 300, iat, jti, and no sub."""
    payload = claims(aud=aud, iss=SANDBOX_ISS)
    assert "sub" not in payload
    return key.sign(payload, **{"jku": SANDBOX_JKU, **header})


def entry_with(key: SigningKey, **changes: Any) -> dict[str, Any]:
    entry = sandbox_trust_entry()
    entry["jwks"] = {"keys": [key.jwk()]}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def authenticator(
    tmp_path: Path, entry: dict[str, Any], base: str = "http://localhost:8080"
) -> ClientAuthenticator:
    trust = write_trust(tmp_path / "trust.json", entry)
    return ClientAuthenticator(
        Settings(auth="jwt", trust_file=trust, public_base_url=base, data_dir=tmp_path)
    )


def test_the_sandbox_entry_holds_its_published_key_and_jku(tmp_path: Path) -> None:
    entry = sandbox_trust_entry()
    trust = load_trust_file(write_trust(tmp_path / "t.json", entry), frozenset({"ES384", "RS384"}))
    issuer = trust.issuers[SANDBOX_ISS]
    assert issuer.allows_jku(SANDBOX_JKU)
    key = issuer.static_keys[SANDBOX_KID]
    assert isinstance(key.key, ec.EllipticCurvePublicKey) and key.key.curve.name == "secp384r1"
    assert key.fits("ES384")
    assert parse_jwk(entry["jwks"]["keys"][0]).kid == SANDBOX_KID


def test_a_sandbox_shaped_token_is_accepted_through_the_trust_entry(
    tmp_path: Path, stand_in: SigningKey
) -> None:
    auth = authenticator(tmp_path, entry_with(stand_in))
    try:
        authenticate(auth, f"Bearer {sandbox_token(stand_in)}", CALLED)
        assert auth.jwks.fetches == 0  # the inline key: the jku is allowed, never fetched
    finally:
        auth.close()


def test_an_unlisted_jku_is_refused_and_the_log_says_what_to_list(
    tmp_path: Path, stand_in: SigningKey
) -> None:
    auth = authenticator(tmp_path, entry_with(stand_in, jku=None))
    try:
        with pytest.raises(Unauthorized) as caught:
            authenticate(auth, f"Bearer {sandbox_token(stand_in)}", CALLED)
    finally:
        auth.close()
    reason = caught.value.diagnostics
    assert f'"jku": [{json.dumps(SANDBOX_JKU)}]' in reason
    assert SANDBOX_ISS in reason


def test_aud_must_name_a_listed_base_url(tmp_path: Path, stand_in: SigningKey) -> None:
    token_for_ip = sandbox_token(stand_in, aud="http://127.0.0.1:8080" + SERVICE_PATH)
    only_localhost = authenticator(tmp_path, entry_with(stand_in))
    try:
        with pytest.raises(Unauthorized) as caught:
            authenticate(only_localhost, f"Bearer {token_for_ip}", CALLED)
        assert "CDS_PUBLIC_BASE_URL" in caught.value.diagnostics
    finally:
        only_localhost.close()
    both = authenticator(tmp_path, entry_with(stand_in), base="http://localhost:8080,http://127.0.0.1:8080/")
    try:
        authenticate(both, f"Bearer {token_for_ip}", CALLED)  # aud may name any listed base URL
        authenticate(both, f"Bearer {sandbox_token(stand_in)}", CALLED)
        with pytest.raises(Unauthorized):  # another port is still another service
            authenticate(
                both, f"Bearer {sandbox_token(stand_in, aud='http://127.0.0.1:9090' + SERVICE_PATH)}", CALLED
            )
    finally:
        both.close()


def test_the_first_base_url_is_canonical() -> None:
    settings = Settings(public_base_url="https://cds.example.org/, http://localhost:8080")
    assert settings.public_base_url == "https://cds.example.org"
    assert settings.public_base_urls == ("https://cds.example.org", "http://localhost:8080")
    with pytest.raises(ValueError, match="CDS_PUBLIC_BASE_URL"):
        Settings(public_base_url="https://cds.example.org,localhost:8080")


def test_refusal_reasons_reach_the_log_without_the_token(
    tmp_path: Path, stand_in: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from cds.app import create_app

    trust = write_trust(tmp_path / "trust.json", entry_with(stand_in, jku=None))
    settings = Settings(auth="jwt", trust_file=trust, public_base_url="http://testserver", data_dir=tmp_path)
    token = sandbox_token(stand_in, aud="http://testserver/cds-services")
    with TestClient(create_app(settings)) as client, caplog.at_level(logging.WARNING):
        response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "is not listed for issuer" in caplog.text
    assert token not in caplog.text


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, "Bearer"),
        ("Basic dXNlcjpwdw==", "Bearer"),
        ("Bearer not-a-jwt", 'Bearer error="invalid_token"'),
    ],
)
def test_a_refusal_carries_its_www_authenticate_challenge(
    tmp_path: Path, stand_in: SigningKey, authorization: str | None, challenge: str
) -> None:
    auth = authenticator(tmp_path, entry_with(stand_in))
    try:
        with pytest.raises(TokenRefused) as caught:
            authenticate(auth, authorization, CALLED)
    finally:
        auth.close()
    assert caught.value.headers == {"WWW-Authenticate": challenge}
    assert caught.value.status_code == 401


def test_a_401_answer_carries_www_authenticate(tmp_path: Path, stand_in: SigningKey) -> None:
    from fastapi.testclient import TestClient

    from cds.app import create_app

    trust = write_trust(tmp_path / "trust.json", entry_with(stand_in))
    settings = Settings(auth="jwt", trust_file=trust, public_base_url="http://testserver", data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/cds-services")
        bad = client.get("/cds-services", headers={"Authorization": "Bearer x.y.z"})
    assert anonymous.headers.get("WWW-Authenticate") == "Bearer"
    assert bad.headers.get("WWW-Authenticate") == 'Bearer error="invalid_token"'
