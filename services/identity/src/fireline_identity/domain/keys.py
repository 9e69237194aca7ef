"""API keys as the product promises them: names, scopes, status and the per-org limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from fireline_contracts.scopes import ALL_SCOPES
from fireline_identity.domain.errors import InvalidInput
from fireline_identity.domain.names import trimmed_name

MAX_ACTIVE_KEYS_PER_ORG = 10
NAME_MAX_LENGTH = 64
SCOPES = ALL_SCOPES
GRACE_PERIOD_MAX_MINUTES = 1440
"""A day, as Rootly allows: long enough to roll a secret out to machines deployed once a day."""
GRACE_PERIOD_DEFAULT_MINUTES = 30


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class RevocationReason(StrEnum):
    REVOKED = "revoked"
    """An admin revoked the key."""
    LEAKED = "leaked"
    """A secret-scanning report found the key's secret in public."""


def normalize_key_name(raw: str) -> str:
    """A key name: 1-64 characters after trimming."""
    return trimmed_name(raw, NAME_MAX_LENGTH)


def normalize_scopes(requested: Sequence[str] | None) -> tuple[str, ...]:
    """The key's scopes in canonical order; all of them when none are asked for."""
    if requested is None:
        return SCOPES
    unknown = sorted(set(requested) - set(SCOPES))
    if unknown:
        raise InvalidInput("scopes", f"unknown scope(s) {', '.join(unknown)}; allowed: {SCOPES}")
    if not requested:
        raise InvalidInput("scopes", "must name at least one scope (omit it for all)")
    return tuple(scope for scope in SCOPES if scope in requested)


def check_expiry(expires_at: datetime | None, *, now: datetime) -> None:
    """An expiry, when given, must be a time-zone-aware instant in the future."""
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise InvalidInput("expires_at", "must include a time zone offset")
    if expires_at <= now:
        raise InvalidInput("expires_at", "must be in the future")


def status_of(
    *, revoked_at: datetime | None, expires_at: datetime | None, now: datetime
) -> KeyStatus:
    """Revocation wins over expiry; a key expires at the instant ``expires_at`` is reached."""
    if revoked_at is not None:
        return KeyStatus.REVOKED
    if expires_at is not None and expires_at <= now:
        return KeyStatus.EXPIRED
    return KeyStatus.ACTIVE


def has_room_for_another_key(active_keys: int) -> bool:
    return active_keys < MAX_ACTIVE_KEYS_PER_ORG


def grace_end(grace_period_minutes: int, *, now: datetime) -> datetime | None:
    """Until when a rotated-out secret keeps working; None when it stops at once (0 minutes)."""
    if not 0 <= grace_period_minutes <= GRACE_PERIOD_MAX_MINUTES:
        raise InvalidInput("grace_period_minutes", f"must be 0-{GRACE_PERIOD_MAX_MINUTES} minutes")
    return now + timedelta(minutes=grace_period_minutes) if grace_period_minutes else None


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: everything but the secret and its digest."""

    id: UUID
    org_id: UUID
    name: str
    hint: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: UUID | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    revoked_reason: RevocationReason | None = None
    revoked_report_url: str | None = None
    """Where a secret scanner found the key's secret (``LEAKED`` only)."""
    rotated_at: datetime | None = None
    """The latest rotation, if the key was ever rotated."""
    previous_valid_until: datetime | None = None
    """When the secret the latest rotation replaced stops working; None without grace period."""
    previous_used_at: datetime | None = None
    """The replaced secret's latest use after the rotation, as auth reported it."""

    def status(self, now: datetime) -> KeyStatus:
        return status_of(revoked_at=self.revoked_at, expires_at=self.expires_at, now=now)

    def in_grace(self, now: datetime) -> bool:
        """Whether a rotation's replaced secret still works: the rotation is in progress."""
        return (
            self.status(now) is KeyStatus.ACTIVE
            and self.previous_valid_until is not None
            and now < self.previous_valid_until
        )


@dataclass(frozen=True)
class Secrets:
    """A key's secret digests: the current one and, during a grace period, the replaced one."""

    digest: str
    previous_digest: str | None = None
    previous_valid_until: datetime | None = None

    def __repr__(self) -> str:
        # Digests stay out of logs and tracebacks.
        return f"Secrets(previous_valid_until={self.previous_valid_until})"

    def live_at(self, now: datetime) -> Secrets:
        """These secrets with a replaced one whose grace ended dropped: events carry live ones."""
        if self.previous_valid_until is not None and self.previous_valid_until > now:
            return self
        return Secrets(self.digest)


@dataclass(frozen=True)
class Revocation:
    """Who revoked a key, when and why: what the row, the event and an audit entry record."""

    at: datetime
    by: UUID | None
    """The admin; None when the system revoked it (a secret-scanning report)."""
    reason: RevocationReason = RevocationReason.REVOKED
    report_url: str | None = None
    """Where a secret scanner found the key's secret (``LEAKED`` only)."""


@dataclass(frozen=True)
class NewSecret:
    """A rotation as stored: the new secret's digest and hint, and how long the old one lasts."""

    digest: str
    hint: str
    at: datetime
    by: UUID | None
    previous_valid_until: datetime | None
    """None: the replaced secret is forgotten at once (no grace period)."""

    def __repr__(self) -> str:
        return f"NewSecret(hint={self.hint!r}, previous_valid_until={self.previous_valid_until})"


@dataclass(frozen=True)
class NewKey:
    """A key just created: the only time its secret exists outside the caller's hands."""

    key: ApiKey
    secret: str
