"""The JOSE wire rules auth (which signs) and every verifier must agree on, written once.

Three signature algorithms: ``RS256`` (RSA, at least 2048 bits), ``ES256`` (P-256) and
``Ed25519`` (RFC 9864's fully-specified name for what RFC 8037 called ``EdDSA``). A key's type
decides its algorithm, never the token: a JWKS entry becomes a :class:`VerificationKey` that
names the only algorithms a token under its ``kid`` may claim, so no ``alg`` header can make an
RSA or EC public key act as an HMAC secret, or one curve's key verify another's signature.

``EdDSA`` is still accepted for Ed25519 keys: tokens signed before the fully-specified name was
used stay valid until they expire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
    load_der_public_key,
)

log = logging.getLogger(__name__)


class Algorithm(StrEnum):
    """A signing algorithm auth can be configured to use (``FIRELINE_TOKEN_SIGNING_ALG``)."""

    RS256 = "RS256"
    ES256 = "ES256"
    ED25519 = "Ed25519"


LEGACY_EDDSA: Final = "EdDSA"
"""RFC 8037's polymorphic name, deprecated by RFC 9864; verified for Ed25519 keys only."""

ALL_ALGORITHMS: Final = frozenset({*Algorithm, LEGACY_EDDSA})
"""Every ``alg`` a Fireline verifier may accept; the verifier's allow-list is a subset."""

RSA_MIN_BITS: Final = 2048
_RSA_GENERATED_BITS = 2048
_P256_COORDINATE_BYTES = 32

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Canonical base64url without padding (RFC 7515 §2); raises ValueError on anything else.

    Canonical means one spelling per byte string: no ``=``, only the URL-safe alphabet (Python's
    decoder also takes ``+`` and ``/`` when told ``-_`` are the alternatives) and the unused low
    bits of the last character zero (Python ignores them). Otherwise one token would have
    several spellings that all verify, and a cache, a deny list or another JOSE library keyed
    on the token's text would treat them as different tokens.
    """
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not canonical base64url")
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if b64url(decoded) != text:
        raise ValueError("non-zero unused bits in base64url")
    return decoded


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A published public key and the algorithms a token signed by it may name."""

    kid: str
    algorithms: frozenset[str]
    public_key: PublicKey

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``signing_input`` under ``alg``."""
        if alg not in self.algorithms:
            return False
        key = self.public_key
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(key, ec.EllipticCurvePublicKey):
                # JOSE carries r || s (RFC 7518 §3.4), not the DER structure cryptography wants.
                if len(signature) != 2 * _P256_COORDINATE_BYTES:
                    return False
                r = int.from_bytes(signature[:_P256_COORDINATE_BYTES], "big")
                s = int.from_bytes(signature[_P256_COORDINATE_BYTES:], "big")
                key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
            else:
                key.verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True


def verification_key(entry: Mapping[str, object]) -> VerificationKey | None:
    """The key a JWKS entry publishes, or None when it is not one Fireline may trust.

    Skipped: entries without a ``kid``, for another use than signatures, whose ``alg`` does not
    fit their key type, RSA keys under 2048 bits, other curves, and any entry carrying private
    members (a published private key is a leak on the signing side; using it would hide it).
    """
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
        return None
    if any(member in entry for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
        log.error("JWKS entry %s carries private key material; ignoring it", kid)
        return None
    try:
        found = _public_key(entry)
    except (ValueError, TypeError):
        log.warning("JWKS entry %s is not a valid public key; ignoring it", kid)
        return None
    if found is None:
        return None
    algorithms, key = found
    declared = entry.get("alg")
    if declared is not None and declared not in algorithms:
        return None
    return VerificationKey(kid, algorithms, key)


def _public_key(entry: Mapping[str, object]) -> tuple[frozenset[str], PublicKey] | None:
    kty = entry.get("kty")
    if kty == "RSA":
        n = int.from_bytes(b64url_decode(_text(entry, "n")), "big")
        e = int.from_bytes(b64url_decode(_text(entry, "e")), "big")
        if n.bit_length() < RSA_MIN_BITS:
            return None
        return frozenset({Algorithm.RS256}), rsa.RSAPublicNumbers(e, n).public_key()
    if kty == "EC" and entry.get("crv") == "P-256":
        x = int.from_bytes(b64url_decode(_text(entry, "x")), "big")
        y = int.from_bytes(b64url_decode(_text(entry, "y")), "big")
        return frozenset({Algorithm.ES256}), ec.EllipticCurvePublicNumbers(
            x, y, ec.SECP256R1()
        ).public_key()
    if kty == "OKP" and entry.get("crv") == "Ed25519":
        raw = Ed25519PublicKey.from_public_bytes(b64url_decode(_text(entry, "x")))
        return frozenset({Algorithm.ED25519, LEGACY_EDDSA}), raw
    return None


def _text(entry: Mapping[str, object], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {name}")
    return value


# --- signing ---------------------------------------------------------------------------------


def generate_private_key(alg: Algorithm) -> bytes:
    """A fresh private key for ``alg``, as PKCS#8 DER (what auth seals at rest)."""
    key: PrivateKey
    if alg is Algorithm.RS256:
        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_GENERATED_BITS)
    elif alg is Algorithm.ES256:
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


class SigningKey:
    """One private key and the algorithm it signs with; builds its JWK and its ``kid``."""

    def __init__(self, alg: Algorithm, private_key: PrivateKey) -> None:
        expected = {
            Algorithm.RS256: rsa.RSAPrivateKey,
            Algorithm.ES256: ec.EllipticCurvePrivateKey,
            Algorithm.ED25519: Ed25519PrivateKey,
        }[alg]
        if not isinstance(private_key, expected):
            raise ValueError(f"a {type(private_key).__name__} cannot sign {alg}")
        if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < RSA_MIN_BITS:
            raise ValueError(f"RSA keys must have at least {RSA_MIN_BITS} bits")
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ValueError("ES256 needs a P-256 key")
        self.alg = alg
        self._key = private_key

    @classmethod
    def from_der(cls, alg: Algorithm, der: bytes) -> SigningKey:
        key = load_der_private_key(der, password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey):
            raise ValueError(f"unsupported private key type {type(key).__name__}")
        return cls(alg, key)

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!s})"

    def public_members(self) -> dict[str, str]:
        """The JWK's public members (RFC 7517/7518/8037), the ones its thumbprint covers."""
        return public_members(self._key.public_key())

    def public_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo (what auth stores beside the sealed key)."""
        return self._key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256): a stable, unique ``kid``."""
        return thumbprint(self.public_members())

    def public_jwk(self, kid: str) -> dict[str, str]:
        """The JWKS entry: public members, ``kid``, ``use`` and ``alg``, never a private part."""
        return public_jwk(self.public_members(), kid, str(self.alg))

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of ``signing_input`` (RFC 7518 §3.3 / §3.4, RFC 8037 §3.1)."""
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return _int_bytes(r, _P256_COORDINATE_BYTES) + _int_bytes(s, _P256_COORDINATE_BYTES)
        return key.sign(signing_input)


# --- public keys at rest ---------------------------------------------------------------------


def public_members(public: PublicKey) -> dict[str, str]:
    """A public key's JWK members (RFC 7517/7518/8037), the ones its thumbprint covers."""
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        n, e = _int_bytes(numbers.n), _int_bytes(numbers.e)
        return {"kty": "RSA", "n": b64url(n), "e": b64url(e)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(_int_bytes(point.x, _P256_COORDINATE_BYTES)),
            "y": b64url(_int_bytes(point.y, _P256_COORDINATE_BYTES)),
        }
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def load_public_der(der: bytes) -> PublicKey:
    """A DER SubjectPublicKeyInfo of one of the three key types; ValueError for any other."""
    key = load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey):
        raise ValueError(f"unsupported public key type {type(key).__name__}")
    return key


def thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of a key's public members."""
    canonical = json.dumps(dict(members), separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(members: Mapping[str, str], kid: str, alg: str) -> dict[str, str]:
    """A JWKS entry: the public members, ``kid``, ``use: sig`` and ``alg``."""
    return {**members, "kid": kid, "use": "sig", "alg": alg}
