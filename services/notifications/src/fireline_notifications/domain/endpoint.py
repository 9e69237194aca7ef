"""Webhook endpoints: where an org wants its incident events, in which format, and their secrets."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlsplit
from uuid import UUID

Format = Literal["standard", "slack"]
DisabledReason = Literal["gone", "failing", "admin"]

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the prefix, not a secret
SECRET_BYTES: Final = 24
ROTATION_OVERLAP: Final = timedelta(hours=24)
"""How long a replaced secret keeps signing beside its successor."""
MAX_DESCRIPTION: Final = 500
MAX_EVENT_TYPES: Final = 50


@dataclass(frozen=True)
class SigningSecret:
    id: UUID
    secret: str
    """``whsec_`` and the base64 of the key, as Standard Webhooks libraries take it."""
    created_at: datetime
    expires_at: datetime | None = None

    def signs_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class Endpoint:
    id: UUID
    org_id: UUID
    url: str
    description: str
    event_types: tuple[str, ...]
    """The event types it wants; empty means every one."""
    format: Format
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: DisabledReason | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    """First failed delivery of the current unbroken run of failures; None after a success."""

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)

    def disabled(self, reason: DisabledReason, at: datetime) -> Endpoint:
        return replace(self, enabled=False, disabled_reason=reason, disabled_at=at, updated_at=at)

    def enabled_again(self, at: datetime) -> Endpoint:
        # A fresh start: the days it failed before being disabled no longer count.
        return replace(
            self,
            enabled=True,
            disabled_reason=None,
            disabled_at=None,
            failing_since=None,
            updated_at=at,
        )


def new_secret() -> str:
    """A fresh signing secret: 24 random bytes (192 bits; the specification asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
