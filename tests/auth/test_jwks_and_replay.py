"""JWKS caching, rotation without a restart, rate-limited refreshes; the jti replay cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from cds.auth.clients import ClientAuthenticator
from cds.auth.replay import ReplayCache
from cds.errors import Unauthorized
from tests.auth.helpers import BASE, SERVICE_PATH, AuthEnv, FakeClock, SigningKey, authenticate, claims

URL = BASE + SERVICE_PATH
MakeAuth = Callable[..., ClientAuthenticator]


def ok(auth: ClientAuthenticator, env: AuthEnv, key: SigningKey, **header: object) -> None:
    authenticate(auth, f"Bearer {key.sign(claims(now=env.wall.now), **header)}", URL)


def no(auth: ClientAuthenticator, env: AuthEnv, key: SigningKey, **header: object) -> str:
    with pytest.raises(Unauthorized) as caught:
        authenticate(auth, f"Bearer {key.sign(claims(now=env.wall.now), **header)}", URL)
    return caught.value.diagnostics


def test_keys_are_cached(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwks_cache_s=3600)
    for _ in range(20):
        ok(auth, auth_env, auth_env.es384)
    assert auth_env.server.hits["/jwks.json"] == 1


def test_the_cache_expires(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwks_cache_s=600, jwks_min_refresh_interval_s=30)
    ok(auth, auth_env, auth_env.es384)
    auth_env.mono.advance(599)
    ok(auth, auth_env, auth_env.es384)
    assert auth_env.server.hits["/jwks.json"] == 1
    auth_env.mono.advance(2)
    ok(auth, auth_env, auth_env.es384)
    assert auth_env.server.hits["/jwks.json"] == 2


def test_key_rotation_works_without_a_restart(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwks_cache_s=3600, jwks_min_refresh_interval_s=30)
    old, new = auth_env.es384, SigningKey.new("ES384", kid="2026-12")
    ok(auth, auth_env, old)
    # the issuer publishes the new key next to the old one, then signs with it
    auth_env.server.sets["/jwks.json"] = {"keys": [old.jwk(), new.jwk()]}
    auth_env.mono.advance(31)
    ok(auth, auth_env, new)  # unknown kid -> one refresh -> accepted
    assert auth_env.server.hits["/jwks.json"] == 2
    # later the old key is withdrawn: after the next refresh it is no longer accepted
    auth_env.server.sets["/jwks.json"] = {"keys": [new.jwk()]}
    auth_env.mono.advance(3601)
    ok(auth, auth_env, new)
    assert "kid" in no(auth, auth_env, old)


def test_a_flood_of_unknown_kids_does_not_flood_the_issuer(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwks_min_refresh_interval_s=30)
    ok(auth, auth_env, auth_env.es384)
    strangers = [SigningKey.new("ES384", kid=f"made-up-{i}") for i in range(5)]
    for _ in range(20):
        for stranger in strangers:
            assert "kid" in no(auth, auth_env, stranger)
    assert auth_env.server.hits["/jwks.json"] == 1  # the refresh interval has not passed yet
    auth_env.mono.advance(31)
    for stranger in strangers:
        no(auth, auth_env, stranger)
    assert auth_env.server.hits["/jwks.json"] == 2  # one refresh per interval
    ok(auth, auth_env, auth_env.es384)  # the real key still works throughout


def test_concurrent_unknown_kids_cause_one_fetch(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.delay_s = 0.2
    auth = make_auth(jwks_min_refresh_interval_s=30)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            ok(auth, auth_env, auth_env.es384)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert auth_env.server.hits["/jwks.json"] == 1


def test_a_jwks_host_that_is_down_is_not_hammered(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.status = 503
    auth = make_auth(jwks_min_refresh_interval_s=30)
    for _ in range(10):
        assert "kid" in no(auth, auth_env, auth_env.es384)
    assert auth_env.server.hits["/jwks.json"] == 1
    auth_env.server.status = 200
    auth_env.mono.advance(31)
    ok(auth, auth_env, auth_env.es384)


def test_known_keys_survive_a_failed_refresh(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth = make_auth(jwks_cache_s=60, jwks_min_refresh_interval_s=30)
    ok(auth, auth_env, auth_env.es384)
    auth_env.server.status = 500
    auth_env.mono.advance(61)
    ok(auth, auth_env, auth_env.es384)  # refresh failed (logged); the cached key is still used
    assert auth_env.server.hits["/jwks.json"] == 2


def test_a_slow_jwks_host_times_out(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.delay_s = 1.5
    auth = make_auth(jwks_timeout_s=0.3)
    started = time.monotonic()
    assert "kid" in no(auth, auth_env, auth_env.es384)
    assert time.monotonic() - started < 1.2


def test_redirects_are_not_followed(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    del auth_env.server.sets["/jwks.json"]  # 404 stands in for any non-200 (a 302 is treated the same)
    auth = make_auth()
    assert "kid" in no(auth, auth_env, auth_env.es384)


def test_an_oversized_or_invalid_jwks_is_refused(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.sets["/jwks.json"] = {"keys": [auth_env.es384.jwk()], "padding": "x" * 300_000}
    assert "kid" in no(make_auth(), auth_env, auth_env.es384)
    auth_env.server.sets["/jwks.json"] = {"not-keys": []}
    assert "kid" in no(make_auth(), auth_env, auth_env.es384)


def test_bad_keys_in_a_fetched_set_are_skipped_not_fatal(auth_env: AuthEnv, make_auth: MakeAuth) -> None:
    auth_env.server.sets["/jwks.json"] = {
        "keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {"kty": "EC"}, "junk", auth_env.es384.jwk()]
    }
    ok(make_auth(), auth_env, auth_env.es384)


# --- the replay cache ----------------------------------------------------------------------------


def test_replay_entries_expire_with_the_token() -> None:
    clock = FakeClock(1000.0)
    cache = ReplayCache(clock=clock)
    assert cache.first_use("iss", "a", 1100.0)
    assert not cache.first_use("iss", "a", 1100.0)
    assert cache.first_use("other-iss", "a", 1100.0)
    clock.advance(101)
    assert cache.first_use("iss", "a", 1300.0)  # the first token has expired: the entry is gone
    assert len(cache) == 1


def test_the_replay_cache_is_bounded() -> None:
    clock = FakeClock(0.0)
    cache = ReplayCache(max_entries=100, clock=clock)
    for i in range(1000):
        assert cache.first_use("iss", f"j{i}", 10_000.0 + i)
    assert len(cache) == 100
    assert not cache.first_use("iss", "j999", 20_000.0)  # the newest entries are kept


def test_the_replay_cache_is_thread_safe() -> None:
    cache = ReplayCache()
    accepted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for i in range(500):
            first = cache.first_use("iss", f"j{i}", time.time() + 60)
            with lock:
                accepted.append(first)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert accepted.count(True) == 500  # each jti accepted exactly once across all threads
