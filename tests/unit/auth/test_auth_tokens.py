"""Issued tokens follow RFC 9068 and pass the shared verifier every other service uses."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from fireline_auth.adapters.crypto import Signer, new_key_pair, public_jwk, thumbprint
from fireline_auth.domain import tokens
from fireline_auth.domain.keys import ApiKey
from fireline_runtime.tokens import JwksCache, TokenVerifier

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
    }


def test_a_key_expiring_soon_caps_the_token() -> None:
    key = api_key(expires_at=datetime.fromtimestamp(NOW + 60, UTC))
    assert build(key)["exp"] == NOW + 60
    later = api_key(expires_at=datetime.fromtimestamp(NOW, UTC) + timedelta(days=1))
    assert build(later)["exp"] == NOW + 900


def test_header_is_the_access_token_profile() -> None:
    private, public = new_key_pair()
    kid = thumbprint(public)
    token = Signer(kid, private).sign(build(api_key()))
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}


async def test_the_shared_verifier_accepts_our_tokens() -> None:
    private, public = new_key_pair()
    kid = thumbprint(public)
    key = api_key()
    token = Signer(kid, private).sign(build(key, ("incidents:read", "incidents:write")))

    async def fetch() -> object:
        return {"keys": [public_jwk(kid, public)]}

    verifier = TokenVerifier(
        JwksCache(fetch), issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW + 10.0
    )
    principal = await verifier.verify(token)
    assert principal.key_id == str(key.key_id)
    assert principal.org_id == key.org_id
    assert principal.scopes == {"incidents:read", "incidents:write"}
    assert principal.jti == "jti-1"
    assert principal.expires_at == NOW + 900


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    public = base64.urlsafe_b64decode(x + "=")
    assert thumbprint(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
