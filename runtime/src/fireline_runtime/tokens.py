"""Access-token verification: the one verifier every token-taking Fireline service uses.

Tokens are RFC 9068 JWT access tokens signed by the auth service (RS256, ES256 or Ed25519, see
:mod:`fireline_runtime.jose`) whose public keys it publishes as a JWKS. Verification here is
transport-free: it raises :class:`InvalidToken` (or :class:`KeySetUnavailable`) and
:mod:`fireline_runtime.http_auth` turns those into HTTP errors.

Order of checks matters: the header's ``alg``/``typ``/``kid`` are checked before any key is looked
up, so a token naming another algorithm (``none``, ``HS256`` keyed with our public key, ...) never
reaches a key or the network; and the ``alg`` must then be one the key's own type allows, so a
token cannot choose how a key is used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from fireline_contracts.api_keys import SECRET_FINGERPRINT_CLAIM
from fireline_runtime.jose import ALL_ALGORITHMS, VerificationKey, b64url_decode, verification_key

ALGORITHMS: frozenset[str] = ALL_ALGORITHMS
"""What a verifier accepts unless told otherwise (``FIRELINE_TOKEN_ALGORITHMS``)."""
TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a credential

# RFC 9068 §4: "at+jwt", compared case-insensitively, with or without the "application/" prefix.
_ACCEPTED_TYPS = frozenset({TOKEN_TYP, f"application/{TOKEN_TYP}"})
_REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti")
_FIRELINE_CLAIMS = ("client_id", "org_id", "scope")
# Our tokens are a few hundred bytes; refusing huge ones bounds the work an anonymous caller causes.
MAX_TOKEN_LENGTH = 8192
# The auth service issues tokens for 900 s by default. Refusing anything that claims to live much
# longer bounds what a leaked signing key can mint: its tokens die within this long of their "iat"
# once the key is rotated out, instead of whenever the forger chose.
DEFAULT_MAX_LIFETIME_S = 3600

JwksFetcher = Callable[[], Awaitable[object]]
"""Returns the parsed JWKS document; async because it is network I/O on the request path."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The caller an access token speaks for: one API key of one org, or one person logged in
    to the web UI (through the UI's client), with granted scopes."""

    key_id: str
    """The OAuth client the token was issued to: an API key id, or the web UI's client id."""
    org_id: UUID
    """Checked when the token is verified: a token whose org is not a UUID is no token at all,
    answered 401 by every service alike."""
    scopes: frozenset[str]
    jti: str
    expires_at: int
    user_id: UUID | None = None
    """The person (``sub``) of a token issued for a logged-in user; None for an API key's."""
    session_id: UUID | None = None
    """The person's identity session (``sid``): its end refuses the token everywhere."""
    name: str | None = None
    """The person's display name (``name``), if the token carries one."""
    issued_at: float = 0.0
    secret_fingerprint: str | None = None
    """Which of the key's secrets bought the token (``fireline_contracts.api_keys``); None in
    tokens issued before auth named it."""

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class InvalidToken(Exception):
    """The token must not be honoured; ``reason`` is short and safe to send to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeySetUnavailable(Exception):
    """The signing keys could not be fetched, so the token can be neither accepted nor refused."""

    def __init__(self) -> None:
        super().__init__("token signing keys are unavailable")


class JwksCache:
    """The public keys of the auth service's JWKS, cached by ``kid``.

    Keys are refreshed when the cached set is older than ``max_age_s`` and when a token names a
    ``kid`` we do not know (key rotation), but never more often than ``min_refetch_interval_s``,
    so a stream of tokens with made-up ``kid`` values cannot turn into a stream of fetches.
    Concurrent refreshes share one fetch.
    """

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        min_refetch_interval_s: float = 30.0,
        max_age_s: float = 300.0,
        fetch_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_refetch_interval_s < 0 or max_age_s < min_refetch_interval_s:
            raise ValueError("need 0 <= min_refetch_interval_s <= max_age_s")
        self._fetch = fetch
        self._min_refetch_interval_s = min_refetch_interval_s
        self._max_age_s = max_age_s
        self._fetch_timeout_s = fetch_timeout_s
        self._clock = clock
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_attempt_ok = False
        self._in_flight: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls,
        client: httpx.AsyncClient,
        jwks_url: str,
        *,
        min_refetch_interval_s: float = 30.0,
        max_age_s: float = 300.0,
        fetch_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> JwksCache:
        """A cache that GETs ``jwks_url`` with ``client``; the client is owned by the caller."""

        async def fetch() -> object:
            response = await client.get(jwks_url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()

        return cls(
            fetch,
            min_refetch_interval_s=min_refetch_interval_s,
            max_age_s=max_age_s,
            fetch_timeout_s=fetch_timeout_s,
            clock=clock,
        )

    async def key_for(self, kid: str) -> VerificationKey | None:
        """The public key for ``kid``, or None if the auth service does not publish it.

        Raises :class:`KeySetUnavailable` when the key is unknown and the last fetch failed, since
        then we cannot tell a forged ``kid`` from a new signing key.
        """
        if self._is_stale():
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            await self._refresh()
            key = self._keys.get(kid)
        if key is None and not self._last_attempt_ok:
            raise KeySetUnavailable()
        return key

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age_s

    async def _refresh(self) -> None:
        """Join the fetch in flight, or start one unless the last attempt is too recent."""
        if self._in_flight is None:
            now = self._clock()
            if (
                self._attempted_at is not None
                and now - self._attempted_at < self._min_refetch_interval_s
            ):
                return
            self._attempted_at = now
            self._in_flight = asyncio.create_task(self._fetch_keys())
        # Shielded: a caller that gives up (client disconnect) must not cancel the shared fetch.
        await asyncio.shield(self._in_flight)

    async def _fetch_keys(self) -> None:
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                document = await self._fetch()
            keys = _signature_keys(document)
        except Exception as exc:
            # Keep serving the keys we have: tokens signed with them stay valid only until their
            # short expiry, and the auth service being down must not refuse them early.
            logger.warning("JWKS refresh failed: %s: %s", type(exc).__name__, exc)
            self._last_attempt_ok = False
        else:
            if not keys:
                logger.warning("JWKS has no usable signing key")
            self._keys = keys
            self._fetched_at = self._attempted_at
            self._last_attempt_ok = True
        finally:
            self._in_flight = None


def _signature_keys(document: object) -> dict[str, VerificationKey]:
    """The signature keys of a JWKS document; an entry we cannot trust is skipped, never used."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS document has no 'keys' list")
    keys: dict[str, VerificationKey] = {}
    for entry in document["keys"]:
        if isinstance(entry, Mapping) and (key := verification_key(entry)) is not None:
            keys[key.kid] = key
    return keys


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    kid: str
    key: VerificationKey
    claims: Mapping[str, Any]


class TokenVerifier:
    """Checks an access token's signature and claims and returns the :class:`Principal`.

    ``max_lifetime_s`` refuses tokens whose ``exp - iat`` exceeds it (plus the leeway); it must be
    at least the auth service's token lifetime (``FIRELINE_TOKEN_TTL_S``). None disables the check.
    """

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        max_lifetime_s: int | None = DEFAULT_MAX_LIFETIME_S,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
        algorithms: frozenset[str] = ALGORITHMS,
    ) -> None:
        if not algorithms or not algorithms <= ALL_ALGORITHMS:
            raise ValueError(f"algorithms must be a non-empty subset of {sorted(ALL_ALGORITHMS)}")
        self._jwks = jwks
        self._algorithms = algorithms
        # token -> what verifying it established. A signature check and the token's parsing cost
        # a fifth of an authenticated read (BENCHMARKS.md), and a client sends the same token for
        # up to an hour. Revocation is checked after this by the caller, on every request.
        self._verified: dict[str, _Verified] = {}
        self._cache_size = cache_size
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._max_lifetime_s = max_lifetime_s
        self._clock = clock

    async def verify(self, token: str) -> Principal:
        """Raise :class:`InvalidToken` unless ``token`` is a current access token for us."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed token")
        seen = self._verified.get(token)
        if seen is not None:
            # The same bytes verified before; only what changes with time is judged again: the
            # clock, and whether the signing key is still the one published under its kid.
            if await self._jwks.key_for(seen.kid) is seen.key:
                try:
                    self._check_times(seen.claims)
                except InvalidToken:
                    del self._verified[token]
                    raise
                return seen.principal
            del self._verified[token]
        principal, verified = await self._verify_uncached(token)
        if len(self._verified) >= self._cache_size:
            # Oldest first (dicts keep insertion order): a client reuses its token until it
            # expires, so the oldest entries are the ones closest to expiry.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = verified
        return principal

    async def _verify_uncached(self, token: str) -> tuple[Principal, _Verified]:
        encoded_header, encoded_claims, signature = _split(token)
        header = _json_object(encoded_header)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken("algorithm not allowed")
        if "crit" in header:
            # RFC 7515 §4.1.11: extensions we do not understand make the token unusable.
            raise InvalidToken("unsupported critical header")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPS:
            # RFC 9068 §4: a JWT of another type (an ID token, say) is not an access token.
            raise InvalidToken("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("missing key id")

        key = await self._jwks.key_for(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        if alg not in key.algorithms:
            # The key's type decides its algorithm; a token naming another is forged.
            raise InvalidToken("algorithm does not match key")
        if not key.verify(alg, f"{encoded_header}.{encoded_claims}".encode(), signature):
            raise InvalidToken("bad signature")

        claims = self._check_claims(_json_object(encoded_claims))
        self._check_times(claims)
        subject = _string_claim(claims, "sub")
        client_id = _string_claim(claims, "client_id")
        user_id = session_id = None
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        if "sid" in claims:
            # A person's token (RFC 9068 §2.2: sub is the resource owner, client_id the UI's
            # client); its session decides how long it may be used.
            user_id = _uuid_claim(claims, "sub")
            session_id = _uuid_claim(claims, "sid")
        elif client_id != subject:
            # Client-credentials tokens name the client as their subject (RFC 9068 §2.2); a
            # mismatch means the token was not minted by our exchange.
            raise InvalidToken("sub and client_id differ")
        scope = claims["scope"]
        if not isinstance(scope, str):
            raise InvalidToken("invalid claim scope")
        principal = Principal(
            key_id=client_id,
            org_id=_uuid_claim(claims, "org_id"),
            scopes=frozenset(s for s in scope.split(" ") if s),
            jti=_string_claim(claims, "jti"),
            expires_at=int(claims["exp"]),
            user_id=user_id,
            session_id=session_id,
            name=name,
            issued_at=_numeric_date(claims, "iat"),
            secret_fingerprint=_optional_string_claim(claims, SECRET_FINGERPRINT_CLAIM),
        )
        return principal, _Verified(principal, kid, key, claims)

    def _check_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        # Only fixed reasons leave here: a claim's value may be anything the caller wrote.
        for claim in _REQUIRED_CLAIMS:
            if claims.get(claim) is None:
                raise InvalidToken(f"missing claim {claim}")
        for name in ("exp", "iat"):
            _numeric_date(claims, name)
        if claims["iss"] != self._issuer:
            raise InvalidToken("wrong issuer")
        audience = claims["aud"]
        audiences = audience if isinstance(audience, list) else [audience]
        if self._audience not in audiences:
            raise InvalidToken("wrong audience")
        for claim in _FIRELINE_CLAIMS:
            if claims.get(claim) is None:
                raise InvalidToken(f"missing claim {claim}")
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        expires = _numeric_date(claims, "exp")
        if expires <= now - self._leeway_s:
            raise InvalidToken("token expired")
        issued = _numeric_date(claims, "iat")
        if issued > now + self._leeway_s:
            raise InvalidToken("token issued in the future")
        if self._max_lifetime_s is not None and expires - issued > (
            self._max_lifetime_s + self._leeway_s
        ):
            # Only a leaked signing key (or a misconfigured issuer) produces these; see
            # DEFAULT_MAX_LIFETIME_S.
            raise InvalidToken("token lifetime too long")
        if "nbf" in claims and _numeric_date(claims, "nbf") > now + self._leeway_s:
            raise InvalidToken("token not yet valid")


def _split(token: str) -> tuple[str, str, bytes]:
    """A compact JWS's header, claims (both still encoded) and decoded signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    try:
        return parts[0], parts[1], b64url_decode(parts[2])
    except ValueError:
        raise InvalidToken("malformed token") from None


def _json_object(encoded: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(encoded))
    except ValueError:  # bad base64url, bad UTF-8 and bad JSON alike
        raise InvalidToken("malformed token") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    # bool is an int subclass, and NaN/inf compare in ways that would defeat the checks.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"invalid claim {name}")
    return float(value)


def _uuid_claim(claims: Mapping[str, Any], name: str) -> UUID:
    try:
        return UUID(_string_claim(claims, name))
    except ValueError:
        raise InvalidToken(f"invalid claim {name}") from None


def _optional_string_claim(claims: Mapping[str, Any], name: str) -> str | None:
    return _string_claim(claims, name) if name in claims else None


def _string_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"invalid claim {name}")
    return value
