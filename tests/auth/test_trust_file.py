"""The trust file: a bad one stops start-up naming the file and the field; nothing is skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds.auth.clients import ClientAuthenticator
from cds.auth.trust import TrustFileError, load_trust_file
from cds.settings import Settings
from tests.auth.helpers import ISS, SigningKey

ALGS = frozenset({"ES384", "RS384"})


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.new("ES384", kid="k1")


def load(tmp_path: Path, document: Any) -> Any:
    path = tmp_path / "trust.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return load_trust_file(path, ALGS)


def fails(tmp_path: Path, document: Any, field: str) -> str:
    with pytest.raises(TrustFileError) as caught:
        load(tmp_path, document)
    assert caught.value.field == field, str(caught.value)
    assert str(tmp_path / "trust.json") in str(caught.value)
    return caught.value.problem


def test_the_documented_example_loads(tmp_path: Path, key: SigningKey) -> None:
    store = load(
        tmp_path,
        {
            "issuers": [
                {
                    "iss": ISS,
                    "jwks_url": "https://ehr.example.org/jwks.json",
                    "jku": ["https://ehr.example.org/keys/2026.json"],
                    "tenants": ["hospital-a"],
                },
                {"iss": "https://other.example.org", "jwks": {"keys": [key.jwk()]}, "algorithms": ["ES384"]},
                {
                    "iss": "http://localhost:3000",
                    "jwks_url": "http://127.0.0.1:3000/jwks.json",
                    "name": "dev EHR",
                },
            ]
        },
    )
    ehr = store.get(ISS)
    assert ehr is not None
    assert ehr.allows_jku("https://ehr.example.org/keys/2026.json")
    assert ehr.allows_jku("https://ehr.example.org/jwks.json")
    assert not ehr.allows_jku("https://ehr.example.org/other.json")
    assert ehr.tenants == {"hospital-a"}
    other = store.get("https://other.example.org")
    assert other is not None
    assert set(other.static_keys) == {"k1"}
    assert other.algorithms == {"ES384"}
    assert store.get(None) is None


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("not json", "(file)"),
        ([], "(top level)"),
        ({}, "issuers"),
        ({"issuers": []}, "issuers"),
        ({"issuers": [], "extra": 1}, "extra"),
        ({"issuers": ["x"]}, "issuers[0]"),
        ({"issuers": [{"jwks_url": "https://a.example/j"}]}, "issuers[0].iss"),
        ({"issuers": [{"iss": " https://a.example", "jwks_url": "https://a.example/j"}]}, "issuers[0].iss"),
        ({"issuers": [{"iss": "https://a.example"}]}, "issuers[0]"),
        (
            {"issuers": [{"iss": "https://a.example", "jwks_url": "http://a.example/j"}]},
            "issuers[0].jwks_url",
        ),
        ({"issuers": [{"iss": "https://a.example", "jwks_url": "ftp://a.example/j"}]}, "issuers[0].jwks_url"),
        (
            {"issuers": [{"iss": "https://a.example", "jwks_url": "https://u:p@a.example/j"}]},
            "issuers[0].jwks_url",
        ),
        ({"issuers": [{"iss": "https://a.example", "jwks_url": "/jwks.json"}]}, "issuers[0].jwks_url"),
        ({"issuers": [{"iss": "https://a.example", "jku": "https://a.example/j"}]}, "issuers[0].jku"),
        ({"issuers": [{"iss": "https://a.example", "jku": ["http://a.example/j"]}]}, "issuers[0].jku[0]"),
        ({"issuers": [{"iss": "https://a.example", "jwks": {"keys": []}}]}, "issuers[0].jwks"),
        ({"issuers": [{"iss": "https://a.example", "jwks": [{"kty": "EC"}]}]}, "issuers[0].jwks"),
        (
            {"issuers": [{"iss": "https://a.example", "jwks_url": "https://a.example/j", "tenants": []}]},
            "issuers[0].tenants",
        ),
        (
            {"issuers": [{"iss": "https://a.example", "jwks_url": "https://a.example/j", "tenants": [1]}]},
            "issuers[0].tenants",
        ),
        (
            {
                "issuers": [
                    {"iss": "https://a.example", "jwks_url": "https://a.example/j", "algorithms": ["HS256"]}
                ]
            },
            "issuers[0].algorithms",
        ),
        (
            {
                "issuers": [
                    {"iss": "https://a.example", "jwks_url": "https://a.example/j", "algorithms": ["ES256"]}
                ]
            },
            "issuers[0].algorithms",
        ),
        (
            {"issuers": [{"iss": "https://a.example", "jwks_url": "https://a.example/j", "jwks_uri": "x"}]},
            "issuers[0].jwks_uri",
        ),
        (
            {
                "issuers": [
                    {"iss": "https://a.example", "jwks_url": "https://a.example/j"},
                    {"iss": "https://a.example", "jwks_url": "https://a.example/j"},
                ]
            },
            "issuers[1].iss",
        ),
    ],
)
def test_a_bad_trust_file_names_the_field(tmp_path: Path, document: Any, field: str) -> None:
    fails(tmp_path, document, field)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"use": "enc"}, "use"),
        ({"kid": None}, "kid"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "kty"),
        ({"alg": "HS256"}, "HS256"),
        ({"x": "!!!"}, "cannot be read"),
        ({"key_ops": ["encrypt"]}, "key_ops"),
    ],
)
def test_inline_keys_are_checked(tmp_path: Path, key: SigningKey, change: dict[str, Any], words: str) -> None:
    jwk = {k: v for k, v in {**key.jwk(), **change}.items() if v is not None}
    problem = fails(tmp_path, {"issuers": [{"iss": ISS, "jwks": {"keys": [jwk]}}]}, "issuers[0].jwks.keys[0]")
    assert words in problem


def test_private_key_material_is_refused(tmp_path: Path, key: SigningKey) -> None:
    import jwt

    private = json.loads(jwt.get_algorithm_by_name("ES384").to_jwk(key.private))
    private.update({"kid": "k1", "use": "sig"})
    problem = fails(
        tmp_path, {"issuers": [{"iss": ISS, "jwks": {"keys": [private]}}]}, "issuers[0].jwks.keys[0]"
    )
    assert "private" in problem


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - the point
    jwk = json.loads(jwt.get_algorithm_by_name("RS384").to_jwk(weak))
    jwk["kid"] = "weak"
    problem = fails(tmp_path, {"issuers": [{"iss": ISS, "jwks": {"keys": [jwk]}}]}, "issuers[0].jwks.keys[0]")
    assert "2048" in problem


def test_an_unreadable_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TrustFileError, match="CDS_TRUST_FILE"):
        load_trust_file(tmp_path / "missing.json", ALGS)


@pytest.mark.parametrize("algorithms", ["none", "HS256", "ES384,HS512", "", "ES385"])
def test_unacceptable_configured_algorithms_stop_start_up(tmp_path: Path, algorithms: str) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"issuers": [{"iss": ISS, "jwks_url": "https://ehr.example.org/j"}]}))
    with pytest.raises(TrustFileError) as caught:
        ClientAuthenticator(Settings(auth="jwt", trust_file=trust, jwt_algorithms=algorithms))
    assert caught.value.field == "CDS_JWT_ALGORITHMS"
