"""Access tokens for logged-in people, obtained from auth and kept here, never in the browser.

Identity is the web UI's backend-for-frontend: for each live session it asserts the person to auth
(RFC 7523 JWT bearer grant, MACed with the secret the two services share) and keeps the access
token auth returns in this process's memory, keyed by session id, until shortly before it expires.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import httpx
import jwt

from fireline_identity.domain.errors import UpstreamUnavailable
from fireline_identity.domain.sessions import SessionUser

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 60
# A token this close to expiry is replaced first, so one never expires between here and the API.
RENEW_BEFORE_S = 60
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class _Held:
    token: str
    expires_at: float


class PeopleTokens:
    """Gets and caches people's access tokens from auth's token endpoint."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        token_url: str,
        audience: str,
        client_id: str,
        secret: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._audience = audience
        self._client_id = client_id
        self._secret = secret
        self._clock = clock
        self._held: dict[UUID, _Held] = {}

    async def token_for(self, user: SessionUser) -> str:
        """A current access token for ``user``'s session; asks auth only when none is held."""
        now = self._clock()
        held = self._held.get(user.session_id)
        if held is not None and held.expires_at - now > RENEW_BEFORE_S:
            return held.token
        try:
            response = await self._client.post(
                self._token_url,
                data={"grant_type": JWT_BEARER, "assertion": self._assertion(user, now)},
            )
        except httpx.HTTPError:
            raise UpstreamUnavailable("auth did not answer") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"auth refused the session's token: {response.status_code}")
        body = response.json()
        if len(self._held) >= _CACHE_LIMIT:
            # Oldest first: sessions that asked longest ago are the likeliest to be gone.
            del self._held[next(iter(self._held))]
        self._held[user.session_id] = _Held(body["access_token"], now + int(body["expires_in"]))
        return str(body["access_token"])

    def forget(self, session_id: UUID) -> None:
        """Drop a session's token (it was refused): the next call asks auth afresh."""
        self._held.pop(session_id, None)

    def _assertion(self, user: SessionUser, now: float) -> str:
        issued_at = int(now)
        return jwt.encode(
            {
                "iss": self._client_id,
                "aud": self._audience,
                "sub": str(user.user_id),
                "org_id": str(user.org_id),
                "sid": str(user.session_id),
                "role": str(user.role),
                "name": user.name,
                "iat": issued_at,
                "exp": issued_at + ASSERTION_LIFETIME_S,
                "jti": str(uuid.uuid4()),
            },
            self._secret,
            algorithm="HS256",
        )
