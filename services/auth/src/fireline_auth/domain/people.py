"""Tokens for people: the web UI's backend-for-frontend asserts who is logged in (RFC 7523).

Identity authenticates people (password, session cookie) and holds their tokens server-side; auth
issues those tokens. Identity is a confidential client here: it proves a person's live session
with a short JWT (the RFC 7523 §2.1 authorization grant) MACed with the secret the two services
share, and auth answers with an RFC 9068 access token whose ``sub`` is the person, ``sid`` their
session and scopes those of their role. Replaying an assertion within its minute of life only
yields another token for the same session, which the session's end refuses like the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import jwt

from fireline_auth.domain.errors import InvalidGrant
from fireline_contracts.scopes import ALL_SCOPES, INCIDENTS_READ, INCIDENTS_WRITE

JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_ALGORITHM: Final = "HS256"
MAX_ASSERTION_LIFETIME_S: Final = 60
"""An assertion is used the moment it is made; a longer one is refused (RFC 7523 §3, item 4)."""

ROLE_SCOPES: Final[Mapping[str, tuple[str, ...]]] = {
    # An admin manages integrations too; a member works on incidents.
    "admin": ALL_SCOPES,
    "member": (INCIDENTS_READ, INCIDENTS_WRITE),
}


@dataclass(frozen=True)
class UiClient:
    """The web UI's backend (identity) as a confidential client: its id and shared secret."""

    client_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"UiClient(client_id={self.client_id!r})"


@dataclass(frozen=True)
class Person:
    """Who an accepted assertion speaks for."""

    user_id: UUID
    org_id: UUID
    session_id: UUID
    scopes: tuple[str, ...]
    name: str | None = None
    """The display name, so what the person writes is signed with it (not a bare id)."""


def verify_assertion(assertion: str | None, *, client: UiClient, audience: str) -> Person:
    """The person of a valid assertion by ``client`` for ``audience`` (auth's issuer), or raise."""
    if not assertion:
        raise InvalidGrant("The assertion parameter is required.")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            client.secret,
            algorithms=[ASSERTION_ALGORITHM],
            audience=audience,
            issuer=client.client_id,
            leeway=5,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
    except jwt.InvalidTokenError:
        # One answer for every cause: the caller learns nothing about which check failed.
        raise InvalidGrant("The assertion is invalid or expired.") from None
    if int(claims["exp"]) - int(claims["iat"]) > MAX_ASSERTION_LIFETIME_S:
        raise InvalidGrant("The assertion lives too long.")
    scopes = ROLE_SCOPES.get(str(claims.get("role")))
    if scopes is None:
        raise InvalidGrant("The assertion names no known role.")
    try:
        return Person(
            user_id=UUID(str(claims["sub"])),
            org_id=UUID(str(claims.get("org_id"))),
            session_id=UUID(str(claims.get("sid"))),
            scopes=scopes,
            name=claims["name"] if isinstance(claims.get("name"), str) else None,
        )
    except ValueError:
        raise InvalidGrant("The assertion is invalid or expired.") from None
