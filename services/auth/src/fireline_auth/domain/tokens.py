"""Access tokens (RFC 9068 JWT profile): header and claims of what the exchange issues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fireline_auth.domain.keys import ApiKey
from fireline_auth.domain.people import Person
from fireline_auth.domain.scopes import format_scope
from fireline_contracts import api_keys

TOKEN_TYPE = "at+jwt"  # noqa: S105 - the RFC 9068 media type, not a credential


@dataclass(frozen=True)
class IssuedToken:
    """The exchange's result. ``repr`` hides the token."""

    access_token: str
    expires_in: int
    scope: str
    kid: str

    def __repr__(self) -> str:
        return f"IssuedToken(kid={self.kid!r}, expires_in={self.expires_in}, scope={self.scope!r})"


def header(kid: str, algorithm: str) -> dict[str, str]:
    """The JOSE header: the signing key's algorithm, the access-token type and the key."""
    return {"alg": algorithm, "typ": TOKEN_TYPE, "kid": kid}


def claims(
    *,
    key: ApiKey,
    scopes: tuple[str, ...],
    issuer: str,
    audience: str,
    issued_at: int,
    lifetime_s: int,
    jti: str,
) -> dict[str, Any]:
    """The token's claims. A key that expires sooner than the lifetime caps the token's ``exp``."""
    expires_at = issued_at + lifetime_s
    if key.expires_at is not None:
        expires_at = min(expires_at, int(key.expires_at.timestamp()))
    secret = key.previous_digest if key.via_previous_secret else key.digest
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(key.key_id),
        "client_id": str(key.key_id),
        "org_id": str(key.org_id),
        "scope": format_scope(scopes),
        "iat": issued_at,
        "exp": expires_at,
        "jti": jti,
        # Which secret bought the token, so every service can refuse it once a rotation retires
        # that secret (runtime.revocation.RetiredSecrets).
        **(
            {api_keys.SECRET_FINGERPRINT_CLAIM: api_keys.secret_fingerprint(secret)}
            if secret
            else {}
        ),
    }


def person_claims(
    *,
    person: Person,
    client_id: str,
    issuer: str,
    audience: str,
    issued_at: int,
    lifetime_s: int,
    jti: str,
) -> dict[str, Any]:
    """A person's token: ``sub`` is the person (RFC 9068 §2.2), ``sid`` the session that ends it,
    and ``name`` (OpenID Connect's claim) how the timeline names them."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": str(person.user_id),
        "client_id": client_id,
        "sid": str(person.session_id),
        "org_id": str(person.org_id),
        "scope": format_scope(person.scopes),
        "iat": issued_at,
        "exp": issued_at + lifetime_s,
        "jti": jti,
    }
    if person.name:
        claims["name"] = person.name
    return claims
