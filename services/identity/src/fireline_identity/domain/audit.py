"""The audit log: append-only entries of security-relevant changes, and how they are queried.

An entry is built from one event on Kafka and keyed by that event's id, so a redelivered event
adds nothing. Entries are never updated; only retention deletes them. An entry's ``details`` hold
names, emails, scopes, counts and addresses, never a secret, digest or ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from fireline_identity.domain.errors import InvalidInput

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DEFAULT_RETENTION = timedelta(days=365)


class ActorType(StrEnum):
    """Who made a change: an admin, an API key, GitHub's secret scanning, or Fireline itself."""

    USER = "user"
    KEY = "key"
    SECRET_SCANNER = "secret_scanner"  # noqa: S105 - a kind of actor, not a credential
    SYSTEM = "system"


class AuditAction(StrEnum):
    KEY_CREATED = "key.created"
    KEY_RENAMED = "key.renamed"
    KEY_ROTATED = "key.rotated"
    KEY_REVOKED = "key.revoked"
    KEY_EXCHANGE_FAILED = "key.exchange_failed"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DEACTIVATED = "user.deactivated"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    SESSION_REVOKED = "session.revoked"
    INTEGRATION_CREATED = "integration.created"
    INTEGRATION_CHANGED = "integration.changed"
    INTEGRATION_SECRETS_ROTATED = "integration.signing_secrets_rotated"
    INTEGRATION_DELETED = "integration.deleted"
    WEBHOOK_ENDPOINT_CREATED = "webhook_endpoint.created"
    WEBHOOK_ENDPOINT_CHANGED = "webhook_endpoint.changed"
    WEBHOOK_ENDPOINT_SECRET_ROTATED = "webhook_endpoint.secret_rotated"  # noqa: S105 - an action
    WEBHOOK_ENDPOINT_DELETED = "webhook_endpoint.deleted"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: UUID | None = None

    @classmethod
    def user_or_system(cls, user_id: UUID | None) -> Actor:
        return cls(ActorType.USER, user_id) if user_id is not None else cls(ActorType.SYSTEM)


@dataclass(frozen=True)
class Target:
    type: str
    id: UUID


@dataclass(frozen=True)
class AuditEntry:
    id: UUID
    """The id of the event the entry was built from."""
    org_id: UUID
    occurred_at: datetime
    action: AuditAction
    actor: Actor
    target: Target
    address: str | None = None
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ended, in the log's order (newest first, ties broken by id)."""

    occurred_at: datetime
    id: UUID


@dataclass(frozen=True)
class AuditFilter:
    """What to show; each field left as None does not narrow the result."""

    actor_type: ActorType | None = None
    actor_id: UUID | None = None
    action: AuditAction | None = None
    target_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AuditFilter:
        """Validate the API's filters; :class:`InvalidInput` names the bad one."""
        actor_type, actor_id = _parse_actor(actor)
        if action is not None and action not in set(AuditAction):
            raise InvalidInput("action", f"unknown action; one of {', '.join(AuditAction)}")
        if since is not None and until is not None and since > until:
            raise InvalidInput("since", "must not be after until")
        return cls(
            actor_type=actor_type,
            actor_id=actor_id,
            action=AuditAction(action) if action is not None else None,
            target_id=_parse_uuid(target, "target"),
            since=since,
            until=until,
        )

    def fingerprint(self, org_id: UUID) -> str:
        """Binds a cursor to the org and filters it was issued for."""
        text = repr((org_id, self))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _parse_actor(raw: str | None) -> tuple[ActorType | None, UUID | None]:
    # An id names a user or a key (ids never collide); a word names a kind of actor.
    if raw is None:
        return None, None
    if raw in {ActorType.SECRET_SCANNER, ActorType.SYSTEM}:
        return ActorType(raw), None
    return None, _parse_uuid(raw, "actor")


def _parse_uuid(raw: str | None, field: str) -> UUID | None:
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        hint = "an id, secret_scanner or system" if field == "actor" else "an id"
        raise InvalidInput(field, f"must be {hint}") from None


def page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    return limit


def encode_cursor(position: Position, fingerprint: str) -> str:
    raw = json.dumps([position.occurred_at.isoformat(), str(position.id), fingerprint])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> Position:
    """The position a cursor names; refused when it is garbled or was issued for another org
    or other filters (it would silently skip or repeat entries)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, entry_id, issued_for = json.loads(base64.urlsafe_b64decode(padded))
        position = Position(occurred_at=datetime.fromisoformat(at), id=UUID(entry_id))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("cursor", "not a cursor this API issued") from None
    if issued_for != fingerprint:
        raise InvalidInput("cursor", "issued for another org or other filters")
    return position
