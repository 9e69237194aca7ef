"""Building the events identity publishes, so every use case announces changes the same way.

The use cases hand these to ``UnitOfWork.publish``, which picks the topic.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fireline_contracts import keys as keys_events
from fireline_contracts import sessions as sessions_events
from fireline_contracts import users as users_events
from fireline_identity.domain.keys import ApiKey, Revocation, Secrets
from fireline_identity.domain.sessions import RevokedSession
from fireline_identity.domain.users import User

# Every event names who caused it (``by``, a user id; None for bootstrap and the CLI): the audit
# log is built from these events alone.


def _user_payload(user: User, by: UUID | None) -> users_events.UserPayload:
    return users_events.UserPayload(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role.value,
        active=user.active,
        changed_by=by,
    )


def user_created(user: User, *, by: UUID | None) -> users_events.UserCreated:
    return users_events.UserCreated(org_id=user.org_id, payload=_user_payload(user, by))


def user_updated(user: User, *, by: UUID | None) -> users_events.UserUpdated:
    return users_events.UserUpdated(org_id=user.org_id, payload=_user_payload(user, by))


def user_deactivated(user: User, *, by: UUID | None) -> users_events.UserDeactivated:
    return users_events.UserDeactivated(org_id=user.org_id, payload=_user_payload(user, by))


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


def key_created(key: ApiKey, *, digest: str) -> keys_events.KeyCreated:
    payload = keys_events.KeyCreatedPayload.model_validate(_key_state(key, digest))
    return keys_events.KeyCreated(org_id=key.org_id, payload=payload)


def _whole_key(key: ApiKey, secrets: Secrets) -> dict[str, object]:
    """The key's state with the digests of its live secrets: what lets one event rebuild it."""
    return {
        **_key_state(key, secrets.digest),
        "previous_digest": secrets.previous_digest,
        "previous_valid_until": secrets.previous_valid_until,
    }


def key_renamed(key: ApiKey, *, secrets: Secrets, by: UUID | None) -> keys_events.KeyRenamed:
    # The whole key, not just the name: once compaction drops the KeyCreated (or KeyRotated), this
    # rename is all a consumer rebuilding from the topic gets to see of the key, grace included.
    payload = keys_events.KeyRenamedPayload.model_validate(
        {**_whole_key(key, secrets), "renamed_by": by}
    )
    return keys_events.KeyRenamed(org_id=key.org_id, payload=payload)


def key_rotated(key: ApiKey, *, secrets: Secrets, by: UUID | None) -> keys_events.KeyRotated:
    if key.rotated_at is None:
        raise ValueError("a rotated key has a rotation time")
    # The whole key again: on the compacted topic this may become the key's only event.
    payload = keys_events.KeyRotatedPayload.model_validate(
        {**_whole_key(key, secrets), "rotated_at": key.rotated_at, "rotated_by": by}
    )
    return keys_events.KeyRotated(org_id=key.org_id, payload=payload)


def key_revoked(key: ApiKey, revocation: Revocation) -> keys_events.KeyRevoked:
    payload = keys_events.KeyRevokedPayload(
        key_id=key.id,
        revoked_at=revocation.at,
        revoked_by=revocation.by,
        reason=revocation.reason.value,
        report_url=revocation.report_url,
    )
    return keys_events.KeyRevoked(org_id=key.org_id, payload=payload)


def login_succeeded(
    user: User, *, session_id: UUID, address: str
) -> sessions_events.LoginSucceeded:
    payload = sessions_events.LoginSucceededPayload(
        user_id=user.id, email=user.email, session_id=session_id, address=address
    )
    return sessions_events.LoginSucceeded(org_id=user.org_id, payload=payload)


def login_failed(user: User, *, address: str) -> sessions_events.LoginFailed:
    payload = sessions_events.LoginFailedPayload(user_id=user.id, email=user.email, address=address)
    return sessions_events.LoginFailed(org_id=user.org_id, payload=payload)


def session_revoked(
    session: RevokedSession, *, reason: Literal["logout", "user_deactivated"], by: UUID | None
) -> sessions_events.SessionRevoked:
    payload = sessions_events.SessionRevokedPayload(
        user_id=session.user_id, session_id=session.id, reason=reason, revoked_by=by
    )
    return sessions_events.SessionRevoked(org_id=session.org_id, payload=payload)
