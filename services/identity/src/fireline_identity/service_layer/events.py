"""Building the events identity publishes, so every use case announces changes the same way.

The use cases hand these to ``UnitOfWork.publish``, which picks the topic.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fireline_contracts import (
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


def _user_payload(user: User) -> UserPayload:
    return UserPayload(
        user_id=user.id, email=user.email, name=user.name, role=user.role.value, active=user.active
    )


def user_created(user: User) -> UserCreated:
    return UserCreated(org_id=user.org_id, payload=_user_payload(user))


def user_updated(user: User) -> UserUpdated:
    return UserUpdated(org_id=user.org_id, payload=_user_payload(user))


def user_deactivated(user: User) -> UserDeactivated:
    return UserDeactivated(org_id=user.org_id, payload=_user_payload(user))


def _key_state(key: ApiKey, digest: str) -> dict[str, object]:
    """The key's whole state, as both KeyCreated and KeyRenamed carry it (never the secret)."""
    return {
        "key_id": key.id,
        "name": key.name,
        "digest": digest,
        "scopes": key.scopes,
        "expires_at": key.expires_at,
        "created_by": key.created_by,
        "created_at": key.created_at,
    }


def key_created(key: ApiKey, *, digest: str) -> KeyCreated:
    payload = KeyCreatedPayload.model_validate(_key_state(key, digest))
    return KeyCreated(org_id=key.org_id, payload=payload)


def key_renamed(key: ApiKey, *, digest: str) -> KeyRenamed:
    # The whole key, not just the name: once compaction drops the KeyCreated, this rename is all a
    # consumer rebuilding from the topic gets to see of the key.
    payload = KeyRenamedPayload.model_validate(_key_state(key, digest))
    return KeyRenamed(org_id=key.org_id, payload=payload)


def key_revoked(key: ApiKey, *, at: datetime, by: UUID | None) -> KeyRevoked:
    payload = KeyRevokedPayload(key_id=key.id, revoked_at=at, revoked_by=by)
    return KeyRevoked(org_id=key.org_id, payload=payload)
