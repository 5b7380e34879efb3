"""Each check of the client JWT, proved with tokens minted here (issue 4)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from cds.auth.clients import ClientAuthenticator
from cds.errors import Unauthorized
from tests.auth.helpers import (
    BASE,
    ISS,
    OTHER_ISS,
    SERVICE_PATH,
    AuthEnv,
    SigningKey,
    authenticate,
    b64,
    claims,
    hs256_with,
    unsigned,
)

SERVICE_URL = BASE + SERVICE_PATH
DISCOVERY_URL = BASE + "/cds-services"
FEEDBACK_URL = SERVICE_URL + "/feedback"

MakeAuth = Callable[..., ClientAuthenticator]


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refused(auth: ClientAuthenticator, header: str | None, audience: str = SERVICE_URL) -> str:
    with pytest.raises(Unauthorized) as caught:
        authenticate(auth, header, audience)
    assert caught.value.status_code == 401
    assert caught.value.outcome()["issue"][0]["diagnostics"] == "Unauthorized"  # no detail on the wire
    return caught.value.diagnostics  # the reason, for the log


def now_claims(env: AuthEnv, **changes: Any) -> dict[str, Any]:
    return claims(now=env.wall.now, **changes)


# --- accepted -----------------------------------------------------------------------------------


def test_valid_es384_token_from_the_jwks_url_is_accepted(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    authenticate(auth, bearer(auth_env.es384.sign(now_claims(auth_env))), SERVICE_URL)
    assert auth_env.server.hits["/jwks.json"] == 1


def test_valid_rs384_token_from_an_inline_jwks_is_accepted(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    authenticate(auth, bearer(auth_env.rs384.sign(now_claims(auth_env, iss=OTHER_ISS))), SERVICE_URL)


def test_rs384_from_a_jwks_url_and_the_sandbox_header_shape(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.sets["/jwks.json"] = {"keys": [auth_env.es384.jwk(), auth_env.rs384.jwk()]}
    auth = make_auth()
    # the Sandbox sends jku; here it is the issuer's own jwks_url, which is always allowed
    token = auth_env.rs384.sign(now_claims(auth_env), jku=auth_env.server.url("/jwks.json"))
    authenticate(auth, bearer(token), SERVICE_URL)


@pytest.mark.parametrize("audience", [SERVICE_URL, DISCOVERY_URL, FEEDBACK_URL])
def test_aud_may_be_an_array_containing_the_exact_url(
    auth_env: AuthEnv, make_auth: MakeAuth, audience: str
) -> None:
    auth = make_auth()
    aud = ["https://elsewhere.example.org/cds-services", audience]
    authenticate(auth, bearer(auth_env.es384.sign(now_claims(auth_env, aud=aud))), audience)


def test_epic_style_claims_nbf_and_sub_and_lowercase_typ(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    now = int(auth_env.wall.now)
    token = auth_env.es384.sign(now_claims(auth_env, nbf=now - 300, sub="epic-client-id"), typ="jwt")
    authenticate(auth, bearer(token), SERVICE_URL)


def test_clock_skew_is_tolerated_both_ways(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwt_clock_skew_s=60)
    now = int(auth_env.wall.now)
    authenticate(
        auth, bearer(auth_env.es384.sign(now_claims(auth_env, iat=now - 330, exp=now - 30))), SERVICE_URL
    )
    authenticate(
        auth, bearer(auth_env.es384.sign(now_claims(auth_env, iat=now + 30, exp=now + 300))), SERVICE_URL
    )


def test_off_accepts_anything() -> None:
    from cds.settings import Settings

    auth = ClientAuthenticator(Settings(auth="off"))
    authenticate(auth, None, SERVICE_URL)
    auth.close()


# --- refused: the list -------------------------------------------------------------------


def test_unsigned_alg_none_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    reason = refused(auth, bearer(unsigned(now_claims(auth_env), kid=auth_env.es384.kid)))
    assert "unsigned" in reason or "alg" in reason
    # and with a junk signature segment too
    token = unsigned(now_claims(auth_env), kid=auth_env.es384.kid) + "c2ln"
    assert "alg 'none'" in refused(auth, bearer(token))


def test_hs256_signed_with_the_public_key_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    for secret in (auth_env.es384.public_pem(), json.dumps(auth_env.es384.jwk()).encode()):
        token = hs256_with(secret, now_claims(auth_env), kid=auth_env.es384.kid)
        assert "alg 'HS256'" in refused(auth, bearer(token))
    assert auth_env.server.hits["/jwks.json"] == 0  # refused before any key was looked up


def test_expired_token_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwt_clock_skew_s=60)
    now = int(auth_env.wall.now)
    token = auth_env.es384.sign(now_claims(auth_env, iat=now - 400, exp=now - 100))
    assert "expired" in refused(auth, bearer(token))


def test_a_token_expires_while_cached_keys_stay_valid(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwt_clock_skew_s=0)
    token = auth_env.es384.sign(now_claims(auth_env))
    auth_env.wall.advance(301)
    assert "expired" in refused(auth, bearer(token))


def test_not_yet_valid_token_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwt_clock_skew_s=60)
    now = int(auth_env.wall.now)
    assert "nbf" in refused(auth, bearer(auth_env.es384.sign(now_claims(auth_env, nbf=now + 120))))
    future_iat = now_claims(auth_env, iat=now + 120, exp=now + 400)
    assert "future" in refused(auth, bearer(auth_env.es384.sign(future_iat)))


def test_a_lifetime_beyond_the_maximum_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwt_max_lifetime_s=600)
    now = int(auth_env.wall.now)
    assert "lifetime" in refused(auth, bearer(auth_env.es384.sign(now_claims(auth_env, exp=now + 601))))
    assert "after iat" in refused(auth, bearer(auth_env.es384.sign(now_claims(auth_env, exp=now))))


@pytest.mark.parametrize(
    ("aud", "called"),
    [
        (DISCOVERY_URL, SERVICE_URL),  # another endpoint of the same service
        (SERVICE_URL, DISCOVERY_URL),
        (SERVICE_URL, FEEDBACK_URL),
        (FEEDBACK_URL, SERVICE_URL),
        (SERVICE_URL + "/", SERVICE_URL),
        (SERVICE_URL.replace("http://", "https://"), SERVICE_URL),
        (BASE, SERVICE_URL),
        ("https://evil.example.org" + SERVICE_PATH, SERVICE_URL),
        ([DISCOVERY_URL, FEEDBACK_URL], SERVICE_URL),
        ([], SERVICE_URL),
    ],
)
def test_wrong_aud_is_refused(auth_env: AuthEnv, make_auth: MakeAuth, aud: Any, called: str) -> None:
    auth = make_auth()
    assert "aud" in refused(auth, bearer(auth_env.es384.sign(now_claims(auth_env, aud=aud))), called)


def test_unknown_iss_is_refused_without_fetching(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    for iss in ("https://evil.example.org", ISS + "/", ISS.upper(), None, 42, [ISS]):
        token = auth_env.es384.sign(now_claims(auth_env, iss=iss))
        assert "iss" in refused(auth, bearer(token))
    assert sum(auth_env.server.hits.values()) == 0


def test_unknown_kid_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    stranger = SigningKey.new("ES384", kid="not-published")
    assert "kid" in refused(auth, bearer(stranger.sign(now_claims(auth_env))))


def test_a_known_kid_with_another_key_s_signature_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    impostor = SigningKey.new("ES384", kid=auth_env.es384.kid)
    assert "signature" in refused(auth, bearer(impostor.sign(now_claims(auth_env))))


def test_untrusted_jku_is_refused_without_being_fetched(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    attacker = SigningKey.new("ES384", kid="attacker")
    auth_env.server.sets["/attacker/jwks.json"] = {"keys": [attacker.jwk()]}
    auth = make_auth()
    for jku in (
        auth_env.server.url("/attacker/jwks.json"),
        "https://evil.example.org/jwks.json",
        auth_env.server.url("/jwks.json") + "?x=1",
        ["https://evil.example.org/jwks.json"],
    ):
        token = attacker.sign(now_claims(auth_env), jku=jku)
        assert "jku" in refused(auth, bearer(token))
    assert auth_env.server.hits["/attacker/jwks.json"] == 0
    assert sum(auth_env.server.hits.values()) == 0


def test_an_allowlisted_jku_is_fetched_and_used(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    rotated = SigningKey.new("ES384", kid="rotated")
    auth_env.server.sets["/rotated/jwks.json"] = {"keys": [rotated.jwk()]}
    auth = make_auth()
    token = rotated.sign(now_claims(auth_env), jku=auth_env.server.url("/rotated/jwks.json"))
    authenticate(auth, bearer(token), SERVICE_URL)
    assert auth_env.server.hits["/rotated/jwks.json"] == 1
    # its key is not valid through the issuer's other set
    assert "kid" in refused(auth, bearer(rotated.sign(now_claims(auth_env))))


def test_replayed_jti_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    token = auth_env.es384.sign(now_claims(auth_env, jti="once"))
    authenticate(auth, bearer(token), SERVICE_URL)
    assert "replayed" in refused(auth, bearer(token))
    # a fresh token reusing the jti is a replay too; the same jti from another issuer is not
    assert "replayed" in refused(auth, bearer(auth_env.es384.sign(now_claims(auth_env, jti="once"))))
    authenticate(
        auth, bearer(auth_env.rs384.sign(now_claims(auth_env, iss=OTHER_ISS, jti="once"))), SERVICE_URL
    )


def test_a_refused_token_does_not_burn_its_jti(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth()
    forged = SigningKey.new("ES384", kid=auth_env.es384.kid).sign(now_claims(auth_env, jti="j-1"))
    refused(auth, bearer(forged))
    authenticate(auth, bearer(auth_env.es384.sign(now_claims(auth_env, jti="j-1"))), SERVICE_URL)


@pytest.mark.parametrize("change", ["aud", "iat", "exp", "jti", "extra-claim"])
def test_tampered_payload_is_refused(auth_env: AuthEnv, make_auth: MakeAuth, change: str) -> None:
    auth = make_auth()
    original = now_claims(auth_env, aud=DISCOVERY_URL)
    header, _, signature = auth_env.es384.sign(original).split(".")
    tampered = dict(original)
    if change == "aud":
        tampered["aud"] = SERVICE_URL
    elif change == "iat":
        tampered["iat"] = original["iat"] - 1
    elif change == "exp":
        tampered["exp"] = original["exp"] + 60
    elif change == "jti":
        tampered["jti"] = "another"
    else:
        tampered["role"] = "admin"
    audience = SERVICE_URL if change == "aud" else DISCOVERY_URL
    token = f"{header}.{b64(json.dumps(tampered).encode())}.{signature}"
    assert "signature" in refused(auth, bearer(token), audience)


def test_tampered_header_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.sets["/jwks.json"] = {"keys": [auth_env.es384.jwk(), auth_env.rs384.jwk()]}
    auth = make_auth()
    _, payload, signature = auth_env.es384.sign(now_claims(auth_env)).split(".")
    header = {"alg": "ES384", "typ": "JWT", "kid": auth_env.rs384.kid}  # point at the RSA key
    token = f"{b64(json.dumps(header).encode())}.{payload}.{signature}"
    assert "signature" in refused(auth, bearer(token))  # ES384 vs RSA key: refused, not a TypeError


def test_missing_header_is_refused(make_auth: MakeAuth) -> None:
    auth = make_auth()
    assert "no Authorization" in refused(auth, None)
    assert "no Authorization" in refused(auth, "")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer abc",
        "Bearer a.b",
        "Bearer a.b.c",
        "Bearer ...",
        "Bearer a.b.c.d.e",
        "Bearer e30.e30.e30",  # {} . {} . junk
        "Bearer W10.W10.c2ln",  # [] . []
        "Bearer eyJhbGciOiJFUzM4NCJ9.%%%.c2ln",
        "Bearer eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJ4In0=.c2ln",  # padding is not base64url
        "Bearer " + "a" * 20000,
        "Bearer \u00e9\u00e9.\u00e9.\u00e9",
    ],
)
def test_malformed_token_is_refused(make_auth: MakeAuth, header: str) -> None:
    refused(make_auth(), header)


@pytest.mark.parametrize("missing", ["iss", "aud", "exp", "iat", "jti"])
def test_required_claims(auth_env: AuthEnv, make_auth: MakeAuth, missing: str) -> None:
    token = auth_env.es384.sign(now_claims(auth_env, **{missing: None}))
    assert missing in refused(make_auth(), bearer(token))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"kid": None}, "kid"),
        ({"kid": ""}, "kid"),
        ({"typ": None}, "typ"),
        ({"typ": "at+jwt"}, "typ"),
        ({"crit": ["exp"]}, "crit"),
    ],
)
def test_header_requirements(
    auth_env: AuthEnv, make_auth: MakeAuth, header: dict[str, Any], expected: str
) -> None:
    token = auth_env.es384.sign(now_claims(auth_env), **header)
    assert expected in refused(make_auth(), bearer(token))


@pytest.mark.parametrize(
    "changes",
    [{"exp": "tomorrow"}, {"iat": True}, {"exp": None, "iat": None}, {"jti": 12}, {"jti": "x" * 300}],
)
def test_badly_typed_claims(auth_env: AuthEnv, make_auth: MakeAuth, changes: dict[str, Any]) -> None:
    refused(make_auth(), bearer(auth_env.es384.sign(now_claims(auth_env, **changes))))


def test_algorithms_outside_the_configuration_are_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    es256 = SigningKey.new("ES256")
    auth_env.server.sets["/jwks.json"] = {"keys": [auth_env.es384.jwk(), es256.jwk()]}
    token = es256.sign(now_claims(auth_env))
    assert "alg 'ES256'" in refused(make_auth(), bearer(token))
    authenticate(make_auth(jwt_algorithms="ES384,RS384,ES256"), bearer(token), SERVICE_URL)


def test_a_per_issuer_algorithm_list_narrows_the_global_one(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.issuers[1]["algorithms"] = ["ES384"]
    token = auth_env.rs384.sign(now_claims(auth_env, iss=OTHER_ISS))
    assert "not accepted for issuer" in refused(make_auth(), bearer(token))


def test_a_jwk_pinned_to_another_alg_is_not_used(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    rsa = SigningKey.new("RS384", kid="pinned")
    auth_env.server.sets["/jwks.json"] = {"keys": [rsa.jwk(alg="RS512")]}
    auth = make_auth(jwt_algorithms="ES384,RS384,RS512")
    assert "signature" in refused(auth, bearer(rsa.sign(now_claims(auth_env))))


def test_keys_not_for_signing_are_ignored(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.sets["/jwks.json"] = {"keys": [auth_env.es384.jwk(use="enc")]}
    assert "kid" in refused(make_auth(), bearer(auth_env.es384.sign(now_claims(auth_env))))


def test_tenants(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.issuers[0]["tenants"] = ["hospital-a", "hospital-b"]
    auth = make_auth()
    authenticate(auth, bearer(auth_env.es384.sign(now_claims(auth_env, tenant="hospital-b"))), SERVICE_URL)
    for tenant in ("hospital-c", None, ["hospital-a"]):
        token = auth_env.es384.sign(now_claims(auth_env, tenant=tenant))
        assert "tenant" in refused(auth, bearer(token))
    # an issuer without a tenant list ignores the claim
    authenticate(
        auth, bearer(auth_env.rs384.sign(now_claims(auth_env, iss=OTHER_ISS, tenant="anything"))), SERVICE_URL
    )


def test_checks_run_in_the_best_practice_order(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    """iss, then aud, then exp, then tenant, then signature, then jti: the first failure is reported."""
    auth_env.issuers[0]["tenants"] = ["t"]
    auth = make_auth(jwt_clock_skew_s=0)
    forger = SigningKey.new("ES384", kid=auth_env.es384.kid)
    now = int(auth_env.wall.now)
    bad = {
        "iss": "https://evil.example.org",
        "aud": DISCOVERY_URL,
        "iat": now - 600,
        "exp": now - 300,
        "tenant": "x",
    }
    fixes: list[tuple[str, dict[str, Any]]] = [
        ("iss", {"iss": ISS}),
        ("aud", {"aud": SERVICE_URL}),
        ("expired", {"iat": now, "exp": now + 60}),
        ("tenant", {"tenant": "t"}),
        ("signature", {}),
    ]
    for step, fix in fixes:
        reason = refused(auth, bearer(forger.sign(now_claims(auth_env, **bad))))
        assert step in reason, (step, reason)
        bad.update(fix)
    authenticate(auth, bearer(auth_env.es384.sign(now_claims(auth_env, **bad, jti="last"))), SERVICE_URL)
    assert "replayed" in refused(auth, bearer(auth_env.es384.sign(now_claims(auth_env, **bad, jti="last"))))
    assert sum(auth_env.server.hits.values()) == 1  # keys fetched only once everything else passed


def test_the_reason_never_contains_the_token(
    auth_env: AuthEnv, make_auth: MakeAuth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = make_auth()
    tokens = [
        auth_env.es384.sign(now_claims(auth_env, aud=DISCOVERY_URL)),
        SigningKey.new("ES384", kid=auth_env.es384.kid).sign(now_claims(auth_env)),
    ]
    for token in tokens:
        reason = refused(auth, bearer(token))
        for part in token.split("."):
            assert part not in reason
            assert part not in caplog.text
