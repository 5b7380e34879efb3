"""Who may call the service: the CDS client's bearer JWT (CDS Hooks 2.0 "Trusting CDS Clients").

Checks, in the order the CDS Hooks best practices give (cheap refusals first; no key is fetched for a
token that would fail anyway):

0. ``Authorization: Bearer <compact JWS>``; header ``alg`` accepted (never ``none``/HS*), ``typ`` JWT,
   ``kid`` present; the required claims present and well typed
1. ``iss`` is in the trust file (read from the *unverified* payload only to choose the issuer's keys)
2. ``aud`` (string or array) contains the exact public URL of the endpoint called
3. ``exp`` not passed, ``iat``/``nbf`` not in the future, ``exp - iat`` within CDS_JWT_MAX_LIFETIME_S,
   all with CDS_JWT_CLOCK_SKEW_S of tolerance
4. ``tenant`` allowed, where the issuer lists tenants
5. the signature verifies with the issuer's key ``kid`` (a ``jku`` outside the issuer's allowlist is
   refused without being fetched); everything above was read from the bytes this signature covers
6. ``jti`` not seen before (per issuer) while the token is alive

Any failure raises :class:`~cds.errors.Unauthorized` with the reason for the log; the client gets a
401 without detail. Reasons never contain the token; values taken from it are truncated ``repr``s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final

import orjson

from cds.auth.jwks import JwksCache
from cds.auth.keys import VerificationKey, b64url_decode, check_algorithms
from cds.auth.replay import DEFAULT_MAX_ENTRIES, ReplayCache, SharedReplayCache
from cds.auth.trust import TrustedIssuer, TrustFileError, TrustStore, load_trust_file
from cds.errors import Unauthorized
from cds.settings import Settings
from cds.store import FeedbackStore

__all__ = ["ClientAuthenticator", "TokenRefused", "TrustFileError"]

log = logging.getLogger("cds.auth")

MAX_TOKEN_CHARS: Final = 16 * 1024
MAX_JTI_CHARS: Final = 256
# NumericDate claims are checked to lie in [0, 9999-12-31T23:59:59Z] before any arithmetic: a float
# such as 1.79e308 is valid JSON, and exp - iat of two of them overflows (issue 23, finding 6).
MAX_NUMERIC_DATE: Final = 253_402_300_799.0


def _show(value: object) -> str:
    """A client-supplied value, safe for one log line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise Unauthorized(f"JWT has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(f"JWT '{name}' is not a NumericDate")
    try:
        number = float(value)  # an int beyond a double's range raises OverflowError
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and 0.0 <= number <= MAX_NUMERIC_DATE):
        raise Unauthorized(f"JWT '{name}' is out of range for a NumericDate")
    return number


class TokenRefused(Unauthorized):
    """A refused call: 401 with a bare body, and the ``WWW-Authenticate`` challenge of RFC 6750
    section 3 in :attr:`headers` (``error="invalid_token"`` when a bearer token was sent)."""

    def __init__(self, diagnostics: str, authorization: str | None) -> None:
        super().__init__(diagnostics)
        scheme, _, token = (authorization or "").strip().partition(" ")
        sent = scheme.lower() == "bearer" and bool(token.strip())
        self.headers = {"WWW-Authenticate": 'Bearer error="invalid_token"' if sent else "Bearer"}


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    """A token that passed every check needing no key."""

    issuer: TrustedIssuer
    alg: str
    kid: str
    jti: str
    expires_at: float
    signing_input: bytes
    signature: bytes
    url: str  # the key set to look ``kid`` up in ("" when the issuer has inline keys only)
    static_key: VerificationKey | None


class ClientAuthenticator:
    """Verifies bearer JWTs of the clients the trust file names. Built once per app, at start-up.

    With CDS_AUTH=off every call is accepted (create_app logs a warning); with CDS_AUTH=jwt a missing
    or invalid trust file, or an unacceptable CDS_JWT_ALGORITHMS, stops start-up (TrustFileError).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        replay_max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.enabled = settings.auth != "off"
        self.skew = float(settings.jwt_clock_skew_s)
        self.max_lifetime = float(settings.jwt_max_lifetime_s)
        self.base_urls = settings.public_base_urls
        self._clock = clock
        self.replay: ReplayCache | SharedReplayCache = ReplayCache(
            max_entries=replay_max_entries, clock=clock
        )
        self.jwks = JwksCache(
            timeout_s=settings.jwks_timeout_s,
            cache_s=settings.jwks_cache_s,
            min_refresh_interval_s=settings.jwks_min_refresh_interval_s,
            clock=monotonic,
        )
        self.trust = TrustStore(file="", issuers={})
        self.algorithms: frozenset[str] = frozenset()
        if not self.enabled:
            return
        if settings.trust_file is None:
            raise TrustFileError(
                "(no file)",
                "CDS_TRUST_FILE",
                "CDS_AUTH=jwt needs a trust file naming the CDS clients allowed to call "
                "(see docs/security.md); set CDS_AUTH=off only for local testing",
            )
        try:
            self.algorithms = check_algorithms(settings.allowed_jwt_algorithms, "CDS_JWT_ALGORITHMS")
        except ValueError as exc:
            problem = str(exc).split(": ", 1)[-1]
            raise TrustFileError(str(settings.trust_file), "CDS_JWT_ALGORITHMS", problem) from None
        self.trust = load_trust_file(settings.trust_file, self.algorithms)
        store = FeedbackStore(settings.resolved_database_url)
        if store.backend == "postgresql":  # shared by every replica: a replay is refused by all
            self.replay = SharedReplayCache(store, clock=clock)
        else:
            store.close()
        log.info(
            "JWT verification on: %d trusted issuer(s) from %s; algorithms %s",
            len(self.trust.issuers),
            self.trust.file,
            ",".join(sorted(self.algorithms)),
        )

    # --- the check --------------------------------------------------------------------------------

    async def authenticate(self, authorization: str | None, audience: str) -> None:
        """Raise Unauthorized(reason-for-the-log) unless the bearer JWT is valid for ``audience``.

        A key fetch (an unknown ``kid``: at most CDS_JWKS_TIMEOUT_S) and the shared replay check (a
        database insert) are awaited, never waited for on the event loop (issue 23, finding 3)."""
        if not self.enabled:
            return
        try:
            token = self._check(authorization, audience)
            key = token.static_key
            if key is None:
                key = await self.jwks.key(token.issuer.iss, token.url, token.kid)
            self._verify(token, key)
            if self.replay.blocking:
                await asyncio.to_thread(self._first_use, token)
            else:
                self._first_use(token)
        except Unauthorized as exc:
            raise TokenRefused(exc.diagnostics, authorization) from None

    def _check(self, authorization: str | None, audience: str) -> _Token:
        """Every check that needs no key (steps 0-4), and where the key is to be found."""
        raw = self._bearer(authorization)
        header_b64, payload_b64, signature_b64 = self._segments(raw)
        header = self._json(header_b64, "header")
        claims = self._json(payload_b64, "payload")
        alg, kid = self._check_header(header)
        issuer = self._check_issuer(claims)  # 1
        if alg not in issuer.algorithms:
            raise Unauthorized(f"JWT alg {_show(alg)} is not accepted for issuer {_show(issuer.iss)}")
        self._check_audience(claims, audience)  # 2
        expires_at = self._check_times(claims)  # 3
        self._check_tenant(claims, issuer)  # 4
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise Unauthorized("JWT has no usable 'jti' claim")
        try:
            signature = b64url_decode(signature_b64)
        except ValueError:
            raise Unauthorized("JWT signature is not base64url") from None
        url = self._key_url(issuer, header)
        static_key = issuer.static_keys.get(kid)
        if static_key is None and url is None:
            raise Unauthorized(f"JWT kid {_show(kid)} is unknown for issuer {_show(issuer.iss)}")
        return _Token(
            issuer=issuer,
            alg=alg,
            kid=kid,
            jti=jti,
            expires_at=expires_at,
            signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
            signature=signature,
            url=url or "",
            static_key=static_key,
        )

    @staticmethod
    def _verify(token: _Token, key: VerificationKey | None) -> None:  # 5
        issuer = token.issuer
        if key is None:
            raise Unauthorized(
                f"JWT kid {_show(token.kid)} is unknown for issuer {_show(issuer.iss)} "
                f"(not in the trust file's keys nor in the key set at {token.url or '(none)'})"
            )
        if not key.verify(token.alg, token.signing_input, token.signature):
            raise Unauthorized(
                f"JWT signature invalid (issuer {_show(issuer.iss)}, kid {_show(token.kid)}, {token.alg})"
            )

    def _first_use(self, token: _Token) -> None:  # 6
        issuer = token.issuer.iss
        if not self.replay.first_use(issuer, token.jti, token.expires_at + self.skew):
            raise Unauthorized(f"JWT jti replayed (issuer {_show(issuer)})")

    @staticmethod
    def _bearer(authorization: str | None) -> str:
        if not authorization:
            raise Unauthorized("no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("Authorization is not a Bearer token")
        token = token.strip()
        if not token:
            raise Unauthorized("empty Bearer token")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized(f"Bearer token longer than {MAX_TOKEN_CHARS} characters")
        return token

    @staticmethod
    def _segments(token: str) -> tuple[str, str, str]:
        parts = token.split(".")
        if len(parts) != 3:  # JWE (5 parts) and unsecured/garbage tokens alike
            raise Unauthorized(f"Bearer token is not a compact JWS ({len(parts)} segment(s))")
        if not parts[2]:
            raise Unauthorized("JWT is unsigned")
        return parts[0], parts[1], parts[2]

    @staticmethod
    def _json(segment: str, what: str) -> dict[str, Any]:
        try:
            value = orjson.loads(b64url_decode(segment))
        except (ValueError, orjson.JSONDecodeError):
            raise Unauthorized(f"JWT {what} is not base64url JSON") from None
        if not isinstance(value, dict):
            raise Unauthorized(f"JWT {what} is not a JSON object")
        return value

    def _check_header(self, header: dict[str, Any]) -> tuple[str, str]:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthorized(f"JWT alg {_show(alg)} is not accepted")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise Unauthorized(f"JWT typ {_show(typ)} is not 'JWT'")
        if "crit" in header:
            raise Unauthorized("JWT header has 'crit' extensions, none of which are understood")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("JWT header has no 'kid'")
        return alg, kid

    def _check_issuer(self, claims: dict[str, Any]) -> TrustedIssuer:
        issuer = self.trust.get(claims.get("iss"))
        if issuer is None:
            raise Unauthorized(f"JWT iss {_show(claims.get('iss'))} is not trusted")
        return issuer

    def _audiences(self, audience: str) -> tuple[str, ...]:
        """``audience`` (the canonical public URL of the endpoint called) and the same endpoint under
        each other URL of a CDS_PUBLIC_BASE_URL list."""
        canonical = self.base_urls[0]
        if len(self.base_urls) == 1 or not audience.startswith(canonical):
            return (audience,)
        path = audience[len(canonical) :]
        return tuple(base + path for base in self.base_urls)

    def _check_audience(self, claims: dict[str, Any], audience: str) -> None:
        aud = claims.get("aud")
        accepted = self._audiences(audience)
        if isinstance(aud, str):
            ok = aud in accepted
        elif isinstance(aud, list):
            ok = any(a in aud for a in accepted)
        else:
            raise Unauthorized("JWT has no 'aud' claim")
        if not ok:
            raise Unauthorized(
                f"JWT aud {_show(aud)} is not this endpoint ({' or '.join(accepted)}); "
                "list the URL the client calls in CDS_PUBLIC_BASE_URL"
            )

    def _check_times(self, claims: dict[str, Any]) -> float:
        now = self._clock()
        exp = _number(claims, "exp", required=True)
        iat = _number(claims, "iat", required=True)
        nbf = _number(claims, "nbf", required=False)
        assert exp is not None and iat is not None  # noqa: S101 - required=True guarantees it
        if exp <= now - self.skew:
            raise Unauthorized(f"JWT expired {int(now - exp)}s ago")
        if iat > now + self.skew:
            raise Unauthorized(f"JWT issued {int(iat - now)}s in the future")
        if nbf is not None and nbf > now + self.skew:
            raise Unauthorized(f"JWT not valid for another {int(nbf - now)}s (nbf)")
        if exp <= iat:
            raise Unauthorized("JWT exp is not after iat")
        if exp - iat > self.max_lifetime:
            raise Unauthorized(f"JWT lifetime {int(exp - iat)}s exceeds {int(self.max_lifetime)}s")
        return exp

    @staticmethod
    def _check_tenant(claims: dict[str, Any], issuer: TrustedIssuer) -> None:
        if issuer.tenants is None:
            return
        tenant = claims.get("tenant")
        if not isinstance(tenant, str) or tenant not in issuer.tenants:
            raise Unauthorized(f"JWT tenant {_show(tenant)} is not allowed for issuer {_show(issuer.iss)}")

    @staticmethod
    def _key_url(issuer: TrustedIssuer, header: dict[str, Any]) -> str | None:
        """Where the token's key set is: its ``jku`` (when the trust file lists it) or the issuer's
        ``jwks_url``. An unlisted ``jku`` is refused without being fetched; the log says what to list."""
        jku = header.get("jku")
        if jku is None:
            return issuer.jwks_url
        if not isinstance(jku, str):
            raise Unauthorized(f"JWT jku {_show(jku)} is not a URL")
        if not issuer.allows_jku(jku):
            listed = orjson.dumps(jku[:200]).decode()
            raise Unauthorized(
                f"JWT jku {listed} is not listed for issuer {_show(issuer.iss)}: to accept it, add "
                f'"jku": [{listed}] to that issuer\'s entry in the trust file'
            )
        return jku

    def close(self) -> None:
        self.jwks.close()
        if isinstance(self.replay, SharedReplayCache):
            self.replay.close()
