"""Public keys from JWK sets: parsing, the algorithm/key-type match, signature verification.

Only asymmetric algorithms exist here: ``none`` and every HMAC (HS*) algorithm are refused when the
configuration is read, so a token naming them never reaches a key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK
from jwt.algorithms import get_default_algorithms

# Every algorithm the service can be configured to accept (CDS_JWT_ALGORITHMS, the trust file).
SUPPORTED_ALGORITHMS: Final = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
_EC_CURVES: Final = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
MIN_RSA_BITS: Final = 2048
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey

_ALGORITHMS: Final = {
    name: alg for name, alg in get_default_algorithms().items() if name in SUPPORTED_ALGORITHMS
}


class JwkError(ValueError):
    """A JWK that cannot be used for verification (the message says why, never key material)."""


def check_algorithms(names: tuple[str, ...] | list[str], where: str) -> frozenset[str]:
    """The configured algorithms, or ValueError naming the first one that is not acceptable."""
    if not names:
        raise ValueError(f"{where}: at least one algorithm is needed (ES384 and RS384 are recommended)")
    for name in names:
        if name.lower() == "none" or name.upper().startswith("HS"):
            raise ValueError(
                f"{where}: {name!r} is never accepted (CDS Hooks forbids none and symmetric keys)"
            )
        if name not in SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"{where}: {name!r} is not supported; use some of {sorted(SUPPORTED_ALGORITHMS)}"
            )
    return frozenset(names)


@dataclasses.dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    key: PublicKey
    alg: str | None  # the JWK's own "alg", if it names one: then only that algorithm may use the key

    def fits(self, alg: str) -> bool:
        """True when a token signed with ``alg`` may be checked with this key (family, curve, size)."""
        if self.alg is not None and self.alg != alg:
            return False
        key = self.key
        if alg in _EC_CURVES:
            return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _EC_CURVES[alg]
        if alg.startswith(("RS", "PS")):
            return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
        if alg == "EdDSA":
            return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
        return False

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """Signature check; False for any failure, whatever the library raises (it is not uniform)."""
        if alg not in _ALGORITHMS or not self.fits(alg):
            return False
        try:
            return bool(_ALGORITHMS[alg].verify(signing_input, self.key, signature))
        except Exception:  # PyJWT raises TypeError/ValueError for mismatches: a refusal, never a 500
            return False


def parse_jwk(jwk: Any) -> VerificationKey:
    """One JWK as a verification key. JwkError if it is not a usable public signing key."""
    if not isinstance(jwk, Mapping):
        raise JwkError("a key must be a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwkError("a key needs a non-empty string 'kid'")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise JwkError(f"key {kid!r} has use {use!r}, not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise JwkError(f"key {kid!r} has key_ops without 'verify'")
    kty = jwk.get("kty")
    if kty not in {"EC", "RSA", "OKP"}:
        raise JwkError(f"key {kid!r} has kty {kty!r}; only EC, RSA and OKP public keys are used")
    alg = jwk.get("alg")
    if alg is not None and alg not in SUPPORTED_ALGORITHMS:
        raise JwkError(f"key {kid!r} names algorithm {alg!r}, which is not accepted")
    if kty in {"EC", "RSA"} and "d" in jwk:
        raise JwkError(f"key {kid!r} contains private key material; publish only the public key")
    try:
        loaded: Any = PyJWK(dict(jwk)).key
    except Exception as exc:  # PyJWT raises several unrelated types for bad key data
        raise JwkError(f"key {kid!r} cannot be read: {type(exc).__name__}") from None
    if isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise JwkError(f"key {kid!r} contains private key material; publish only the public key")
    if isinstance(loaded, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise JwkError(f"key {kid!r} contains private key material; publish only the public key")
    if not isinstance(loaded, PublicKey):
        raise JwkError(f"key {kid!r} is not a public signing key")
    if isinstance(loaded, rsa.RSAPublicKey) and loaded.key_size < MIN_RSA_BITS:
        raise JwkError(f"key {kid!r} is an RSA key of {loaded.key_size} bits; at least {MIN_RSA_BITS}")
    return VerificationKey(kid=kid, key=loaded, alg=alg)


def parse_jwks(document: Any) -> tuple[dict[str, VerificationKey], list[str]]:
    """(usable keys by kid, reasons other keys were skipped). ValueError if it is not a JWK set."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWK set must be a JSON object with a 'keys' array")
    keys: dict[str, VerificationKey] = {}
    skipped: list[str] = []
    for jwk in document["keys"]:
        try:
            key = parse_jwk(jwk)
        except JwkError as exc:
            skipped.append(str(exc))
            continue
        if key.kid in keys:
            skipped.append(f"key {key.kid!r} appears twice; the first is used")
            continue
        keys[key.kid] = key
    return keys, skipped


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2). ValueError on anything else."""
    if _B64URL.fullmatch(segment) is None:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
