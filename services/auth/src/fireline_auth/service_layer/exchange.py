"""Use cases: exchange an API key for an access token, and introspect a token.

Client authentication does the same work whatever is wrong with the key (unknown, revoked,
expired, wrong secret, another key's id): one lookup (from memory once this replica has seen the
id, whether or not it names a key: ``CachedKeys``), one SHA-256 and one constant-time comparison,
then the same :class:`InvalidClient`. Only a malformed key (wrong prefix, length or
checksum) is refused before the lookup, which reveals nothing an attacker does not already know.

Rate limiting: failures count against the caller's address and against the client id, but only
the address is checked before the secret is. Key ids are not secret (every token carries one as
``sub``), so a client-id limit checked first would let anyone lock a key's owner out with a few
wrong secrets. A correct secret therefore always succeeds; a wrong one for a client id that has
already used up its failures is answered 429 instead of 401, which still stops guessing it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import jwt

from fireline_auth.adapters import key_projection, key_usage
from fireline_auth.domain import keys, scopes, tokens
from fireline_auth.domain.client_auth import ClientCredentials
from fireline_auth.domain.errors import (
    ClientAuthMethod,
    InvalidClient,
    InvalidRequest,
    RateLimited,
    SigningUnavailable,
    UnsupportedGrantType,
)
from fireline_auth.domain.keys import ApiKey
from fireline_auth.domain.tokens import IssuedToken
from fireline_auth.service_layer.context import AuthContext
from fireline_contracts import KEY_USAGE, KeyUsed, KeyUsedPayload, api_keys
from fireline_runtime.tokens import (
    DEFAULT_MAX_LIFETIME_S,
    InvalidToken,
    JwksCache,
    KeySetUnavailable,
    TokenVerifier,
)

log = logging.getLogger(__name__)

GRANT_TYPE = "client_credentials"
INACTIVE: dict[str, Any] = {"active": False}
_USAGE_CACHE_LIMIT = 100_000


def _check_rate_limit(ctx: AuthContext, identifiers: list[str]) -> None:
    retry_after = ctx.limiter.retry_after(identifiers)
    if retry_after is not None:
        raise RateLimited(retry_after)


def _fail(
    ctx: AuthContext,
    *,
    address: list[str],
    client: list[str],
    method: ClientAuthMethod,
) -> InvalidClient | RateLimited:
    """Record a failed authentication; RateLimited if the client id had no failures left."""
    # Judged before this failure is recorded so the client id gets the same budget as an address
    # (``limit`` failures answered 401, the next ones 429).
    exhausted = ctx.limiter.retry_after(client) is not None
    ctx.limiter.record_failure(address + client)
    if exhausted:
        return RateLimited(ctx.limiter.retry_after(client) or 1)
    return InvalidClient(method)


def _parse_key_id(client_id: str) -> UUID | None:
    try:
        return UUID(client_id)
    except ValueError:
        return None


async def authenticate_client(
    *, ctx: AuthContext, credentials: ClientCredentials, client_address: str
) -> ApiKey:
    """The API key that ``credentials`` prove, or raise InvalidClient / RateLimited."""
    key_id = _parse_key_id(credentials.client_id)
    address = [f"addr:{client_address}"]
    # Per client only for ids that can name a key: arbitrary strings would let a caller fill the
    # limiter's memory, and a non-id cannot be guessed into anything anyway.
    client = [f"client:{key_id}"] if key_id is not None else []
    # Only the address before verifying: the client id is public, so its bucket must never turn
    # away the key's owner (see the module docstring); _fail applies it to wrong secrets.
    _check_rate_limit(ctx, address)
    if key_id is None or not api_keys.is_well_formed(credentials.client_secret):
        raise _fail(ctx, address=address, client=client, method=credentials.method)
    stored = await ctx.keys.get(key_id)
    key = keys.authenticate(credentials.client_secret, stored, ctx.clock())
    if key is None:
        # The parsed id, never the raw client_id: a client that swapped id and secret would
        # otherwise have its key written to the log.
        log.info("client authentication failed", extra={"key_id": str(key_id)})
        raise _fail(ctx, address=address, client=client, method=credentials.method)
    return key


async def authenticate_bare_key(*, ctx: AuthContext, key: str, client_address: str) -> ApiKey:
    """The API key whose secret is ``key`` (no client id: looked up by digest), or raise."""
    address = [f"addr:{client_address}"]
    _check_rate_limit(ctx, address)
    if not api_keys.is_well_formed(key):
        raise _fail(ctx, address=address, client=[], method=ClientAuthMethod.BARE_KEY)
    async with ctx.pool.acquire() as conn:
        stored = await key_projection.find_by_digest(conn, api_keys.digest(key))
    found = keys.authenticate(key, stored, ctx.clock())
    if found is None:
        log.info("bare-key authentication failed")
        raise _fail(ctx, address=address, client=[], method=ClientAuthMethod.BARE_KEY)
    return found


async def _record_use(ctx: AuthContext, key: ApiKey, now: datetime) -> None:
    """Announce the key's use, at most once per interval (in-process check first, then the DB)."""
    interval = ctx.policy.key_usage_interval_s
    seen = ctx.usage_seen.get(key.key_id)
    if seen is not None and (now - seen).total_seconds() < interval:
        return
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            claimed = await key_usage.claim_emission(
                conn, key_id=key.key_id, now=now, interval_s=interval
            )
            if claimed:
                event = KeyUsed(
                    org_id=key.org_id, payload=KeyUsedPayload(key_id=key.key_id, used_at=now)
                )
                await ctx.outbox.add(conn, KEY_USAGE, event)
    except Exception as exc:
        # Usage is bookkeeping; a client holding a valid token must not lose it over this.
        log.warning(
            "could not record key use", extra={"key_id": str(key.key_id), "error": repr(exc)}
        )
        return
    if len(ctx.usage_seen) >= _USAGE_CACHE_LIMIT:
        ctx.usage_seen.clear()
    ctx.usage_seen[key.key_id] = now


async def issue_token(*, ctx: AuthContext, key: ApiKey, requested_scope: str | None) -> IssuedToken:
    """Sign an access token for ``key`` with the requested (or all of its) scopes."""
    granted = scopes.grant(scopes.parse_scope(requested_scope), key.scopes)
    now = ctx.clock()
    signer = ctx.keyring.signer(now)
    if signer is None:
        raise SigningUnavailable()
    issued_at = int(now.timestamp())
    claims = tokens.claims(
        key=key,
        scopes=granted,
        issuer=ctx.policy.issuer,
        audience=ctx.policy.audience,
        issued_at=issued_at,
        lifetime_s=ctx.policy.lifetime_s,
        jti=str(uuid.uuid4()),
    )
    token = signer.sign(claims)
    await _record_use(ctx, key, now)
    return IssuedToken(
        access_token=token,
        expires_in=max(int(claims["exp"]) - issued_at, 0),
        scope=claims["scope"],
        kid=signer.kid,
    )


def check_grant_type(grant_type: str | None) -> None:
    """Only the client-credentials grant exists here."""
    if grant_type is None or grant_type == "":
        raise InvalidRequest("The grant_type parameter is required.")
    if grant_type != GRANT_TYPE:
        raise UnsupportedGrantType("Only the client_credentials grant is supported.")


async def exchange_client_credentials(
    *,
    ctx: AuthContext,
    grant_type: str | None,
    credentials: ClientCredentials,
    scope: str | None,
    client_address: str,
) -> IssuedToken:
    """RFC 6749 §4.4: authenticate the client (an API key) and issue an access token."""
    check_grant_type(grant_type)
    key = await authenticate_client(ctx=ctx, credentials=credentials, client_address=client_address)
    return await issue_token(ctx=ctx, key=key, requested_scope=scope)


async def exchange_bare_key(*, ctx: AuthContext, key: str, client_address: str) -> IssuedToken:
    """The Blameless-style exchange: the key alone buys a token with all of its scopes."""
    api_key = await authenticate_bare_key(ctx=ctx, key=key, client_address=client_address)
    return await issue_token(ctx=ctx, key=api_key, requested_scope=None)


def local_verifier(ctx: AuthContext) -> TokenVerifier:
    """The shared verifier, reading this replica's own key ring instead of fetching the JWKS.

    No leeway: we issued the token, so "expired" is judged by our own clock. The lifetime bound
    is raised to our own TTL when that is longer, so introspection never disowns our own tokens.
    """

    async def own_jwks() -> object:
        return ctx.keyring.jwks(ctx.clock())

    cache = JwksCache(own_jwks, min_refetch_interval_s=0, max_age_s=0)
    return TokenVerifier(
        cache,
        issuer=ctx.policy.issuer,
        audience=ctx.policy.audience,
        leeway_s=0,
        max_lifetime_s=max(ctx.policy.lifetime_s, DEFAULT_MAX_LIFETIME_S),
        clock=lambda: ctx.clock().timestamp(),
    )


async def introspect(
    *,
    ctx: AuthContext,
    verifier: TokenVerifier,
    credentials: ClientCredentials,
    token: str | None,
    client_address: str,
) -> dict[str, Any]:
    """RFC 7662: whether ``token`` is active, for a caller of the same org; else only inactive."""
    caller = await authenticate_client(
        ctx=ctx, credentials=credentials, client_address=client_address
    )
    if token is None or token == "":
        raise InvalidRequest("The token parameter is required.")
    try:
        principal = await verifier.verify(token)
    except (InvalidToken, KeySetUnavailable):
        return dict(INACTIVE)
    if principal.org_id != caller.org_id:
        return dict(INACTIVE)
    async with ctx.pool.acquire() as conn:
        key_id = _parse_key_id(principal.key_id)
        key = await key_projection.get(conn, key_id) if key_id is not None else None
    if key is None or not key.usable_at(ctx.clock()):
        return dict(INACTIVE)
    # The signature and iss/aud/exp were verified above; this only reads the remaining claims.
    claims = jwt.decode(token, options={"verify_signature": False})
    return {
        "active": True,
        "scope": claims["scope"],
        "client_id": claims["client_id"],
        "sub": claims["sub"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": claims["iss"],
        "aud": claims["aud"],
        "token_type": "Bearer",
        "org_id": claims["org_id"],
        "jti": claims["jti"],
    }
