"""The public CDS Hooks Sandbox (https://sandbox.cds-hooks.org) as a trusted client, for trying the
service out: ``cds-mbc trust-entry --sandbox`` prints this entry.

The key below is the Sandbox's published signing key, copied from the cds-hooks/sandbox repository,
file ``.well-known/jwks.json`` at commit c6cc0da41d06884e1ad4f5169c0bcffcd58192f6 (served at
https://sandbox.cds-hooks.org/.well-known/jwks.json). The Sandbox signs with ES384 under this ``kid``
(its src/retrieve-data-helpers/jwt-generator.js) and names that URL in every token's ``jku``.

Its private key is published in the same repository (keys/jwk-keypair.json): anyone can mint tokens
this key verifies, so trusting it proves nothing about the caller. For a test deployment only.
"""

from __future__ import annotations

from typing import Any, Final

SANDBOX_ISS: Final = "https://sandbox.cds-hooks.org"
SANDBOX_JKU: Final = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_KID: Final = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JWK: Final[dict[str, str]] = {
    "kty": "EC",
    "use": "sig",
    "crv": "P-384",
    "kid": SANDBOX_KID,
    "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
    "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
    "alg": "ES384",
}
SANDBOX_WARNING: Final = (
    "the CDS Hooks Sandbox's key is trusted (issuer {iss}): its private key is published, so anyone "
    "can mint tokens it verifies and they prove nothing about the caller. Use it only for a test "
    "deployment with test data."
)


def sandbox_trust_entry() -> dict[str, Any]:
    """The trust-file entry for the public Sandbox: its key inline, and its ``jku`` listed (the
    Sandbox sends a ``jku`` with every token; an unlisted ``jku`` is refused)."""
    return {
        "iss": SANDBOX_ISS,
        "name": "CDS Hooks Sandbox (public test client: its tokens prove nothing)",
        "jwks": {"keys": [dict(SANDBOX_JWK)]},
        "jku": [SANDBOX_JKU],
        "algorithms": ["ES384"],
    }


def uses_sandbox_key(static_kids: set[str] | frozenset[str], iss: str) -> bool:
    """True when an issuer entry trusts the Sandbox (its issuer name or its published key)."""
    return iss == SANDBOX_ISS or SANDBOX_KID in static_kids
