"""Issued tokens follow RFC 9068 and pass the shared verifier every other service uses, for
every signing algorithm, and for Ed25519 keys stored before the other algorithms existed."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from fireline_auth.adapters.crypto import Signer, public_jwk, signing_key
from fireline_auth.domain import tokens
from fireline_auth.domain.keys import ApiKey
from fireline_auth.domain.signing import new_signing_key
from fireline_contracts import api_keys
from fireline_runtime import jose
from fireline_runtime.tokens import InvalidToken, JwksCache, TokenVerifier

NOW = 1_700_000_000
ISSUER = "https://auth.fireline.test"
AUDIENCE = "fireline-api"


def api_key(expires_at: datetime | None = None) -> ApiKey:
    return ApiKey(
        key_id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        name="ci",
        digest="0" * 64,
        scopes=("incidents:read", "incidents:write"),
        expires_at=expires_at,
        revoked_at=None,
    )


def build(key: ApiKey, scopes: tuple[str, ...] = ("incidents:read",)) -> dict[str, object]:
    return tokens.claims(
        key=key,
        scopes=scopes,
        issuer=ISSUER,
        audience=AUDIENCE,
        issued_at=NOW,
        lifetime_s=900,
        jti="jti-1",
    )


def test_claims_name_the_key_as_subject_and_client() -> None:
    key = api_key()
    claims = build(key)
    assert claims == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(key.key_id),
        "client_id": str(key.key_id),
        "org_id": str(key.org_id),
        "scope": "incidents:read",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "jti-1",
        "sfp": api_keys.secret_fingerprint("0" * 64),
    }


def test_the_token_names_the_secret_that_bought_it() -> None:
    current = api_key()
    old = replace(current, digest="1" * 64, previous_digest="0" * 64, via_previous_secret=True)
    assert build(current)["sfp"] == api_keys.secret_fingerprint("0" * 64)
    assert build(old)["sfp"] == api_keys.secret_fingerprint("0" * 64), "bought with the old one"
    assert build(replace(old, via_previous_secret=False))["sfp"] == api_keys.secret_fingerprint(
        "1" * 64
    )
    assert api_keys.secret_fingerprint("0" * 64) != api_keys.secret_fingerprint("1" * 64)


def test_a_key_expiring_soon_caps_the_token() -> None:
    key = api_key(expires_at=datetime.fromtimestamp(NOW + 60, UTC))
    assert build(key)["exp"] == NOW + 60
    later = api_key(expires_at=datetime.fromtimestamp(NOW, UTC) + timedelta(days=1))
    assert build(later)["exp"] == NOW + 900


ALGORITHMS = [pytest.param(alg, id=str(alg)) for alg in jose.Algorithm]


def stored(algorithm: str) -> tuple[str, bytes, Signer]:
    """(kid, stored public key, signer) as the key ring builds them from a stored row."""
    if algorithm == jose.LEGACY_EDDSA:
        # A row from before RS256/ES256: raw key halves, kid the thumbprint of the OKP JWK.
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kid = jose.thumbprint({"kty": "OKP", "crv": "Ed25519", "x": jose.b64url(public)})
        return kid, public, Signer(kid, algorithm, signing_key(algorithm, raw))
    key = new_signing_key(jose.Algorithm(algorithm))
    return (
        key.kid,
        key.public_key,
        Signer(key.kid, algorithm, signing_key(algorithm, key.private_key)),
    )


def verifier_of(jwks: dict[str, object], **options: object) -> TokenVerifier:
    async def fetch() -> object:
        return jwks

    return TokenVerifier(
        JwksCache(fetch),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=lambda: NOW + 10.0,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("algorithm", [*ALGORITHMS, pytest.param("EdDSA", id="legacy-EdDSA")])
def test_header_is_the_access_token_profile(algorithm: str) -> None:
    kid, _, signer = stored(algorithm)
    token = signer.sign(build(api_key()))
    assert jwt.get_unverified_header(token) == {"alg": algorithm, "typ": "at+jwt", "kid": kid}


@pytest.mark.parametrize("algorithm", [*ALGORITHMS, pytest.param("EdDSA", id="legacy-EdDSA")])
async def test_the_shared_verifier_accepts_our_tokens(algorithm: str) -> None:
    kid, public, signer = stored(algorithm)
    key = api_key()
    token = signer.sign(build(key, ("incidents:read", "incidents:write")))
    jwk = public_jwk(kid, algorithm, public)
    assert jwk["alg"] == algorithm
    assert jwk["use"] == "sig"
    assert (
        jwk["kid"]
        == kid
        == jose.thumbprint({k: v for k, v in jwk.items() if k not in ("kid", "use", "alg")})
    )

    principal = await verifier_of({"keys": [jwk]}).verify(token)
    assert principal.key_id == str(key.key_id)
    assert principal.org_id == key.org_id
    assert principal.scopes == {"incidents:read", "incidents:write"}
    assert principal.jti == "jti-1"
    assert principal.expires_at == NOW + 900


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_jwks_entry_has_no_private_member(algorithm: jose.Algorithm) -> None:
    kid, public, _ = stored(algorithm)
    assert set(public_jwk(kid, algorithm, public)) <= {
        "kty",
        "crv",
        "n",
        "e",
        "x",
        "y",
        "kid",
        "use",
        "alg",
    }


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_verifier_whose_allow_list_lacks_the_algorithm_refuses_it(
    algorithm: jose.Algorithm,
) -> None:
    kid, public, signer = stored(algorithm)
    token = signer.sign(build(api_key()))
    others = frozenset(jose.ALL_ALGORITHMS - {algorithm})
    verifier = verifier_of({"keys": [public_jwk(kid, algorithm, public)]}, algorithms=others)
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await verifier.verify(token)


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    public = base64.urlsafe_b64decode(x + "=")
    jwk = public_jwk("kid", "EdDSA", public)
    members = {k: jwk[k] for k in ("kty", "crv", "x")}
    assert jose.thumbprint(members) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
