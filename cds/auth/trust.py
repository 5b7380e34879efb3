"""The trust file (CDS_TRUST_FILE): which CDS clients may call, and where their keys are.

Read once at start-up. Any problem stops start-up with a message naming the file and the field, the way
the rule loader does; nothing is silently skipped, because a half-read trust file is a security bug.

Format (docs/security.md has the full description)::

    {"issuers": [
      {"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks.json",
       "jku": ["https://ehr.example.org/keys/2026.json"], "tenants": ["hospital-a"],
       "algorithms": ["RS384"]},
      {"iss": "https://other.example.org", "jwks": {"keys": [...]}}
    ]}
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from cds.auth.keys import JwkError, VerificationKey, check_algorithms, parse_jwk
from cds.errors import ConfigFileError

_ISSUER_FIELDS = frozenset({"iss", "jwks_url", "jwks", "jku", "tenants", "algorithms", "name"})
_LOOPBACK_NAMES = frozenset({"localhost"})


class TrustFileError(ConfigFileError):
    """The trust file is missing or invalid."""


@dataclasses.dataclass(frozen=True, slots=True)
class TrustedIssuer:
    iss: str
    jwks_url: str | None
    static_keys: Mapping[str, VerificationKey]
    jku: frozenset[str]  # URLs a token's `jku` header may name (jwks_url is always allowed)
    tenants: frozenset[str] | None  # None: the issuer has no tenants and `tenant` is not checked
    algorithms: frozenset[str]
    name: str

    def allows_jku(self, url: str) -> bool:
        return url in self.jku or url == self.jwks_url


@dataclasses.dataclass(frozen=True, slots=True)
class TrustStore:
    file: str
    issuers: Mapping[str, TrustedIssuer]

    def get(self, iss: object) -> TrustedIssuer | None:
        return self.issuers.get(iss) if isinstance(iss, str) else None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_url(url: object) -> str:
    """A URL keys may be fetched from: https, or http on loopback only (tests, a local EHR simulator)."""
    if not isinstance(url, str) or not url:
        raise ValueError("must be a non-empty string URL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ValueError("must be an absolute URL")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("must not contain credentials or a fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return url
    raise ValueError(
        "must be https (plain http only for a loopback host), or keys could be swapped in transit"
    )


class _Reader:
    def __init__(self, file: str, allowed_algorithms: frozenset[str]) -> None:
        self.file = file
        self.allowed = allowed_algorithms

    def fail(self, field: str, problem: str) -> TrustFileError:
        return TrustFileError(self.file, field, problem)

    def strings(self, value: object, field: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(field, "must be a list of non-empty strings")
        return list(value)

    def issuer(self, entry: object, at: str) -> TrustedIssuer:
        if not isinstance(entry, dict):
            raise self.fail(at, "must be a JSON object")
        unknown = sorted(set(entry) - _ISSUER_FIELDS)
        if unknown:
            raise self.fail(f"{at}.{unknown[0]}", f"unknown field; known fields are {sorted(_ISSUER_FIELDS)}")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss.strip() or iss != iss.strip():
            raise self.fail(f"{at}.iss", "must be the issuer's URI, a non-empty string without spaces")
        jwks_url: str | None = None
        if "jwks_url" in entry:
            try:
                jwks_url = check_key_url(entry["jwks_url"])
            except ValueError as exc:
                raise self.fail(f"{at}.jwks_url", str(exc)) from None
        jku: list[str] = []
        if "jku" in entry:
            for i, url in enumerate(self.strings(entry["jku"], f"{at}.jku")):
                try:
                    jku.append(check_key_url(url))
                except ValueError as exc:
                    raise self.fail(f"{at}.jku[{i}]", str(exc)) from None
        static: dict[str, VerificationKey] = {}
        if "jwks" in entry:
            jwks = entry["jwks"]
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
                raise self.fail(f"{at}.jwks", "must be a JWK set: an object with a non-empty 'keys' array")
            for i, jwk in enumerate(jwks["keys"]):
                try:
                    key = parse_jwk(jwk)
                except JwkError as exc:
                    raise self.fail(f"{at}.jwks.keys[{i}]", str(exc)) from None
                if key.kid in static:
                    raise self.fail(f"{at}.jwks.keys[{i}].kid", f"{key.kid!r} appears twice")
                static[key.kid] = key
        if jwks_url is None and not jku and not static:
            raise self.fail(at, "needs 'jwks_url', 'jwks' or 'jku': there is no way to find its keys")
        tenants: frozenset[str] | None = None
        if "tenants" in entry:
            names = self.strings(entry["tenants"], f"{at}.tenants")
            if not names:
                raise self.fail(f"{at}.tenants", "an empty list would refuse every token; leave it out")
            tenants = frozenset(names)
        algorithms = self.allowed
        if "algorithms" in entry:
            names = self.strings(entry["algorithms"], f"{at}.algorithms")
            try:
                algorithms = check_algorithms(names, f"{at}.algorithms")
            except ValueError as exc:
                raise self.fail(f"{at}.algorithms", str(exc).split(": ", 1)[-1]) from None
            extra = sorted(algorithms - self.allowed)
            if extra:
                raise self.fail(
                    f"{at}.algorithms", f"{extra} not in CDS_JWT_ALGORITHMS {sorted(self.allowed)}"
                )
        name = entry.get("name", iss)
        if not isinstance(name, str):
            raise self.fail(f"{at}.name", "must be a string")
        return TrustedIssuer(
            iss=iss,
            jwks_url=jwks_url,
            static_keys=static,
            jku=frozenset(jku),
            tenants=tenants,
            algorithms=algorithms,
            name=name,
        )

    def document(self, data: Any) -> TrustStore:
        if not isinstance(data, dict):
            raise self.fail("(top level)", 'must be a JSON object like {"issuers": [...]}')
        unknown = sorted(set(data) - {"issuers"})
        if unknown:
            raise self.fail(unknown[0], "unknown field; the file has one field, 'issuers'")
        entries = data.get("issuers")
        if not isinstance(entries, list) or not entries:
            raise self.fail("issuers", "must be a non-empty list of trusted CDS clients")
        issuers: dict[str, TrustedIssuer] = {}
        for i, entry in enumerate(entries):
            issuer = self.issuer(entry, f"issuers[{i}]")
            if issuer.iss in issuers:
                raise self.fail(f"issuers[{i}].iss", f"{issuer.iss!r} is listed twice")
            issuers[issuer.iss] = issuer
        return TrustStore(file=self.file, issuers=issuers)


def load_trust_file(path: Path, allowed_algorithms: frozenset[str]) -> TrustStore:
    """Read and check the trust file. TrustFileError (naming file and field) on any problem."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TrustFileError(file, "CDS_TRUST_FILE", f"cannot be read: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TrustFileError(file, "(file)", f"is not valid JSON: {exc.msg}") from None
    return _Reader(file, allowed_algorithms).document(data)
