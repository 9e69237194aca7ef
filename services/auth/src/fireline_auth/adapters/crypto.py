"""Cryptography: signing keys of each algorithm, their JWKs and JWT signing.

Keys at rest are sealed by the runtime's :class:`~fireline_runtime.secret_box.SecretBox`; the JOSE
rules themselves are :mod:`fireline_runtime.jose`.

Two storage formats exist. Keys created since RS256 and ES256 were added store a PKCS#8 private
key and a SubjectPublicKeyInfo public key (DER), whatever their algorithm. Keys created before are
Ed25519 with both halves raw (32 bytes each); their rows say ``EdDSA``, and they keep signing under
that name, so a verifier not yet upgraded to RFC 9864's ``Ed25519`` still accepts their tokens
during a rolling upgrade.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fireline_auth.domain import tokens
from fireline_runtime import jose


def _is_legacy(algorithm: str) -> bool:
    return algorithm == jose.LEGACY_EDDSA


def public_jwk(kid: str, algorithm: str, public_key: bytes) -> dict[str, str]:
    """The JWKS entry of a stored signing key (never any private member)."""
    public: jose.PublicKey = (
        Ed25519PublicKey.from_public_bytes(public_key)
        if _is_legacy(algorithm)
        else jose.load_public_der(public_key)
    )
    return jose.public_jwk(jose.public_members(public), kid, algorithm)


def signing_key(algorithm: str, private_key: bytes) -> jose.SigningKey:
    """The key a stored (and already opened) private key signs with."""
    if _is_legacy(algorithm):
        raw = Ed25519PrivateKey.from_private_bytes(private_key)
        return jose.SigningKey(jose.Algorithm.ED25519, raw)
    return jose.SigningKey.from_der(jose.Algorithm(algorithm), private_key)


class Signer:
    """Signs access tokens with one private key, under the ``alg`` its row names."""

    def __init__(self, kid: str, algorithm: str, key: jose.SigningKey) -> None:
        self.kid = kid
        self.algorithm = algorithm
        self._key = key
        # The header never changes for a key, so it is encoded once. The compact serialisation
        # below is RFC 7515 §7.1 written out; PyJWT's encode re-checks and re-serialises the
        # header on every call (27 µs against 34 µs per token here; the signature is ~20 of it).
        self._header_b64 = _b64url_bytes(orjson.dumps(tokens.header(kid, algorithm)))

    def __repr__(self) -> str:
        return f"Signer(kid={self.kid!r}, algorithm={self.algorithm!r})"

    def sign(self, token_claims: dict[str, Any]) -> str:
        signing_input = self._header_b64 + b"." + _b64url_bytes(orjson.dumps(token_claims))
        return (signing_input + b"." + _b64url_bytes(self._key.sign(signing_input))).decode()


def _b64url_bytes(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")
