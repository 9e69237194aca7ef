"""Use cases: exchange an API key for an access token, and announce the key's use.

The hot path makes no database round trip for a key this replica has in memory
(``AuthContext.keys``) and whose use it announced within ``key_usage_interval_s``: the unit of
work is only entered for a bare-key lookup (by digest) and for the usage announcement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from fireline_auth.domain import people, scopes, tokens
from fireline_auth.domain.client_auth import ClientCredentials
from fireline_auth.domain.errors import (
    InvalidRequest,
    RevocationsUnavailable,
    SigningUnavailable,
    UnsupportedGrantType,
)
from fireline_auth.domain.keys import ApiKey
from fireline_auth.domain.tokens import IssuedToken
from fireline_auth.service_layer.authentication import authenticate_bare_key, authenticate_client
from fireline_auth.service_layer.context import AuthContext
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_contracts import KeyUsed, KeyUsedPayload

log = logging.getLogger(__name__)

GRANT_TYPE = "client_credentials"
_USAGE_CACHE_LIMIT = 100_000


def check_grant_type(grant_type: str | None) -> None:
    """Only the client-credentials grant exists here."""
    if grant_type is None or grant_type == "":
        raise InvalidRequest("The grant_type parameter is required.")
    if grant_type != GRANT_TYPE:
        raise UnsupportedGrantType("Only the client_credentials grant is supported.")


def check_revocations_current(ctx: AuthContext) -> None:
    """Exchange no key while the projection may miss a revocation older than the bound."""
    if ctx.keys_view is not None and not ctx.keys_view.vouches():
        raise RevocationsUnavailable()


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
    check_revocations_current(ctx)
    key = await authenticate_client(ctx=ctx, credentials=credentials, client_address=client_address)
    return await issue_token(ctx=ctx, key=key, requested_scope=scope)


async def exchange_bare_key(*, ctx: AuthContext, key: str, client_address: str) -> IssuedToken:
    """The Blameless-style exchange: the key alone buys a token with all of its scopes."""
    check_revocations_current(ctx)
    api_key = await authenticate_bare_key(ctx=ctx, key=key, client_address=client_address)
    return await issue_token(ctx=ctx, key=api_key, requested_scope=None)


def exchange_person_assertion(*, ctx: AuthContext, assertion: str | None) -> IssuedToken:
    """RFC 7523 §2.1: the UI's backend asserts a logged-in person; sign them a token."""
    client = ctx.ui_client
    if client is None:
        raise UnsupportedGrantType("Only the client_credentials grant is supported.")
    person = people.verify_assertion(assertion, client=client, audience=ctx.policy.issuer)
    return _sign(
        ctx,
        ctx.clock(),
        lambda issued_at: tokens.person_claims(
            person=person,
            client_id=client.client_id,
            issuer=ctx.policy.issuer,
            audience=ctx.policy.audience,
            issued_at=issued_at,
            lifetime_s=ctx.policy.lifetime_s,
            jti=str(uuid.uuid4()),
        ),
    )


async def issue_token(*, ctx: AuthContext, key: ApiKey, requested_scope: str | None) -> IssuedToken:
    """Sign an access token for ``key`` with the requested (or all of its) scopes."""
    granted = scopes.grant(scopes.parse_scope(requested_scope), key.scopes)
    now = ctx.clock()
    issued = _sign(
        ctx,
        now,
        lambda issued_at: tokens.claims(
            key=key,
            scopes=granted,
            issuer=ctx.policy.issuer,
            audience=ctx.policy.audience,
            issued_at=issued_at,
            lifetime_s=ctx.policy.lifetime_s,
            jti=str(uuid.uuid4()),
        ),
    )
    await _record_use(ctx, key, now)
    return issued


def _sign(
    ctx: AuthContext, now: datetime, claims_at: Callable[[int], dict[str, Any]]
) -> IssuedToken:
    """Sign the claims ``claims_at`` builds for the issue time, with the key that signs now."""
    signer = ctx.keyring.signer(now)
    if signer is None:
        raise SigningUnavailable()
    issued_at = int(now.timestamp())
    claims = claims_at(issued_at)
    return IssuedToken(
        access_token=signer.sign(claims),
        expires_in=max(int(claims["exp"]) - issued_at, 0),
        scope=claims["scope"],
        kid=signer.kid,
    )


async def _record_use(ctx: AuthContext, key: ApiKey, now: datetime) -> None:
    """Announce the key's use, at most once per interval (in-process check first, then the DB)."""
    interval = ctx.policy.key_usage_interval_s
    seen_as = (key.key_id, key.via_previous_secret)
    if _announced_within(ctx, seen_as, now, interval):
        return
    try:
        await announce_use(ctx.uow(), key=key, now=now, interval_s=interval)
    except Exception as exc:
        # Usage is bookkeeping; a client holding a valid token must not lose it over this.
        log.warning(
            "could not record key use", extra={"key_id": str(key.key_id), "error": repr(exc)}
        )
        return
    if len(ctx.usage_seen) >= _USAGE_CACHE_LIMIT:
        ctx.usage_seen.clear()
    ctx.usage_seen[seen_as] = now


def _announced_within(
    ctx: AuthContext, seen_as: tuple[UUID, bool], now: datetime, interval_s: float
) -> bool:
    seen = ctx.usage_seen.get(seen_as)
    return seen is not None and (now - seen).total_seconds() < interval_s


async def announce_use(uow: UnitOfWork, *, key: ApiKey, now: datetime, interval_s: float) -> bool:
    """Publish KeyUsed unless some replica announced the key within ``interval_s``; True if sent.

    A use of the secret a rotation replaced is announced apart (``previous_secret``), so identity
    hears of a machine still on the old secret even while others use the new one.
    """
    previous = key.via_previous_secret
    async with uow:
        claimed = await uow.key_usage.claim_emission(
            key_id=key.key_id, now=now, interval_s=interval_s, previous_secret=previous
        )
        if claimed:
            payload = KeyUsedPayload(
                key_id=key.key_id, used_at=now, previous_secret=True if previous else None
            )
            await uow.publish(KeyUsed(org_id=key.org_id, payload=payload))
    return claimed
