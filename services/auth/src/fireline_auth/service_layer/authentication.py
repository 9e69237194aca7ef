"""Use case: client authentication, an API key proving itself, under the failed-attempt limit.

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

The address limit is ten times the client-id limit by default: every client behind one proxy
shares an address, so one client's mistakes must not use it up for the others. And a well-formed
id that names no key counts against nothing: a client that creates a key and polls the exchange
until auth has heard of it (tens of milliseconds) meets only that case, and guessing secrets of
a key that does not exist gains nothing.
"""

from __future__ import annotations

import logging
from uuid import UUID

from fireline_auth.domain import keys
from fireline_auth.domain.client_auth import ClientCredentials
from fireline_auth.domain.errors import ClientAuthMethod, InvalidClient, RateLimited
from fireline_auth.domain.keys import ApiKey
from fireline_auth.service_layer.context import AuthContext
from fireline_contracts import api_keys

log = logging.getLogger(__name__)

ADDRESS = "addr"
"""The limiter's kind for client addresses, which have a limit of their own."""


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


def parse_key_id(client_id: str) -> UUID | None:
    """The key id a client id names, or None when it cannot name one."""
    try:
        return UUID(client_id)
    except ValueError:
        return None


async def authenticate_client(
    *, ctx: AuthContext, credentials: ClientCredentials, client_address: str
) -> ApiKey:
    """The API key that ``credentials`` prove, or raise InvalidClient / RateLimited."""
    key_id = parse_key_id(credentials.client_id)
    address = [f"{ADDRESS}:{client_address}"]
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
        if stored is None:
            # Perhaps a key still on its way from identity (see the module docstring).
            raise InvalidClient(credentials.method)
        # Only keys that exist belong to an org whose audit log can show the attempts.
        ctx.exchange_failures.record(
            key_id=stored.key_id, org_id=stored.org_id, address=client_address, at=ctx.clock()
        )
        raise _fail(ctx, address=address, client=client, method=credentials.method)
    return key


async def authenticate_bare_key(*, ctx: AuthContext, key: str, client_address: str) -> ApiKey:
    """The API key whose secret is ``key`` (no client id: looked up by digest), or raise."""
    address = [f"{ADDRESS}:{client_address}"]
    _check_rate_limit(ctx, address)
    if not api_keys.is_well_formed(key):
        raise _fail(ctx, address=address, client=[], method=ClientAuthMethod.BARE_KEY)
    async with ctx.uow().reading() as uow:
        stored = await uow.api_keys.find_by_digest(api_keys.digest(key))
    found = keys.authenticate(key, stored, ctx.clock())
    if found is None:
        log.info("bare-key authentication failed")
        raise _fail(ctx, address=address, client=[], method=ClientAuthMethod.BARE_KEY)
    return found
