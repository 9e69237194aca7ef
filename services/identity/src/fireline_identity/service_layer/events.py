"""Building the events identity publishes, so every use case announces changes the same way."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fireline_contracts import (
    KEYS,
    USERS,
    KeyCreated,
    KeyCreatedPayload,
    KeyRenamed,
    KeyRenamedPayload,
    KeyRevoked,
    KeyRevokedPayload,
    UserCreated,
    UserDeactivated,
    UserPayload,
    UserUpdated,
)
from fireline_identity.domain.keys import ApiKey
from fireline_identity.domain.users import User
from fireline_identity.service_layer.unit_of_work import Transaction


def _user_payload(user: User) -> UserPayload:
    return UserPayload(
        user_id=user.id, email=user.email, name=user.name, role=user.role.value, active=user.active
    )


async def user_created(tx: Transaction, user: User) -> None:
    await tx.emit(USERS, UserCreated(org_id=user.org_id, payload=_user_payload(user)))


async def user_updated(tx: Transaction, user: User) -> None:
    await tx.emit(USERS, UserUpdated(org_id=user.org_id, payload=_user_payload(user)))


async def user_deactivated(tx: Transaction, user: User) -> None:
    await tx.emit(USERS, UserDeactivated(org_id=user.org_id, payload=_user_payload(user)))


async def key_created(tx: Transaction, key: ApiKey, *, digest: str) -> None:
    payload = KeyCreatedPayload(
        key_id=key.id,
        name=key.name,
        digest=digest,
        scopes=key.scopes,
        expires_at=key.expires_at,
        created_by=key.created_by,
        created_at=key.created_at,
    )
    await tx.emit(KEYS, KeyCreated(org_id=key.org_id, payload=payload))


async def key_renamed(tx: Transaction, key: ApiKey, *, digest: str) -> None:
    # The whole key, not just the name: once compaction drops the KeyCreated, this rename is all a
    # consumer rebuilding from the topic gets to see of the key.
    payload = KeyRenamedPayload(
        key_id=key.id,
        name=key.name,
        digest=digest,
        scopes=key.scopes,
        expires_at=key.expires_at,
        created_by=key.created_by,
        created_at=key.created_at,
    )
    await tx.emit(KEYS, KeyRenamed(org_id=key.org_id, payload=payload))


async def key_revoked(tx: Transaction, key: ApiKey, *, at: datetime, by: UUID | None) -> None:
    payload = KeyRevokedPayload(key_id=key.id, revoked_at=at, revoked_by=by)
    await tx.emit(KEYS, KeyRevoked(org_id=key.org_id, payload=payload))
