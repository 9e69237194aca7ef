"""Use case: token introspection (RFC 7662), verified against this replica's own key ring."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fireline_auth.domain.client_auth import ClientCredentials
from fireline_auth.domain.errors import InvalidRequest
from fireline_auth.domain.keys import ApiKey
from fireline_auth.service_layer.authentication import authenticate_client, parse_key_id
from fireline_auth.service_layer.context import AuthContext
from fireline_auth.service_layer.exchange import check_revocations_current
from fireline_contracts import api_keys
from fireline_runtime.jose import b64url_decode
from fireline_runtime.tokens import (
    DEFAULT_MAX_LIFETIME_S,
    InvalidToken,
    JwksCache,
    KeySetUnavailable,
    Principal,
    TokenVerifier,
)

INACTIVE: dict[str, Any] = {"active": False}


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
    """RFC 7662: whether ``token`` is active, for a caller of the same org; else only inactive.

    Under the same bound as the exchange: while the projection may miss a revocation, "active"
    could vouch for a revoked key's token, so the answer is a 503 instead.
    """
    check_revocations_current(ctx)
    caller = await authenticate_client(
        ctx=ctx, credentials=credentials, client_address=client_address
    )
    if token is None or token == "":
        raise InvalidRequest("The token parameter is required.")
    try:
        principal = await verifier.verify(token)
    except (InvalidToken, KeySetUnavailable):
        return dict(INACTIVE)
    if principal.org_id != caller.org_id or not await _key_usable(ctx, principal):
        return dict(INACTIVE)
    return _active_response(token)


async def _key_usable(ctx: AuthContext, principal: Principal) -> bool:
    """Whether the token's key is still usable (read from the projection, not the cache)."""
    key_id = parse_key_id(principal.key_id)
    if key_id is None:
        return False
    async with ctx.uow().reading() as uow:
        key = await uow.api_keys.get(key_id)
    if key is None or not key.usable_at(ctx.clock()):
        return False
    return _secret_still_valid(key, principal.secret_fingerprint, ctx.clock())


def _secret_still_valid(key: ApiKey, fingerprint: str | None, now: datetime) -> bool:
    """Whether the secret that bought the token still works: the key's current one, or the one
    a rotation replaced while its grace lasts. A token naming no secret predates the claim."""
    if fingerprint is None:
        return True
    if key.digest is not None and fingerprint == api_keys.secret_fingerprint(key.digest):
        return True
    return (
        key.previous_digest is not None
        and key.previous_valid_until is not None
        and now < key.previous_valid_until
        and fingerprint == api_keys.secret_fingerprint(key.previous_digest)
    )


def _active_response(token: str) -> dict[str, Any]:
    # The signature and iss/aud/exp were verified before; this only reads the remaining claims,
    # with the verifier's own canonical decoder (a second, laxer parser is how a token the
    # verifier refused could still be read, or one it accepted fail here with a 500).
    claims = json.loads(b64url_decode(token.split(".")[1]))
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
