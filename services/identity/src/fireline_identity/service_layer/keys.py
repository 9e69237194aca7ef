"""Use cases for API keys: create (within the per-org limit), list, rename, rotate, revoke, use."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from fireline_contracts import api_keys, utc_now
from fireline_identity.domain.errors import (
    KeyAlreadyRevoked,
    KeyExpired,
    KeyLimitReached,
    NotFound,
)
from fireline_identity.domain.keys import (
    GRACE_PERIOD_DEFAULT_MINUTES,
    MAX_ACTIVE_KEYS_PER_ORG,
    ApiKey,
    KeyStatus,
    NewKey,
    NewSecret,
    Revocation,
    check_expiry,
    grace_end,
    has_room_for_another_key,
    normalize_key_name,
    normalize_scopes,
)
from fireline_identity.domain.permissions import Action, ensure_allowed
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.service_layer import events
from fireline_identity.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyListing:
    key: ApiKey
    status: KeyStatus
    in_grace: bool = False
    """A rotation's replaced secret still works (judged at the same instant as ``status``)."""

    @classmethod
    def at(cls, key: ApiKey, now: datetime) -> KeyListing:
        return cls(key=key, status=key.status(now), in_grace=key.in_grace(now))


async def create_key(
    *,
    uow: UnitOfWork,
    actor: SessionUser,
    name: str,
    scopes: Sequence[str] | None = None,
    expires_at: datetime | None = None,
) -> NewKey:
    """Generate a key for the actor's org; its secret is returned here and never again."""
    ensure_allowed(actor.role, Action.CREATE_KEY)
    now = utc_now()
    clean_name = normalize_key_name(name)
    clean_scopes = normalize_scopes(scopes)
    check_expiry(expires_at, now=now)
    secret = api_keys.generate()
    key = ApiKey(
        id=uuid.uuid4(),
        org_id=actor.org_id,
        name=clean_name,
        hint=api_keys.hint(secret),
        scopes=clean_scopes,
        created_at=now,
        created_by=actor.user_id,
        expires_at=expires_at,
        revoked_at=None,
        last_used_at=None,
    )
    digest = api_keys.digest(secret)
    async with uow:
        # Lock first, then count: concurrent creates in one org queue here, so the count each
        # one sees includes every key committed before it.
        await uow.orgs.lock(actor.org_id)
        if not has_room_for_another_key(await uow.keys.count_active(actor.org_id, now)):
            raise KeyLimitReached(MAX_ACTIVE_KEYS_PER_ORG)
        await uow.keys.insert(key, digest=digest)
        await uow.publish(events.key_created(key, digest=digest))
    log.info("api key created", extra={"key_id": str(key.id), "by": str(actor.user_id)})
    return NewKey(key=key, secret=secret)


async def list_keys(
    *, uow: UnitOfWork, actor: SessionUser, include_revoked: bool = False
) -> list[KeyListing]:
    """The org's active keys, newest first; with ``include_revoked``, revoked and expired too."""
    ensure_allowed(actor.role, Action.LIST_KEYS)
    now = utc_now()
    async with uow.reading():
        found = await uow.keys.list_for_org(
            org_id=actor.org_id, include_inactive=include_revoked, now=now
        )
    return [KeyListing.at(k, now) for k in found]


async def rename_key(
    *, uow: UnitOfWork, actor: SessionUser, key_id: uuid.UUID, name: str
) -> KeyListing:
    """Give a key a new name (KeyRenamed); revoked keys are frozen for audit."""
    ensure_allowed(actor.role, Action.RENAME_KEY)
    clean_name = normalize_key_name(name)
    now = utc_now()
    async with uow:
        key = await _locked_key(uow, actor, key_id)
        if key.revoked_at is not None:
            # On a compacted topic the last event per key wins; a rename after the revocation
            # would hide the KeyRevoked from anyone rebuilding from the topic.
            raise KeyAlreadyRevoked("a revoked key cannot be renamed")
        if key.name != clean_name:
            key = replace(key, name=clean_name)
            secrets = await uow.keys.rename(key.id, clean_name)
            await uow.publish(
                events.key_renamed(key, secrets=secrets.live_at(now), by=actor.user_id)
            )
    log.info("api key renamed", extra={"key_id": str(key.id), "by": str(actor.user_id)})
    return KeyListing.at(key, now)


async def rotate_key(
    *,
    uow: UnitOfWork,
    actor: SessionUser,
    key_id: uuid.UUID,
    grace_period_minutes: int = GRACE_PERIOD_DEFAULT_MINUTES,
) -> NewKey:
    """Give a key a new secret (KeyRotated), returned here and never again; the old secret keeps
    working for the grace period. A rotation during a grace period ends the older grace at once,
    so at most two secrets are ever live. Not a new key: the key limit does not apply."""
    ensure_allowed(actor.role, Action.ROTATE_KEY)
    now = utc_now()
    previous_valid_until = grace_end(grace_period_minutes, now=now)
    secret = api_keys.generate()
    async with uow:
        key = await _locked_key(uow, actor, key_id)
        if key.revoked_at is not None:
            raise KeyAlreadyRevoked("a revoked key cannot be rotated")
        if key.status(now) is KeyStatus.EXPIRED:
            raise KeyExpired("an expired key cannot be rotated; create a new one")
        secrets = await uow.keys.rotate(
            key.id,
            NewSecret(
                digest=api_keys.digest(secret),
                hint=api_keys.hint(secret),
                at=now,
                by=actor.user_id,
                previous_valid_until=previous_valid_until,
            ),
        )
        key = replace(
            key,
            hint=api_keys.hint(secret),
            rotated_at=now,
            previous_valid_until=previous_valid_until,
            previous_used_at=None,
        )
        await uow.publish(events.key_rotated(key, secrets=secrets, by=actor.user_id))
    log.info(
        "api key rotated",
        extra={"key_id": str(key.id), "by": str(actor.user_id), "grace_min": grace_period_minutes},
    )
    return NewKey(key=key, secret=secret)


async def revoke_key(*, uow: UnitOfWork, actor: SessionUser, key_id: uuid.UUID) -> None:
    """Revoke a key (KeyRevoked); the row stays for audit. Revoking twice changes nothing."""
    ensure_allowed(actor.role, Action.REVOKE_KEY)
    now = utc_now()
    async with uow:
        key = await _locked_key(uow, actor, key_id)
        if key.revoked_at is not None:
            return
        revocation = Revocation(at=now, by=actor.user_id)
        await uow.keys.revoke(key.id, revocation)
        await uow.publish(events.key_revoked(key, revocation))
    log.info("api key revoked", extra={"key_id": str(key.id), "by": str(actor.user_id)})


async def record_key_use(
    *,
    uow: UnitOfWork,
    org_id: uuid.UUID,
    key_id: uuid.UUID,
    used_at: datetime,
    previous_secret: bool = False,
) -> bool:
    """Move the key's ``last_used_at`` forward; unknown keys and older reports are ignored. A use
    of the secret a rotation replaced is remembered too, so the list can show it."""
    async with uow:
        moved = await uow.keys.record_use(org_id=org_id, key_id=key_id, used_at=used_at)
        if previous_secret:
            moved = (
                await uow.keys.record_previous_secret_use(
                    org_id=org_id, key_id=key_id, used_at=used_at
                )
                or moved
            )
        return moved


async def count_active_keys_by_org(*, uow: UnitOfWork) -> dict[uuid.UUID, int]:
    """Active keys of every org that has any, now (for the metrics)."""
    async with uow.reading():
        return await uow.keys.count_active_by_org(utc_now())


async def _locked_key(uow: UnitOfWork, actor: SessionUser, key_id: uuid.UUID) -> ApiKey:
    """The caller's org's key, locked until the transaction ends; another org's is not found."""
    key = await uow.keys.get(org_id=actor.org_id, key_id=key_id, for_update=True)
    if key is None:
        raise NotFound("API key")
    return key
